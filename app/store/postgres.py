"""PostgreSQL store (asyncpg, its own pool): the Store protocol for several replicas on one database.

Every operation is one transaction on a pooled connection, with the outcome the SQLite store
gives under concurrency, enforced by the database instead of a single writer:

- dedup: one conditional upsert per thread (`INSERT … ON CONFLICT … DO UPDATE … WHERE … RETURNING`):
  of replicas ingesting the same alert state at once, exactly one gets a row back and enqueues;
- lanes: `claim` takes a transaction-scoped advisory lock on the lane, then reads and writes its
  lease row exactly as SQLite does; jobs come in id order;
- enrichment claims, remediation slots, replay keys: conditional upserts / unique constraints;
  remediation records are locked (`FOR UPDATE`) before they move;
- a deadlock or serialisation failure is retried (the transaction did nothing); connection loss or
  an unreachable server is `StoreUnavailable` (the webhook answers 503, Alertmanager retries).
- accepted work (ingest, enqueue, remediation transitions, chat actions) commits synchronously;
  the bookkeeping of deliveries (claims, leases, outcomes) with `synchronous_commit = off`, as
  SQLite commits it with synchronous=NORMAL: a lost record repeats a delivery, never loses one.

Start-up: `start()` with `keep_trying` (what `serve` uses) does not fail while the server is
unreachable: it keeps connecting in the background (backoff on the clock, one log line per change
of reason) and every operation raises `StoreUnavailable` saying why until then. A refusal that
retrying cannot cure (bad password, unknown role or database, a schema from a newer alertmedic)
raises `StoreRefused` instead: a configuration problem, one line and exit 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import asyncpg

from app.core.console.session import ConsoleSession
from app.core.dedup import kind_after
from app.core.incidents import IncidentFilter, IncidentNote, IncidentSummary, TimelineEvent
from app.core.plan import Planned
from app.core.ratelimit import Limit
from app.core.remediation.guards import Slot
from app.store import console, storms
from app.store import pg_heartbeats as heartbeat_sql
from app.store import pg_incidents as inc
from app.store import pg_remediations as rem
from app.store import ratelimits as shared
from app.store.base import (
    ChatAudit,
    ChatGroup,
    DeadLetter,
    EnrichmentClaim,
    IngestResult,
    Job,
    LaneDeaths,
    NewJob,
    StoreUnavailable,
    group_ref,
)
from app.store.heartbeats import HeartbeatChange, HeartbeatState, JobsFor
from app.store.incidents import IncidentFacts, ResolvedIncident
from app.store.pg_migrations import migrate
from app.store.remediations import Change, NewRemediation, Remediation, Transition
from app.store.rows import CHAT_GROUP_COLUMNS, JOB_COLUMNS, chat_group_from_row, job_from_row, prepare

log = logging.getLogger("alertmedic.store")

T = TypeVar("T")
Conn = Any
"""An asyncpg connection (asyncpg ships no type hints)."""

LANE_LOCKS = 1
CHAT_LOCKS = 2
"""First keys of the two-key advisory locks (a lane; a chat group), apart from the migration's."""
RETRIES = 3
"""Tries of a transaction that lost a deadlock or a serialisation race."""
BACKOFF_MIN = 0.5
BACKOFF_MAX = 15.0
"""Seconds between connection attempts while the server is unreachable at start-up."""


class StoreRefused(StoreUnavailable):
    """The server answered and refused us (credentials, database, schema): retrying cannot help."""


_REFUSALS: tuple[type[BaseException], ...] = (
    asyncpg.InvalidPasswordError,
    asyncpg.InvalidAuthorizationSpecificationError,
    asyncpg.InvalidCatalogNameError,
)


