"""SQLite store (WAL) with one writer thread that group-commits: many webhooks, one fsync.

Every operation runs on the writer thread, in the order submitted. The thread takes all that is
queued, runs each in its own savepoint inside one transaction and commits once, so concurrent
webhooks share the cost of the fsync. Transactions that carry accepted notifications commit with
`synchronous=FULL` (they survive power loss); bookkeeping of deliveries commits with NORMAL
(it survives a killed process, which is what `kill -9` needs; a power loss could at worst cause a
delivery to be repeated, never lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from app.core.console.session import ConsoleSession
from app.core.dedup import kind_after
from app.core.incidents import IncidentFilter, IncidentNote, IncidentSummary, TimelineEvent
from app.core.plan import Planned
from app.core.ratelimit import Limit
from app.core.remediation.guards import Slot
from app.store import console, storms
from app.store import heartbeats as heartbeat_sql
from app.store import incidents as incident_sql
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
from app.store.migrations import migrate
from app.store.remediations import (
    REMEDIATION_COLUMNS,
    Change,
    NewRemediation,
    Remediation,
    Transition,
    apply_transition,
    decide_approval,
    read_remediations,
    read_slots,
    record_intents,
    row_to_remediation,
)
from app.store.rows import CHAT_GROUP_COLUMNS, JOB_COLUMNS, chat_group_from_row, job_from_row, prepare

log = logging.getLogger("alertmedic.store")

T = TypeVar("T")
Op = Callable[[sqlite3.Connection], Any]

_MAX_BATCH = 512
CHECKPOINT_EVERY = 1.0
"""Seconds between background WAL checkpoints."""
RESERVE_BYTES = 1 << 20
"""Free space that must be back after a full disk before the store reports ready again."""


class _Job:
    __slots__ = ("durable", "fn", "future", "loop")

    def __init__(self, fn: Op, durable: bool, loop: asyncio.AbstractEventLoop) -> None:
        self.fn = fn
        self.durable = durable
        self.loop = loop
        self.future: asyncio.Future[Any] = loop.create_future()


def _settle(results: list[tuple[_Job, bool, Any]]) -> None:
    for job, ok, value in results:
        if job.future.done():
            continue
        if ok:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)


class SQLiteStore:
    """`Store` on one SQLite file. `busy_timeout` bounds how long a write waits for a lock."""

    def __init__(self, path: str | Path, *, busy_timeout: float = 5.0) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        self._checkpointer: threading.Thread | None = None
        self._stop_checkpoints = threading.Event()
        self._write_error: str | None = None
        """Why the last write failed for want of space, until a write succeeds again."""

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        loop = asyncio.get_running_loop()

        def run() -> None:
            try:
                self._conn = self._open()
            except Exception as exc:  # reported to start()'s caller
                err = StoreUnavailable(f"cannot open {self.path}: {exc}")
                loop.call_soon_threadsafe(ready.set_exception, err)
                return
            loop.call_soon_threadsafe(ready.set_result, None)
            self._serve()

        self._thread = threading.Thread(target=run, name="alertmedic-sqlite", daemon=True)
        self._thread.start()
        await ready
        self._checkpointer = threading.Thread(
            target=self._checkpoint_forever, name="alertmedic-sqlite-checkpoint", daemon=True
        )
        self._checkpointer.start()

    def _checkpoint_forever(self) -> None:
        """Copy the WAL back into the database off the writer thread.

        The writer never checkpoints (`wal_autocheckpoint=0`): a checkpoint's fsync of the
        database file would stall every webhook waiting for a commit. PASSIVE checkpoints here
        never block the writer; the WAL is truncated when the store closes.
        """
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            return
        with contextlib.closing(conn):
            while not self._stop_checkpoints.wait(CHECKPOINT_EVERY):
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=self.busy_timeout
        )
        conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
        # Several processes opening one new file at once: switching it to WAL (and the first
        # migration) can answer "locked" at once, without the busy handler; retry within
        # busy_timeout as the busy handler would.
        deadline = time.monotonic() + self.busy_timeout
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA wal_autocheckpoint=0")
                conn.execute("PRAGMA synchronous=FULL")
                conn.execute("PRAGMA foreign_keys=ON")
                migrate(conn)
                return conn
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    conn.close()
                    raise
                time.sleep(0.05)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop_checkpoints.set()
        if self._checkpointer is not None:
            await asyncio.to_thread(self._checkpointer.join, 10)
        self._queue.put(None)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 10)

    # --- the writer thread --------------------------------------------------------------

    def _serve(self) -> None:
        conn = self._conn
        assert conn is not None
        while True:
            first = self._queue.get()
            if first is None:
                break
            jobs = [first]
            stop = False
            while len(jobs) < _MAX_BATCH:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                jobs.append(nxt)
            self._run_batch(conn, jobs)
            if stop:
                break
        with contextlib.suppress(sqlite3.Error):
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        # Anything queued after close: fail it rather than leave a caller waiting forever.
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job.loop.call_soon_threadsafe(_settle, [(job, False, StoreUnavailable("store is closed"))])

    def _run_batch(self, conn: sqlite3.Connection, jobs: list[_Job]) -> None:
        results: list[tuple[_Job, bool, Any]] = []
        failed_on_disk: BaseException | None = None
        changes = conn.total_changes
        if self._write_error is not None:
            # After a failed write, fold the WAL back before each try: once a little space is
            # back, the WAL's own space is freed rather than taken again by the next writes.
            _truncate_wal(conn)
        try:
            durable = any(j.durable for j in jobs)
            conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            conn.execute("BEGIN IMMEDIATE")
            for job in jobs:
                conn.execute("SAVEPOINT op")
                try:
                    value = job.fn(conn)
                except Exception as exc:
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                    results.append((job, False, _translate(exc)))
                    if is_disk_error(exc):
                        failed_on_disk = exc
                else:
                    conn.execute("RELEASE op")
                    results.append((job, True, value))
            conn.execute("COMMIT")
        except Exception as exc:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            err = _translate(exc)
            results = [(j, False, err) for j in jobs]
            if is_disk_error(exc):
                self._disk_trouble(conn, exc)
        else:
            if failed_on_disk is not None:
                self._disk_trouble(conn, failed_on_disk)
            elif (
                self._write_error is not None
                and conn.total_changes > changes
                and self._free_bytes() >= RESERVE_BYTES
            ):
                self._recovered()
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Job, bool, Any]]] = {}
        for item in results:
            by_loop.setdefault(item[0].loop, []).append(item)
        for loop, items in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits any more
                loop.call_soon_threadsafe(_settle, items)

    def _enqueue(self, fn: Callable[[sqlite3.Connection], T], *, durable: bool = False) -> asyncio.Future[T]:
        """Queue `fn` for the writer now (its place in the order is taken at this call)."""
        if self._closed or self._thread is None or not self._thread.is_alive():
            raise StoreUnavailable("store is closed")
        job = _Job(fn, durable, asyncio.get_running_loop())
        self._queue.put(job)
        return job.future

    async def _submit(self, fn: Callable[[sqlite3.Connection], T], *, durable: bool = False) -> T:
        result: T = await self._enqueue(fn, durable=durable)
        return result

    # --- operations ----------------------------------------------------------------------

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

        def op(conn: sqlite3.Connection) -> IngestResult:
            enqueued: list[tuple[str, int]] = []
            duplicates: list[str] = []
            for dest, group_key, sig, firing, firing_json, payload in prepared:
                # The dedup decision in one statement (app.core.dedup.is_duplicate as the upsert's
                # condition): no row comes back for a duplicate.
                row = conn.execute(
                    "INSERT INTO threads (group_key, destination, signature, firing, accepted_at,"
                    " updated_at) VALUES (?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (group_key, destination) DO UPDATE SET"
                    " prev_signature = threads.signature, prev_firing = threads.firing,"
                    " signature = excluded.signature, firing = excluded.firing,"
                    " accepted_at = excluded.accepted_at, updated_at = excluded.updated_at"
                    " WHERE NOT (threads.signature = excluded.signature"
                    " AND excluded.accepted_at - threads.accepted_at < ?)"
                    " RETURNING prev_signature, prev_firing",
                    (group_key, dest.id, sig, firing_json, now, now, dedup_window),
                ).fetchone()
                if row is None:
                    duplicates.append(dest.id)
                    continue
                prev_firing = frozenset(json.loads(row[1])) if row[1] else frozenset()
                kind = kind_after(row[0], prev_firing, sig=sig, firing=firing)
                cur = conn.execute(
                    "INSERT INTO jobs (type, lane, group_key, kind, receiver, integration, payload,"
                    " accepted_at, not_before) VALUES ('notify', ?, ?, ?, ?, ?, ?, ?, ?)",
                    (dest.id, group_key, kind, dest.receiver, dest.integration, payload, now, now),
                )
                assert cur.lastrowid is not None
                enqueued.append((dest.id, cur.lastrowid))
            added = record_intents(conn, remediations, resolved, now) if remediations or resolved else []
            ended = None if incident is None else incident_sql.note_incident(conn, incident, now)
            return IngestResult(enqueued, duplicates, added, ended)

        return await self._submit(op, durable=True)

    async def enqueue(self, jobs: Sequence[NewJob], *, now: float) -> list[int]:
        def op(conn: sqlite3.Connection) -> list[int]:
            ids = []
            for j in jobs:
                cur = conn.execute(
                    "INSERT INTO jobs (type, lane, group_key, kind, receiver, integration, payload,"
                    " accepted_at, not_before) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        j.type,
                        j.lane,
                        j.group_key,
                        j.kind,
                        j.receiver,
                        j.integration,
                        j.payload,
                        now,
                        j.not_before,
                    ),
                )
                assert cur.lastrowid is not None
                ids.append(cur.lastrowid)
            return ids

        return await self._submit(op, durable=True)

    async def claim(
        self, lane: str, *, owner: str, now: float, lease: float, limit: int, after: int = 0
    ) -> list[Job]:
        def op(conn: sqlite3.Connection) -> list[Job]:
            held = conn.execute("SELECT owner, lease_until FROM leases WHERE lane = ?", (lane,)).fetchone()
            if held is not None and held[0] != owner and held[1] > now:
                return []
            rows = conn.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs j LEFT JOIN threads t"  # noqa: S608
                " ON t.group_key = j.group_key AND t.destination = j.lane"
                " WHERE j.lane = ? AND j.state = 'pending' AND j.id > ? ORDER BY j.id LIMIT ?",
                (lane, after, limit),
            ).fetchall()
            if rows:
                conn.execute(
                    "INSERT INTO leases (lane, owner, lease_until) VALUES (?, ?, ?) ON CONFLICT (lane)"
                    " DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until",
                    (lane, owner, now + lease),
                )
            elif after == 0 and held is not None:
                conn.execute("DELETE FROM leases WHERE lane = ?", (lane,))  # nothing pending: free
            return [job_from_row(r) for r in rows]

        return await self._submit(op)

    async def renew(self, owner: str, *, until: float) -> int:
        def op(conn: sqlite3.Connection) -> int:
            return int(
                conn.execute("UPDATE leases SET lease_until = ? WHERE owner = ?", (until, owner)).rowcount
            )

        return await self._submit(op)

    async def release(self, owner: str) -> int:
        def op(conn: sqlite3.Connection) -> int:
            return int(conn.execute("DELETE FROM leases WHERE owner = ?", (owner,)).rowcount)

        return await self._submit(op)

    async def complete(self, job: Job, *, ref: dict[str, Any] | None, now: float) -> None:
        ref_json = None if ref is None else json.dumps(ref, separators=(",", ":"))

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE jobs SET state = 'done', finished_at = ?, last_error = NULL"
                " WHERE id = ? AND state = 'pending'",
                (now, job.id),
            )
            if ref_json is not None:
                conn.execute(
                    "UPDATE threads SET message_ref = ?, updated_at = ?"
                    " WHERE group_key = ? AND destination = ?",
                    (ref_json, now, job.group_key, job.lane),
                )

        await self._submit(op)

    async def pending_jobs(self, lane: str, *, type: str, after: int = 0, limit: int = 1000) -> list[Job]:
        return await self._submit(
            lambda conn: storms.sqlite_pending_jobs(conn, lane, type=type, after=after, limit=limit)
        )

    async def complete_many(self, jobs: Sequence[Job], *, ref: dict[str, Any] | None, now: float) -> int:
        return await self._submit(lambda conn: storms.sqlite_complete_many(conn, jobs, ref=ref, now=now))

    async def claim_enrichment(
        self, group_key: str, state: str, *, owner: str, now: float, lease: float
    ) -> EnrichmentClaim:
        def op(conn: sqlite3.Connection) -> EnrichmentClaim:
            row = conn.execute(
                "SELECT owner, lease_until, result FROM enrichments WHERE group_key = ? AND state = ?",
                (group_key, state),
            ).fetchone()
            if row is not None and row[2] is not None:
                return EnrichmentClaim("done", result=row[2])
            if row is not None and row[0] != owner and row[1] > now:
                return EnrichmentClaim("busy", until=row[1])
            conn.execute(
                "INSERT INTO enrichments (group_key, state, owner, lease_until, created_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (group_key, state) DO UPDATE SET"
                " owner = excluded.owner, lease_until = excluded.lease_until",
                (group_key, state, owner, now + lease, now),
            )
            return EnrichmentClaim("claimed", until=now + lease)

        return await self._submit(op)

    async def save_enrichment(self, group_key: str, state: str, *, result: str, now: float) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO enrichments (group_key, state, owner, lease_until, result, created_at)"
                " VALUES (?, ?, '', ?, ?, ?) ON CONFLICT (group_key, state) DO UPDATE SET"
                " result = excluded.result, created_at = excluded.created_at,"
                " lease_until = excluded.lease_until",
                (group_key, state, now, result, now),
            )

        await self._submit(op, durable=True)

    async def latest_enrichment(self, group_key: str) -> str | None:
        def op(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                "SELECT result FROM enrichments WHERE group_key = ? AND result IS NOT NULL"
                " ORDER BY created_at DESC LIMIT 1",
                (group_key,),
            ).fetchone()
            return None if row is None else str(row[0])

        return await self._submit(op)

    async def retry(self, job_id: int, *, attempts: int, not_before: float, error: str) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE jobs SET attempts = ?, not_before = ?, last_error = ? WHERE id = ?",
                (attempts, not_before, error[:2000], job_id),
            )

        await self._submit(op)

    async def dead(self, job_id: int, *, reason: str, now: float) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE jobs SET state = 'dead', finished_at = ?, last_error = ?"
                " WHERE id = ? AND state = 'pending'",
                (now, reason[:2000], job_id),
            )

        await self._submit(op)

    async def dead_lanes(self, *, type: str, keep: set[str], reason: str, now: float) -> list[LaneDeaths]:
        def op(conn: sqlite3.Connection) -> list[LaneDeaths]:
            rows = conn.execute(
                "SELECT lane, receiver, integration, count(*) FROM jobs"
                " WHERE type = ? AND state = 'pending' GROUP BY lane, receiver, integration ORDER BY lane",
                (type,),
            ).fetchall()
            out = [LaneDeaths(*r) for r in rows if r[0] not in keep]
            for lane in {d.lane for d in out}:
                conn.execute(
                    "UPDATE jobs SET state = 'dead', finished_at = ?, last_error = ?"
                    " WHERE type = ? AND lane = ? AND state = 'pending'",
                    (now, reason[:2000], type, lane),
                )
            return out

        return await self._submit(op)

    async def dead_letters(self, *, limit: int = 100) -> list[DeadLetter]:
        return await self._submit(lambda conn: read_dead_letters(conn, limit=limit))

    async def requeue(self, job_ids: Sequence[int] | None, *, now: float) -> list[int]:
        ids = None if job_ids is None else list(job_ids)

        def op(conn: sqlite3.Connection) -> list[int]:
            if ids is None:
                found = [r[0] for r in conn.execute("SELECT id FROM jobs WHERE state = 'dead' ORDER BY id")]
            else:
                found = [
                    i
                    for i in sorted(set(ids))
                    if conn.execute("SELECT 1 FROM jobs WHERE id = ? AND state = 'dead'", (i,)).fetchone()
                ]
            # A requeued job starts afresh: its retry horizon counts from now.
            conn.executemany(
                "UPDATE jobs SET state = 'pending', attempts = 0, not_before = ?, accepted_at = ?,"
                " finished_at = NULL WHERE id = ?",
                [(now, now, i) for i in found],
            )
            return found

        return await self._submit(op)

    async def pending_count(self) -> int:
        return await self._submit(read_pending_count)

    async def pending_lanes(self) -> set[str]:
        def op(conn: sqlite3.Connection) -> set[str]:
            return {r[0] for r in conn.execute("SELECT DISTINCT lane FROM jobs WHERE state = 'pending'")}

        return await self._submit(op)

    async def ping(self) -> None:
        def op(conn: sqlite3.Connection) -> None:
            # After a failed write, ready again only once the reserve is free (the WAL was
            # folded back before this batch) and a write goes through (the batch notes that).
            if (trouble := self._write_error) is not None and (free := self._free_bytes()) < RESERVE_BYTES:
                raise StoreUnavailable(f"{trouble} ({free} bytes free; needs {RESERVE_BYTES})")
            conn.execute("UPDATE meta SET value = value WHERE key = 'schema_version'")

        await self._submit(op)

    async def purge(self, *, older_than: float) -> int:
        def op(conn: sqlite3.Connection) -> int:
            n = conn.execute(
                "DELETE FROM jobs WHERE state != 'pending' AND finished_at < ?", (older_than,)
            ).rowcount
            n += conn.execute(
                "DELETE FROM threads WHERE updated_at < ? AND NOT EXISTS (SELECT 1 FROM jobs j"
                " WHERE j.group_key = threads.group_key AND j.lane = threads.destination"
                " AND j.state = 'pending')",
                (older_than,),
            ).rowcount
            n += conn.execute(
                "DELETE FROM enrichments WHERE created_at < ? AND lease_until < ?", (older_than, older_than)
            ).rowcount
            # guard slots free since before the horizon, and once-until-resolved slots (held
            # "forever") taken before it; remediation records are the audit trail and stay
            n += conn.execute(
                "DELETE FROM remediation_slots"
                " WHERE expires_at < ? OR (expires_at >= 1e300 AND taken_at < ?)",
                (older_than, older_than),
            ).rowcount
            n += conn.execute(
                "DELETE FROM chat_groups WHERE updated_at < ? AND NOT EXISTS (SELECT 1 FROM threads t"
                " WHERE t.group_key = chat_groups.group_key)",
                (older_than,),
            ).rowcount
            n += console.purge(conn, older_than)
            n += incident_sql.purge(conn, older_than)
            return int(n)

        return await self._submit(op)

    # --- several replicas (app.store.ratelimits) ---------------------------------------------

    async def reserve_rate(self, limits: Sequence[Limit], *, now: float) -> float:
        return await self._submit(lambda conn: shared.reserve(conn, limits, now))

    async def penalise_rate(self, limit: Limit, *, until: float) -> None:
        await self._submit(lambda conn: shared.penalise(conn, limit, until))

    async def hold_lease(self, name: str, *, owner: str, now: float, lease: float) -> bool:
        return await self._submit(lambda conn: shared.hold(conn, name, owner, now, lease))

    async def drop_lease(self, name: str, *, owner: str) -> bool:
        return await self._submit(lambda conn: shared.let_go(conn, name, owner))

    # --- remediation (app.store.remediations) ---------------------------------------------------

    async def remediation(self, rid: int) -> Remediation | None:
        def op(conn: sqlite3.Connection) -> Remediation | None:
            r = conn.execute(
                f"SELECT {REMEDIATION_COLUMNS} FROM remediations WHERE id = ?",  # noqa: S608
                (rid,),
            ).fetchone()
            return None if r is None else row_to_remediation(r)

        return await self._submit(op)

    async def remediations(self, *, limit: int = 100, open_only: bool = False) -> list[Remediation]:
        return await self._submit(lambda conn: read_remediations(conn, limit=limit, open_only=open_only))

    async def slots(self, keys: Sequence[str]) -> dict[str, Slot]:
        return await self._submit(lambda conn: read_slots(conn, keys))

    async def transition(self, rid: int, *, job_id: int | None, change: Change, now: float) -> Transition:
        return await self._submit(lambda conn: apply_transition(conn, rid, job_id, change, now), durable=True)

    async def decide_approval(
        self, rid: int, *, approve: bool, actor: str, now: float, job: NewJob
    ) -> Remediation | str:
        def op(conn: sqlite3.Connection) -> Remediation | str:
            result = decide_approval(conn, rid, approve, actor, now, job)
            if not isinstance(result, str):
                incident_sql.approval_event(conn, result, now)
            return result

        return await self._submit(op, durable=True)

    # --- responding from chat -----------------------------------------------------------------

    async def chat_note(
        self, group_key: str, payload: str, *, firing: frozenset[str], resolved: bool, at: float, now: float
    ) -> ChatGroup:
        ref = group_ref(group_key)
        firing_json = json.dumps(sorted(firing))

        def op(conn: sqlite3.Connection) -> ChatGroup:
            prev = conn.execute(
                "SELECT resolved, payload_at FROM chat_groups WHERE ref = ?", (ref,)
            ).fetchone()
            started = False
            if prev is None:
                conn.execute(
                    "INSERT INTO chat_groups (ref, group_key, payload, payload_at, firing, resolved,"
                    " first_notified_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (ref, group_key, payload, at, firing_json, int(resolved), now, now),
                )
                started = not resolved
            elif at >= prev[1]:
                started = bool(prev[0]) and not resolved
                conn.execute(
                    "UPDATE chat_groups SET payload = ?, payload_at = ?, firing = ?, resolved = ?,"
                    " updated_at = ? WHERE ref = ?",
                    (payload, at, firing_json, int(resolved), now, ref),
                )
                if started:  # firing again after it resolved: a new episode
                    conn.execute(
                        "UPDATE chat_groups SET first_notified_at = ?, escalations = '[]', ack_by = NULL,"
                        " ack_at = NULL, ack_firing = NULL, ack_cleared_by = NULL WHERE ref = ?",
                        (now, ref),
                    )
            row = conn.execute("SELECT ack_by, ack_firing FROM chat_groups WHERE ref = ?", (ref,)).fetchone()
            if row[0] is not None and not firing <= frozenset(json.loads(row[1] or "[]")):
                conn.execute(
                    "UPDATE chat_groups SET ack_cleared_by = ack_by, ack_by = NULL, ack_at = NULL,"
                    " ack_firing = NULL WHERE ref = ?",
                    (ref,),
                )
            found = _read_chat_group(conn, ref)
            assert found is not None
            return dataclasses.replace(found, started=started)

        return await self._submit(op)

    async def chat_group(self, ref: str) -> ChatGroup | None:
        return await self._submit(lambda conn: _read_chat_group(conn, ref))

    async def chat_ack(self, ref: str, *, by: str | None, now: float) -> ChatGroup | None:
        def op(conn: sqlite3.Connection) -> ChatGroup | None:
            conn.execute(
                "UPDATE chat_groups SET ack_by = ?, ack_at = ?, ack_firing = CASE WHEN ? IS NULL"
                " THEN NULL ELSE firing END, ack_cleared_by = NULL, updated_at = ? WHERE ref = ?",
                (by, None if by is None else now, by, now, ref),
            )
            return _read_chat_group(conn, ref)

        return await self._submit(op, durable=True)

    async def chat_silence(
        self, ref: str, *, silence_id: str | None, by: str | None, until: float | None, now: float
    ) -> ChatGroup | None:
        def op(conn: sqlite3.Connection) -> ChatGroup | None:
            conn.execute(
                "UPDATE chat_groups SET silence_id = ?, silence_by = ?, silence_until = ?, updated_at = ?"
                " WHERE ref = ?",
                (silence_id, by, until, now, ref),
            )
            return _read_chat_group(conn, ref)

        return await self._submit(op, durable=True)

    async def chat_escalated(self, ref: str, *, receiver: str, at: float) -> ChatGroup | None:
        def op(conn: sqlite3.Connection) -> ChatGroup | None:
            conn.execute(
                "UPDATE chat_groups SET escalations = json_insert(escalations, '$[#]', json_array(?, ?)),"
                " updated_at = ? WHERE ref = ?",
                (receiver, at, at, ref),
            )
            return _read_chat_group(conn, ref)

        return await self._submit(op, durable=True)

    async def chat_ref_of_message(self, chat_id: int, message_id: int) -> str | None:
        def op(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                "SELECT group_key FROM threads WHERE json_extract(message_ref, '$.chat_id') = ?"
                " AND json_extract(message_ref, '$.message_id') = ?"
                # a storm digest's message stands for many groups: a reply to it names none
                " AND json_extract(message_ref, '$.digest') IS NULL LIMIT 1",
                (chat_id, message_id),
            ).fetchone()
            return group_ref(row[0]) if row else None

        return await self._submit(op)

    async def chat_open_groups(self, chat_id: int) -> list[ChatGroup]:
        def op(conn: sqlite3.Connection) -> list[ChatGroup]:
            rows = conn.execute(
                "SELECT DISTINCT g.ref FROM chat_groups g JOIN threads t ON t.group_key = g.group_key"
                " WHERE NOT g.resolved AND json_extract(t.message_ref, '$.chat_id') = ?"
                " ORDER BY g.first_notified_at LIMIT 50",
                (chat_id,),
            ).fetchall()
            return [g for (ref,) in rows if (g := _read_chat_group(conn, ref)) is not None]

        return await self._submit(op)

    async def chat_destinations(self, group_key: str) -> list[str]:
        def op(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                "SELECT destination FROM threads WHERE group_key = ? ORDER BY destination", (group_key,)
            )
            return [r[0] for r in rows]

        return await self._submit(op)

    async def chat_replay(self, key: str, *, expires_at: float, now: float) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            conn.execute("DELETE FROM chat_replays WHERE expires_at < ?", (now,))
            cur = conn.execute(
                "INSERT INTO chat_replays (key, expires_at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                (key, expires_at),
            )
            return cur.rowcount == 1

        return await self._submit(op, durable=True)

    async def chat_remediations(self, group_key: str) -> list[Remediation]:
        def op(conn: sqlite3.Connection) -> list[Remediation]:
            rows = conn.execute(
                f"SELECT {REMEDIATION_COLUMNS} FROM remediations WHERE group_key = ?"  # noqa: S608
                " ORDER BY id DESC LIMIT 10",
                (group_key,),
            ).fetchall()
            return [row_to_remediation(r) for r in rows]

        return await self._submit(op)

    async def chat_audit(self, entry: ChatAudit) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO chat_audit (at, source, user_key, user_name, action, group_key, outcome,"
                " detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.at,
                    entry.source,
                    entry.user_key,
                    entry.user_name,
                    entry.action,
                    entry.group_key,
                    entry.outcome,
                    entry.detail[:2000],
                ),
            )

        await self._submit(op)

    async def chat_audits(self, *, limit: int = 100) -> list[ChatAudit]:
        def op(conn: sqlite3.Connection) -> list[ChatAudit]:
            rows = conn.execute(
                "SELECT at, source, user_key, user_name, action, group_key, outcome, detail"
                " FROM chat_audit ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
            return [ChatAudit(*r) for r in rows]

        return await self._submit(op)

    # --- the dead-man's switch (app.store.heartbeats) -------------------------------------------

    async def heartbeat_arm(self, name: str, *, timeout: float, now: float) -> HeartbeatChange:
        return await self._submit(lambda conn: heartbeat_sql.arm(conn, name, timeout, now), durable=True)

    async def heartbeat_seen(
        self, names: Sequence[str], *, now: float, recovery: JobsFor
    ) -> list[HeartbeatChange]:
        # synchronous=NORMAL is enough: a power loss can only take back the whole change (still
        # alarmed, the next webhook recovers it; an earlier deadline), never leave half of it
        return await self._submit(lambda conn: heartbeat_sql.seen(conn, names, now, recovery))

    async def heartbeat_due(self, name: str, *, job_id: int, now: float, alarm: JobsFor) -> HeartbeatChange:
        return await self._submit(
            lambda conn: heartbeat_sql.due(conn, name, job_id, now, alarm), durable=True
        )

    async def heartbeats(self) -> list[HeartbeatState]:
        return await self._submit(heartbeat_sql.read_heartbeats)

    # --- the web console (app.store.console) ------------------------------------------------------

    async def console_login(self, token_hash: str, *, user: str, now: float, expires_at: float) -> None:
        await self._submit(lambda conn: console.login(conn, token_hash, user, now, expires_at), durable=True)

    async def console_session(self, token_hash: str, *, now: float) -> ConsoleSession | None:
        return await self._submit(lambda conn: console.session(conn, token_hash, now))

    async def console_logout(self, token_hash: str) -> bool:
        return await self._submit(lambda conn: console.logout(conn, token_hash), durable=True)

    async def console_failures(self, keys: Sequence[str], *, since: float) -> dict[str, int]:
        return await self._submit(lambda conn: console.failures(conn, keys, since))

    async def console_failed(self, keys: Sequence[str], *, now: float) -> None:
        await self._submit(lambda conn: console.failed(conn, keys, now))

    # --- incidents (app.store.incidents) ------------------------------------------------------

    async def incidents(self, flt: IncidentFilter, *, limit: int = 200) -> list[IncidentSummary]:
        return await self._submit(lambda conn: incident_sql.list_incidents(conn, flt, limit))

    async def incident_facts(self, ref: str) -> IncidentFacts | None:
        return await self._submit(lambda conn: incident_sql.read_facts(conn, ref))

    async def incident_refs(self, prefix: str, *, limit: int = 2) -> list[str]:
        return await self._submit(lambda conn: incident_sql.refs_with_prefix(conn, prefix, limit))

    async def incident_event(self, group_key: str, event: TimelineEvent) -> None:
        await self._submit(lambda conn: incident_sql.append_event(conn, group_key, event))

    async def incident_acked(self, group_key: str, *, now: float) -> ResolvedIncident | None:
        return await self._submit(lambda conn: incident_sql.acked(conn, group_key, now), durable=True)

    # --- a full disk -------------------------------------------------------------------------

    def _free_bytes(self) -> int:
        try:
            st = os.statvfs(self.path.parent)
        except OSError:
            return 0
        return st.f_bavail * st.f_frsize

    def _disk_trouble(self, conn: sqlite3.Connection, exc: BaseException) -> None:
        """A write failed for want of space (or an I/O error): fold the WAL back into the database
        and truncate it, so the space it held is free for the next writes; say what is needed."""
        first = self._write_error is None
        _truncate_wal(conn)
        sizes = {name: _size(self.path.with_name(self.path.name + suffix)) for name, suffix in _FILES}
        self._write_error = f"writes to {self.path} fail: {exc}"
        if first:
            log.error(
                "store cannot write; webhooks get 503 and deliveries wait for their records",
                extra={
                    "error": str(exc),
                    "path": str(self.path),
                    "free_bytes": self._free_bytes(),
                    **sizes,
                    "needed": f"free at least {RESERVE_BYTES} bytes on its filesystem; "
                    "writes resume by themselves",
                },
            )

    def _recovered(self) -> None:
        if self._write_error is not None:
            self._write_error = None
            log.warning(
                "store writes work again", extra={"path": str(self.path), "free_bytes": self._free_bytes()}
            )


_FILES = (("database_bytes", ""), ("wal_bytes", "-wal"))


def _read_chat_group(conn: sqlite3.Connection, ref: str) -> ChatGroup | None:
    r = conn.execute(
        f"SELECT {CHAT_GROUP_COLUMNS} FROM chat_groups WHERE ref = ?",  # noqa: S608
        (ref,),
    ).fetchone()
    return None if r is None else chat_group_from_row(r)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _truncate_wal(conn: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def read_pending_count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM jobs WHERE state = 'pending'").fetchone()[0])


def read_dead_letters(conn: sqlite3.Connection, *, limit: int) -> list[DeadLetter]:
    rows = conn.execute(
        "SELECT id, type, lane, group_key, receiver, integration, accepted_at, finished_at, attempts,"
        " last_error FROM jobs WHERE state = 'dead' ORDER BY id DESC LIMIT ?",
        (limit,),
    ).fetchall()
    return [DeadLetter(*r) for r in rows]


def is_disk_error(exc: BaseException) -> bool:
    """SQLITE_FULL or SQLITE_IOERR (any extended code): the disk, not a lock."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR)


def _translate(exc: BaseException) -> Exception:
    if isinstance(exc, sqlite3.OperationalError | sqlite3.DatabaseError):
        return StoreUnavailable(f"sqlite: {exc}")
    if isinstance(exc, Exception):
        return exc
    return RuntimeError(repr(exc))