class PostgresStore:
    """`Store` (with remediation and chat state) on a PostgreSQL database.

    `url` is the DSN as configured (its password, if any, is never logged: `shown` is the URL
    with the password masked, used in every message); `password` comes from `password_file`;
    `ssl` is the `sslmode` to ask asyncpg for; `timeout` bounds a connection attempt and a
    statement; `sleep` is the clock's sleep (the start-up backoff).
    """

    def __init__(
        self,
        url: str,
        *,
        shown: str,
        password: str | None = None,
        ssl: str | None = None,
        pool_size: int = 10,
        timeout: float = 10.0,
        keep_trying: bool = False,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.url = url
        self.shown = shown
        self._password = password
        self._ssl = ssl
        self.pool_size = pool_size
        self.timeout = timeout
        self.keep_trying = keep_trying
        self._sleep = sleep
        self._pool: Any = None
        self._problem = f"not connected to {shown} yet"
        self._connector: asyncio.Task[None] | None = None
        self._closed = False

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            await self._connect()
        except StoreRefused:
            raise
        except StoreUnavailable as exc:
            if not self.keep_trying:
                raise
            self._problem = str(exc)
            log.error(
                "store unreachable; webhooks get 503 until it answers, retrying",
                extra={"store": self.shown, "error": str(exc)},
            )
            self._connector = asyncio.create_task(self._keep_connecting(), name="store connect")

    async def _connect(self) -> None:
        try:
            pool = await asyncpg.create_pool(
                self.url,
                password=self._password,
                ssl=self._ssl,
                min_size=1,
                max_size=self.pool_size,
                timeout=self.timeout,
                command_timeout=self.timeout,
            )
        except _REFUSALS as exc:
            raise StoreRefused(f"{self.shown}: {exc}") from None
        except Exception as exc:
            raise self._unavailable(exc) from None
        try:
            async with pool.acquire() as conn:
                await migrate(conn)
        except RuntimeError as exc:  # a schema from a newer alertmedic
            await pool.close()
            raise StoreRefused(f"{self.shown}: {exc}") from None
        except Exception as exc:
            pool.terminate()
            raise self._unavailable(exc) from None
        self._pool = pool

    async def _keep_connecting(self) -> None:
        delay = BACKOFF_MIN
        while not self._closed:
            await self._sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)
            try:
                await self._connect()
            except StoreRefused as exc:
                self._problem = str(exc)
                log.error("store refuses this configuration; fix it and restart", extra={"error": str(exc)})
                return
            except StoreUnavailable as exc:
                if str(exc) != self._problem:
                    log.error("store still unreachable", extra={"store": self.shown, "error": str(exc)})
                self._problem = str(exc)
                continue
            log.warning("store connected", extra={"store": self.shown})
            return

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._connector is not None:
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connector
        if self._pool is not None:
            try:
                await asyncio.wait_for(self._pool.close(), self.timeout)
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                self._pool.terminate()

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        reason = str(exc) or type(exc).__name__
        return StoreUnavailable(f"{self.shown}: {reason}")

    async def _run(self, fn: Callable[[Conn], Awaitable[T]], *, durable: bool = True) -> T:
        """`fn` in one transaction on a pooled connection; failures of the database or the
        network as StoreUnavailable; a lost deadlock or serialisation race tried again.

        Not `durable` (bookkeeping of deliveries, as SQLite's synchronous=NORMAL): the commit
        does not wait for the server's WAL flush. It survives any replica's death; only a crash
        of the database server itself could lose it, and then a delivery is repeated, never lost."""
        if self._closed:
            raise StoreUnavailable("store is closed")
        pool = self._pool
        if pool is None:
            raise StoreUnavailable(self._problem)
        for attempt in range(1, RETRIES + 1):
            try:
                async with pool.acquire(timeout=self.timeout) as conn, conn.transaction():
                    if not durable:
                        await conn.execute("SET LOCAL synchronous_commit = off")
                    return await fn(conn)
            except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError) as exc:
                if attempt == RETRIES:
                    raise self._unavailable(exc) from None
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                raise self._unavailable(exc) from None
        raise AssertionError("unreachable")

    # --- the job queue ---------------------------------------------------------------------

    async def ingest(
        self,
        plans: Sequence[Planned],
        *,
        now: float,
        dedup_window: float,
        remediations: Sequence[NewRemediation] = (),
        resolved: Sequence[str] = (),
        incident: IncidentNote | None = None,
    ) -> IngestResult:
        prepared = prepare(plans)

        async def op(conn: Conn) -> IngestResult:
            enqueued: list[tuple[str, int]] = []
            duplicates: list[str] = []
            for dest, group_key, sig, firing, firing_json, payload in prepared:
                # The dedup decision in one statement (app.core.dedup.is_duplicate as the upsert's
                # condition, evaluated on the row locked by the conflict): no row for a duplicate.
                row = await conn.fetchrow(
                    "INSERT INTO threads (group_key, destination, signature, firing, accepted_at,"
                    " updated_at) VALUES ($1, $2, $3, $4, $5, $5)"
                    " ON CONFLICT (group_key, destination) DO UPDATE SET"
                    " prev_signature = threads.signature, prev_firing = threads.firing,"
                    " signature = excluded.signature, firing = excluded.firing,"
                    " accepted_at = excluded.accepted_at, updated_at = excluded.updated_at"
                    " WHERE NOT (threads.signature = excluded.signature"
                    " AND excluded.accepted_at - threads.accepted_at < $6)"
                    " RETURNING prev_signature, prev_firing",
                    group_key,
                    dest.id,
                    sig,
                    firing_json,
                    float(now),
                    float(dedup_window),
                )
                if row is None:
                    duplicates.append(dest.id)
                    continue
                prev_firing = frozenset(json.loads(row[1])) if row[1] else frozenset()
                kind = kind_after(row[0], prev_firing, sig=sig, firing=firing)
                jid = await conn.fetchval(
                    rem.INSERT_JOB,
                    "notify",
                    dest.id,
                    group_key,
                    kind,
                    dest.receiver,
                    dest.integration,
                    payload,
                    float(now),
                    float(now),
                )
                enqueued.append((dest.id, int(jid)))
            added = (
                await rem.record_intents(conn, remediations, resolved, now)
                if remediations or resolved
                else []
            )
            ended = None if incident is None else await inc.note_incident(conn, incident, now)
            return IngestResult(enqueued, duplicates, added, ended)

        return await self._run(op)

    async def enqueue(self, jobs: Sequence[NewJob], *, now: float) -> list[int]:
        async def op(conn: Conn) -> list[int]:
            return [await rem.insert_job(conn, j, now) for j in jobs]

        return await self._run(op)

    async def claim(
        self, lane: str, *, owner: str, now: float, lease: float, limit: int, after: int = 0
    ) -> list[Job]:
        async def op(conn: Conn) -> list[Job]:
            # One claim of a lane at a time (the lease row may not exist yet to lock).
            await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", LANE_LOCKS, lane)
            held = await conn.fetchrow("SELECT owner, lease_until FROM leases WHERE lane = $1", lane)
            if held is not None and held[0] != owner and held[1] > now:
                return []
            rows = await conn.fetch(
                f"SELECT {JOB_COLUMNS} FROM jobs j LEFT JOIN threads t"  # noqa: S608
                " ON t.group_key = j.group_key AND t.destination = j.lane"
                " WHERE j.lane = $1 AND j.state = 'pending' AND j.id > $2 ORDER BY j.id LIMIT $3",
                lane,
                after,
                limit,
            )
            if rows:
                await conn.execute(
                    "INSERT INTO leases (lane, owner, lease_until) VALUES ($1, $2, $3) ON CONFLICT (lane)"
                    " DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until",
                    lane,
                    owner,
                    float(now + lease),
                )
            elif after == 0 and held is not None:
                await conn.execute("DELETE FROM leases WHERE lane = $1", lane)  # nothing pending: free
            return [job_from_row(r) for r in rows]

        return await self._run(op, durable=False)

    async def renew(self, owner: str, *, until: float) -> int:
        async def op(conn: Conn) -> int:
            return _count(
                await conn.execute("UPDATE leases SET lease_until = $1 WHERE owner = $2", until, owner)
            )

        return await self._run(op, durable=False)

    async def release(self, owner: str) -> int:
        async def op(conn: Conn) -> int:
            return _count(await conn.execute("DELETE FROM leases WHERE owner = $1", owner))

        return await self._run(op, durable=False)

    async def complete(self, job: Job, *, ref: dict[str, Any] | None, now: float) -> None:
        ref_json = None if ref is None else json.dumps(ref, separators=(",", ":"))

        async def op(conn: Conn) -> None:
            await conn.execute(
                "UPDATE jobs SET state = 'done', finished_at = $1, last_error = NULL"
                " WHERE id = $2 AND state = 'pending'",
                now,
                job.id,
            )
            if ref_json is not None:
                await conn.execute(
                    "UPDATE threads SET message_ref = $1, updated_at = $2"
                    " WHERE group_key = $3 AND destination = $4",
                    ref_json,
                    now,
                    job.group_key,
                    job.lane,
                )

        await self._run(op, durable=False)

    async def pending_jobs(self, lane: str, *, type: str, after: int = 0, limit: int = 1000) -> list[Job]:
        return await self._run(
            lambda conn: storms.pg_pending_jobs(conn, lane, type=type, after=after, limit=limit)
        )

    async def complete_many(self, jobs: Sequence[Job], *, ref: dict[str, Any] | None, now: float) -> int:
        # bookkeeping of deliveries, as `complete`
        return await self._run(
            lambda conn: storms.pg_complete_many(conn, jobs, ref=ref, now=now), durable=False
        )

    async def claim_enrichment(
        self, group_key: str, state: str, *, owner: str, now: float, lease: float
    ) -> EnrichmentClaim:
        async def op(conn: Conn) -> EnrichmentClaim:
            # Claim unless stored, or leased to another owner: one statement, so one claimant wins.
            got = await conn.fetchval(
                "INSERT INTO enrichments (group_key, state, owner, lease_until, created_at)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (group_key, state) DO UPDATE SET"
                " owner = excluded.owner, lease_until = excluded.lease_until"
                " WHERE enrichments.result IS NULL"
                " AND (enrichments.owner = excluded.owner OR enrichments.lease_until <= $5)"
                " RETURNING 1",
                group_key,
                state,
                owner,
                float(now + lease),
                float(now),
            )
            if got is not None:
                return EnrichmentClaim("claimed", until=now + lease)
            row = await conn.fetchrow(
                "SELECT lease_until, result FROM enrichments WHERE group_key = $1 AND state = $2",
                group_key,
                state,
            )
            if row[1] is not None:
                return EnrichmentClaim("done", result=row[1])
            return EnrichmentClaim("busy", until=row[0])

        return await self._run(op, durable=False)

    async def save_enrichment(self, group_key: str, state: str, *, result: str, now: float) -> None:
        async def op(conn: Conn) -> None:
            await conn.execute(
                "INSERT INTO enrichments (group_key, state, owner, lease_until, result, created_at)"
                " VALUES ($1, $2, '', $3, $4, $3) ON CONFLICT (group_key, state) DO UPDATE SET"
                " result = excluded.result, created_at = excluded.created_at,"
                " lease_until = excluded.lease_until",
                group_key,
                state,
                float(now),
                result,
            )

        await self._run(op)

    async def latest_enrichment(self, group_key: str) -> str | None:
        async def op(conn: Conn) -> str | None:
            value = await conn.fetchval(
                "SELECT result FROM enrichments WHERE group_key = $1 AND result IS NOT NULL"
                " ORDER BY created_at DESC LIMIT 1",
                group_key,
            )
            return None if value is None else str(value)

        return await self._run(op)

    async def retry(self, job_id: int, *, attempts: int, not_before: float, error: str) -> None:
        async def op(conn: Conn) -> None:
            await conn.execute(
                "UPDATE jobs SET attempts = $1, not_before = $2, last_error = $3 WHERE id = $4",
                attempts,
                float(not_before),
                error[:2000],
                job_id,
            )

        await self._run(op, durable=False)

    async def dead(self, job_id: int, *, reason: str, now: float) -> None:
        async def op(conn: Conn) -> None:
            await conn.execute(
                "UPDATE jobs SET state = 'dead', finished_at = $1, last_error = $2"
                " WHERE id = $3 AND state = 'pending'",
                float(now),
                reason[:2000],
                job_id,
            )

        await self._run(op, durable=False)

    async def dead_lanes(self, *, type: str, keep: set[str], reason: str, now: float) -> list[LaneDeaths]:
        async def op(conn: Conn) -> list[LaneDeaths]:
            rows = await conn.fetch(
                "SELECT lane, receiver, integration, count(*) FROM jobs WHERE type = $1 AND state = 'pending'"
                " GROUP BY lane, receiver, integration ORDER BY lane, receiver, integration",
                type,
            )
            out = [LaneDeaths(r[0], r[1], r[2], int(r[3])) for r in rows if r[0] not in keep]
            lanes = sorted({d.lane for d in out})
            if lanes:
                await conn.execute(
                    "UPDATE jobs SET state = 'dead', finished_at = $1, last_error = $2"
                    " WHERE type = $3 AND lane = ANY($4::text[]) AND state = 'pending'",
                    float(now),
                    reason[:2000],
                    type,
                    lanes,
                )
            return out

        return await self._run(op, durable=False)

    async def dead_letters(self, *, limit: int = 100) -> list[DeadLetter]:
        async def op(conn: Conn) -> list[DeadLetter]:
            rows = await conn.fetch(
                "SELECT id, type, lane, group_key, receiver, integration, accepted_at, finished_at, attempts,"
                " last_error FROM jobs WHERE state = 'dead' ORDER BY id DESC LIMIT $1",
                limit,
            )
            return [DeadLetter(*r) for r in rows]

        return await self._run(op)

    async def requeue(self, job_ids: Sequence[int] | None, *, now: float) -> list[int]:
        ids = None if job_ids is None else sorted(set(job_ids))

        async def op(conn: Conn) -> list[int]:
            # A requeued job starts afresh: its retry horizon counts from now.
            rows = await conn.fetch(
                "UPDATE jobs SET state = 'pending', attempts = 0, not_before = $1, accepted_at = $1,"
                " finished_at = NULL WHERE state = 'dead'"
                " AND ($2::bigint[] IS NULL OR id = ANY($2::bigint[]))"
                " RETURNING id",
                float(now),
                ids,
            )
            return sorted(int(r[0]) for r in rows)

        return await self._run(op, durable=False)

    async def pending_count(self) -> int:
        async def op(conn: Conn) -> int:
            return int(await conn.fetchval("SELECT count(*) FROM jobs WHERE state = 'pending'"))

        return await self._run(op)

    async def pending_lanes(self) -> set[str]:
        async def op(conn: Conn) -> set[str]:
            return {r[0] for r in await conn.fetch("SELECT DISTINCT lane FROM jobs WHERE state = 'pending'")}

        return await self._run(op)

    async def ping(self) -> None:
        async def op(conn: Conn) -> None:  # a write: a read-only standby is not ready
            await conn.execute("UPDATE meta SET value = value WHERE key = 'schema_version'")

        await self._run(op)

    async def purge(self, *, older_than: float) -> int:
        async def op(conn: Conn) -> int:
            t = float(older_than)
            n = _count(
                await conn.execute("DELETE FROM jobs WHERE state != 'pending' AND finished_at < $1", t)
            )
            n += _count(
                await conn.execute(
                    "DELETE FROM threads WHERE updated_at < $1 AND NOT EXISTS (SELECT 1 FROM jobs j"
                    " WHERE j.group_key = threads.group_key AND j.lane = threads.destination"
                    " AND j.state = 'pending')",
                    t,
                )
            )
            n += _count(
                await conn.execute("DELETE FROM enrichments WHERE created_at < $1 AND lease_until < $1", t)
            )
            # as SQLite: free slots, and once-until-resolved slots taken before the horizon
            n += _count(
                await conn.execute(
                    "DELETE FROM remediation_slots"
                    " WHERE expires_at < $1 OR (expires_at >= 1e300 AND taken_at < $1)",
                    t,
                )
            )
            n += _count(
                await conn.execute(
                    "DELETE FROM chat_groups WHERE updated_at < $1 AND NOT EXISTS (SELECT 1 FROM threads t"
                    " WHERE t.group_key = chat_groups.group_key)",
                    t,
                )
            )
            n += await console.pg_purge(conn, t)
            n += await inc.purge(conn, t)
            return n

        return await self._run(op, durable=False)

    # --- several replicas (app.store.ratelimits) -------------------------------------------

    async def reserve_rate(self, limits: Sequence[Limit], *, now: float) -> float:
        return await self._run(lambda conn: shared.pg_reserve(conn, limits, now), durable=False)

    async def penalise_rate(self, limit: Limit, *, until: float) -> None:
        await self._run(lambda conn: shared.pg_penalise(conn, limit, until), durable=False)

    async def hold_lease(self, name: str, *, owner: str, now: float, lease: float) -> bool:
        return await self._run(lambda conn: shared.pg_hold(conn, name, owner, now, lease), durable=False)

    async def drop_lease(self, name: str, *, owner: str) -> bool:
        return await self._run(lambda conn: shared.pg_let_go(conn, name, owner), durable=False)

    # --- remediation (app.store.pg_remediations) -------------------------------------------

    async def remediation(self, rid: int) -> Remediation | None:
        return await self._run(lambda conn: rem.read_remediation(conn, rid))

    async def remediations(self, *, limit: int = 100, open_only: bool = False) -> list[Remediation]:
        return await self._run(lambda conn: rem.read_remediations(conn, limit=limit, open_only=open_only))

    async def slots(self, keys: Sequence[str]) -> dict[str, Slot]:
        return await self._run(lambda conn: rem.read_slots(conn, keys))

    async def transition(self, rid: int, *, job_id: int | None, change: Change, now: float) -> Transition:
        return await self._run(lambda conn: rem.apply_transition(conn, rid, job_id, change, now))

    async def decide_approval(
        self, rid: int, *, approve: bool, actor: str, now: float, job: NewJob
    ) -> Remediation | str:
        async def op(conn: Conn) -> Remediation | str:
            result = await rem.decide_approval(conn, rid, approve, actor, now, job)
            if not isinstance(result, str):
                await inc.approval_event(conn, result, now)
            return result

        return await self._run(op)

    # --- responding from chat ----------------------------------------------------------------

    async def chat_note(
        self, group_key: str, payload: str, *, firing: frozenset[str], resolved: bool, at: float, now: float
    ) -> ChatGroup:
        ref = group_ref(group_key)
        firing_json = json.dumps(sorted(firing))

        async def op(conn: Conn) -> ChatGroup:
            await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", CHAT_LOCKS, ref)
            prev = await conn.fetchrow("SELECT resolved, payload_at FROM chat_groups WHERE ref = $1", ref)
            started = False
            if prev is None:
                await conn.execute(
                    "INSERT INTO chat_groups (ref, group_key, payload, payload_at, firing, resolved,"
                    " first_notified_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
                    ref,
                    group_key,
                    payload,
                    float(at),
                    firing_json,
                    int(resolved),
                    float(now),
                )
                started = not resolved
            elif at >= prev[1]:
                started = bool(prev[0]) and not resolved
                await conn.execute(
                    "UPDATE chat_groups SET payload = $1, payload_at = $2, firing = $3, resolved = $4,"
                    " updated_at = $5 WHERE ref = $6",
                    payload,
                    float(at),
                    firing_json,
                    int(resolved),
                    float(now),
                    ref,
                )
                if started:  # firing again after it resolved: a new episode
                    await conn.execute(
                        "UPDATE chat_groups SET first_notified_at = $1, escalations = '[]', ack_by = NULL,"
                        " ack_at = NULL, ack_firing = NULL, ack_cleared_by = NULL WHERE ref = $2",
                        float(now),
                        ref,
                    )
            row = await conn.fetchrow("SELECT ack_by, ack_firing FROM chat_groups WHERE ref = $1", ref)
            if row[0] is not None and not firing <= frozenset(json.loads(row[1] or "[]")):
                await conn.execute(
                    "UPDATE chat_groups SET ack_cleared_by = ack_by, ack_by = NULL, ack_at = NULL,"
                    " ack_firing = NULL WHERE ref = $1",
                    ref,
                )
            found = await _read_chat_group(conn, ref)
            assert found is not None
            return dataclasses.replace(found, started=started)

        return await self._run(op, durable=False)

    async def chat_group(self, ref: str) -> ChatGroup | None:
        return await self._run(lambda conn: _read_chat_group(conn, ref))

    async def chat_ack(self, ref: str, *, by: str | None, now: float) -> ChatGroup | None:
        async def op(conn: Conn) -> ChatGroup | None:
            await conn.execute(
                "UPDATE chat_groups SET ack_by = $1::text, ack_at = $2,"
                " ack_firing = CASE WHEN $1::text IS NULL THEN NULL ELSE firing END,"
                " ack_cleared_by = NULL, updated_at = $3 WHERE ref = $4",
                by,
                None if by is None else float(now),
                float(now),
                ref,
            )
            return await _read_chat_group(conn, ref)

        return await self._run(op)

    async def chat_silence(
        self, ref: str, *, silence_id: str | None, by: str | None, until: float | None, now: float
    ) -> ChatGroup | None:
        async def op(conn: Conn) -> ChatGroup | None:
            await conn.execute(
                "UPDATE chat_groups SET silence_id = $1, silence_by = $2, silence_until = $3, updated_at = $4"
                " WHERE ref = $5",
                silence_id,
                by,
                None if until is None else float(until),
                float(now),
                ref,
            )
            return await _read_chat_group(conn, ref)

        return await self._run(op)

    async def chat_escalated(self, ref: str, *, receiver: str, at: float) -> ChatGroup | None:
        async def op(conn: Conn) -> ChatGroup | None:
            await conn.execute(
                "UPDATE chat_groups SET escalations = (escalations::jsonb"
                " || jsonb_build_array(jsonb_build_array($1::text, $2::float8)))::text,"
                " updated_at = $2 WHERE ref = $3",
                receiver,
                float(at),
                ref,
            )
            return await _read_chat_group(conn, ref)

        return await self._run(op)

    async def chat_ref_of_message(self, chat_id: int, message_id: int) -> str | None:
        async def op(conn: Conn) -> str | None:
            key = await conn.fetchval(
                "SELECT group_key FROM threads WHERE message_ref IS NOT NULL"
                " AND message_ref::jsonb -> 'chat_id' = to_jsonb($1::bigint)"
                " AND message_ref::jsonb -> 'message_id' = to_jsonb($2::bigint)"
                # a storm digest's message stands for many groups: a reply to it names none
                " AND NOT message_ref::jsonb ? 'digest' LIMIT 1",
                chat_id,
                message_id,
            )
            return None if key is None else group_ref(key)

        return await self._run(op)

    async def chat_open_groups(self, chat_id: int) -> list[ChatGroup]:
        async def op(conn: Conn) -> list[ChatGroup]:
            rows = await conn.fetch(
                "SELECT g.ref FROM chat_groups g WHERE g.resolved = 0 AND EXISTS (SELECT 1 FROM threads t"
                " WHERE t.group_key = g.group_key AND t.message_ref IS NOT NULL"
                " AND t.message_ref::jsonb -> 'chat_id' = to_jsonb($1::bigint))"
                " ORDER BY g.first_notified_at, g.ref LIMIT 50",
                chat_id,
            )
            return [g for (ref,) in rows if (g := await _read_chat_group(conn, ref)) is not None]

        return await self._run(op)

    async def chat_destinations(self, group_key: str) -> list[str]:
        async def op(conn: Conn) -> list[str]:
            rows = await conn.fetch(
                'SELECT destination FROM threads WHERE group_key = $1 ORDER BY destination COLLATE "C"',
                group_key,
            )
            return [r[0] for r in rows]

        return await self._run(op)

    async def chat_replay(self, key: str, *, expires_at: float, now: float) -> bool:
        async def op(conn: Conn) -> bool:
            await conn.execute("DELETE FROM chat_replays WHERE expires_at < $1", float(now))
            status = await conn.execute(
                "INSERT INTO chat_replays (key, expires_at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                key,
                float(expires_at),
            )
            return _count(status) == 1

        return await self._run(op)

    async def chat_remediations(self, group_key: str) -> list[Remediation]:
        return await self._run(lambda conn: rem.read_group_remediations(conn, group_key))

    async def chat_audit(self, entry: ChatAudit) -> None:
        async def op(conn: Conn) -> None:
            await conn.execute(
                "INSERT INTO chat_audit (at, source, user_key, user_name, action, group_key, outcome,"
                " detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                float(entry.at),
                entry.source,
                entry.user_key,
                entry.user_name,
                entry.action,
                entry.group_key,
                entry.outcome,
                entry.detail[:2000],
            )

        await self._run(op, durable=False)

    async def chat_audits(self, *, limit: int = 100) -> list[ChatAudit]:
        async def op(conn: Conn) -> list[ChatAudit]:
            rows = await conn.fetch(
                "SELECT at, source, user_key, user_name, action, group_key, outcome, detail"
                " FROM chat_audit ORDER BY id DESC LIMIT $1",
                limit,
            )
            return [ChatAudit(*r) for r in rows]

        return await self._run(op)

    # --- the dead-man's switch (app.store.heartbeats, app.store.pg_heartbeats) ----------------

    async def heartbeat_arm(self, name: str, *, timeout: float, now: float) -> HeartbeatChange:
        return await self._run(lambda conn: heartbeat_sql.arm(conn, name, timeout, now))

    async def heartbeat_seen(
        self, names: Sequence[str], *, now: float, recovery: JobsFor
    ) -> list[HeartbeatChange]:
        # not durable, as SQLite's: a server crash can only take back the whole change
        return await self._run(lambda conn: heartbeat_sql.seen(conn, names, now, recovery), durable=False)

    async def heartbeat_due(self, name: str, *, job_id: int, now: float, alarm: JobsFor) -> HeartbeatChange:
        return await self._run(lambda conn: heartbeat_sql.due(conn, name, job_id, now, alarm))

    async def heartbeats(self) -> list[HeartbeatState]:
        return await self._run(heartbeat_sql.read_heartbeats)

    # --- incidents (app.store.pg_incidents) ----------------------------------------------------

    async def incidents(self, flt: IncidentFilter, *, limit: int = 200) -> list[IncidentSummary]:
        return await self._run(lambda conn: inc.list_incidents(conn, flt, limit))

    async def incident_facts(self, ref: str) -> IncidentFacts | None:
        return await self._run(lambda conn: inc.read_facts(conn, ref))

    async def incident_refs(self, prefix: str, *, limit: int = 2) -> list[str]:
        return await self._run(lambda conn: inc.refs_with_prefix(conn, prefix, limit))

    async def incident_event(self, group_key: str, event: TimelineEvent) -> None:
        await self._run(lambda conn: inc.append_event(conn, group_key, event))

    async def incident_acked(self, group_key: str, *, now: float) -> ResolvedIncident | None:
        return await self._run(lambda conn: inc.acked(conn, group_key, now))

    # --- the web console (app.store.console) ------------------------------------------------------

    async def console_login(self, token_hash: str, *, user: str, now: float, expires_at: float) -> None:
        await self._run(lambda conn: console.pg_login(conn, token_hash, user, now, expires_at))

    async def console_session(self, token_hash: str, *, now: float) -> ConsoleSession | None:
        return await self._run(lambda conn: console.pg_session(conn, token_hash, now), durable=False)

    async def console_logout(self, token_hash: str) -> bool:
        return await self._run(lambda conn: console.pg_logout(conn, token_hash))

    async def console_failures(self, keys: Sequence[str], *, since: float) -> dict[str, int]:
        return await self._run(lambda conn: console.pg_failures(conn, keys, since), durable=False)

    async def console_failed(self, keys: Sequence[str], *, now: float) -> None:
        await self._run(lambda conn: console.pg_failed(conn, keys, now), durable=False)


async def read_all_slots(store: PostgresStore) -> dict[str, Slot]:
    """Every guard slot held (for `actions test`, which explains without changing anything)."""

    async def op(conn: Conn) -> dict[str, Slot]:
        rows = await conn.fetch("SELECT key, holder, taken_at, expires_at FROM remediation_slots")
        return {r[0]: Slot(r[0], r[1], r[2], r[3]) for r in rows}

    return await store._run(op)


def _count(status: str) -> int:
    """The row count of an asyncpg command status (`UPDATE 3`, `INSERT 0 1`, `DELETE 0`)."""
    return int(status.rsplit(" ", 1)[-1])


async def _read_chat_group(conn: Conn, ref: str) -> ChatGroup | None:
    r = await conn.fetchrow(f"SELECT {CHAT_GROUP_COLUMNS} FROM chat_groups WHERE ref = $1", ref)  # noqa: S608
    return None if r is None else chat_group_from_row(r)
