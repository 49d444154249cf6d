"""Remediation records and the slot table behind the Store: the audit trail of every action and
refusal, the state each action is in, and the guard slots (unique keys, see
app.core.remediation.guards). Every transition is one transaction that also enqueues the jobs it
implies, so a `kill -9` at any point leaves either the old state with its job or the new one with
its job, never an action without its next step.

States: pending → (refused | would | awaiting_approval | acting); awaiting_approval → (acting |
rejected | expired | cancelled); acting → verifying → (succeeded | failed); pending → cancelled.
`job_id` is the one job that may move a record on: a replayed job whose id is not it is stale.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from app.core.remediation.guards import Slot
from app.store.base import NewJob, Store

FINAL_STATES = ("refused", "would", "rejected", "expired", "cancelled", "succeeded", "failed")
OPEN_STATES = ("pending", "awaiting_approval")
"""A record in these states is cancelled when its alert resolves."""


@dataclass(frozen=True)
class NewRemediation:
    """An intent recorded at ingest, with the job that decides it."""

    action: str
    kind: str
    target: str
    """Target key ("Deployment/prod/model-api"), "" when it could not be rendered."""
    fingerprint: str
    episode: str
    alertname: str
    group_key: str
    destinations: tuple[str, ...]
    """Destinations that got the alert: reports go to those that thread."""
    intent: str
    """The intent as JSON (app.engine.remediation)."""
    dedup: str | None
    """Unique per firing episode when the action runs once until resolved (an Alertmanager HA
    pair posting the same webhook twice records one intent); None: no dedup."""
    lane: str


@dataclass(frozen=True)
class Remediation:
    id: int
    action: str
    kind: str
    target: str
    fingerprint: str
    alertname: str
    group_key: str
    destinations: tuple[str, ...]
    intent: str
    state: str
    job_id: int | None
    claims: list[dict[str, Any]]
    pinned: dict[str, Any] | None
    acted: dict[str, Any] | None
    guard: str
    reason: str
    actor: str
    created_at: float
    updated_at: float
    expires_at: float | None
    acted_at: float | None


Transition = Literal["ok", "stale", "conflict"]


@dataclass(frozen=True)
class Change:
    """A transition of one record: new state and fields, slots to take and free, jobs to add."""

    state: str
    fields: dict[str, Any] = field(default_factory=dict)
    take: Sequence[Slot] = ()
    free: Sequence[str] = ()
    jobs: Sequence[NewJob] = ()
    chain: bool = False
    """The first job of `jobs` becomes the record's `job_id` (the next step)."""
    expect: tuple[str, ...] = ()
    """States the record must be in (empty: any); else the change is "stale" (e.g. the alert
    resolved and cancelled it while the worker was deciding)."""


class RemediationStore(Protocol):
    async def remediation(self, rid: int) -> Remediation | None: ...

    async def remediations(self, *, limit: int = 100, open_only: bool = False) -> list[Remediation]:
        """Newest first; `open_only`: pending, awaiting approval, acting or verifying."""
        ...

    async def slots(self, keys: Sequence[str]) -> dict[str, Slot]: ...

    async def transition(self, rid: int, *, job_id: int | None, change: Change, now: float) -> Transition:
        """Apply `change` if the record's job is still `job_id` (None: skip that check) and every
        slot of `change.take` is free or held by its holder; all or nothing."""
        ...

    async def decide_approval(
        self, rid: int, *, approve: bool, actor: str, now: float, job: NewJob
    ) -> Remediation | str:
        """Approve (enqueue `job` to act) or reject (enqueue `job` to report) an action awaiting
        approval; the record, or why not (unknown id, not awaiting, expired)."""
        ...


REMEDIATION_COLUMNS = (
    "id, action, kind, target, fingerprint, alertname, group_key, destinations, intent, state, job_id,"
    " claims, pinned, acted, guard, reason, actor, created_at, updated_at, expires_at, acted_at"
)


def row_to_remediation(r: Sequence[Any]) -> Remediation:
    return Remediation(
        id=r[0],
        action=r[1],
        kind=r[2],
        target=r[3],
        fingerprint=r[4],
        alertname=r[5],
        group_key=r[6],
        destinations=tuple(json.loads(r[7])),
        intent=r[8],
        state=r[9],
        job_id=r[10],
        claims=json.loads(r[11]) if r[11] else [],
        pinned=json.loads(r[12]) if r[12] else None,
        acted=json.loads(r[13]) if r[13] else None,
        guard=r[14] or "",
        reason=r[15] or "",
        actor=r[16] or "",
        created_at=r[17],
        updated_at=r[18],
        expires_at=r[19],
        acted_at=r[20],
    )


def insert_job(conn: sqlite3.Connection, j: NewJob, now: float) -> int:
    cur = conn.execute(
        "INSERT INTO jobs (type, lane, group_key, kind, receiver, integration, payload,"
        " accepted_at, not_before) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (j.type, j.lane, j.group_key, j.kind, j.receiver, j.integration, j.payload, now, j.not_before),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def record_intents(
    conn: sqlite3.Connection, items: Sequence[NewRemediation], resolved: Sequence[str], now: float
) -> list[tuple[str, int]]:
    """At ingest, in its transaction: record new intents with their `remediate` job (a duplicate
    of a once-until-resolved intent records nothing), and cancel the open records of resolved
    alerts (their next job reports it). Returns (lane, job id) of every job added."""
    added: list[tuple[str, int]] = []
    for it in items:
        row = conn.execute(
            "INSERT INTO remediations (action, kind, target, fingerprint, episode, alertname, group_key,"
            " destinations, intent, dedup, state, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)"
            " ON CONFLICT (dedup) DO NOTHING RETURNING id",
            (
                it.action,
                it.kind,
                it.target,
                it.fingerprint,
                it.episode,
                it.alertname,
                it.group_key,
                json.dumps(list(it.destinations)),
                it.intent,
                it.dedup,
                now,
                now,
            ),
        ).fetchone()
        if row is None:
            continue
        rid = row[0]
        job = NewJob(
            "remediate",
            it.lane,
            json.dumps({"id": rid, "step": "decide"}),
            now,
            receiver="remediation",
            integration=it.kind,
        )
        jid = insert_job(conn, job, now)
        conn.execute("UPDATE remediations SET job_id = ? WHERE id = ?", (jid, rid))
        added.append((it.lane, jid))
    for fp in resolved:
        rows = conn.execute(
            "SELECT id, state, target, kind FROM remediations WHERE fingerprint = ? AND state IN (?, ?)",
            (fp, *OPEN_STATES),
        ).fetchall()
        for rid, state, target, kind in rows:
            conn.execute(
                "UPDATE remediations SET state = 'cancelled', updated_at = ? WHERE id = ?", (now, rid)
            )
            if state == "awaiting_approval":  # its pending job is the expiry, hours away: report now
                lane = remediation_lane(target)
                job = NewJob(
                    "remediate",
                    lane,
                    json.dumps({"id": rid, "step": "finish"}),
                    now,
                    receiver="remediation",
                    integration=kind,
                )
                jid = insert_job(conn, job, now)
                conn.execute("UPDATE remediations SET job_id = ? WHERE id = ?", (jid, rid))
                added.append((lane, jid))
    return added


def remediation_lane(target: str) -> str:
    """Actions on one target run in order on one lane."""
    return f"remediate:{target or '-'}"


def take_slot(conn: sqlite3.Connection, slot: Slot) -> bool:
    """The documented conditional upsert: True when the slot is ours now."""
    row = conn.execute(
        "INSERT INTO remediation_slots (key, holder, taken_at, expires_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, taken_at = excluded.taken_at,"
        " expires_at = excluded.expires_at"
        " WHERE remediation_slots.expires_at <= excluded.taken_at"
        " OR remediation_slots.holder = excluded.holder RETURNING holder",
        (slot.key, slot.holder, slot.taken_at, _finite(slot.expires_at)),
    ).fetchone()
    return row is not None


def _finite(t: float) -> float:
    return min(t, 1e300)


class _Conflict(Exception):
    pass


def apply_transition(
    conn: sqlite3.Connection, rid: int, job_id: int | None, change: Change, now: float
) -> Transition:
    row = conn.execute("SELECT job_id, state FROM remediations WHERE id = ?", (rid,)).fetchone()
    if row is None or (job_id is not None and row[0] != job_id):
        return "stale"
    if change.expect and row[1] not in change.expect:
        return "stale"
    conn.execute("SAVEPOINT transition")
    try:
        for slot in change.take:
            if not take_slot(conn, slot):
                raise _Conflict
    except _Conflict:
        conn.execute("ROLLBACK TO transition")
        conn.execute("RELEASE transition")
        return "conflict"
    conn.execute("RELEASE transition")
    for key in change.free:
        conn.execute("DELETE FROM remediation_slots WHERE key = ? AND holder = ?", (key, f"r{rid}"))
    sets = {**change.fields, "state": change.state, "updated_at": now}
    ids = [insert_job(conn, j, now) for j in change.jobs]
    if change.chain and ids:
        sets["job_id"] = ids[0]
    cols = ", ".join(f"{k} = ?" for k in sets)
    conn.execute(f"UPDATE remediations SET {cols} WHERE id = ?", (*sets.values(), rid))  # noqa: S608
    return "ok"


def decide_approval(
    conn: sqlite3.Connection, rid: int, approve: bool, actor: str, now: float, job: NewJob
) -> Remediation | str:
    row = conn.execute(f"SELECT {REMEDIATION_COLUMNS} FROM remediations WHERE id = ?", (rid,)).fetchone()  # noqa: S608
    if row is None:
        return f"no action {rid}"
    rec = row_to_remediation(row)
    if rec.state != "awaiting_approval":
        return f"action {rid} is {rec.state}, not awaiting approval"
    if rec.expires_at is not None and now >= rec.expires_at:
        return f"action {rid} expired awaiting approval"
    jid = insert_job(conn, job, now)
    state = "approved" if approve else "rejected"
    conn.execute(
        "UPDATE remediations SET state = ?, actor = ?, job_id = ?, updated_at = ? WHERE id = ?",
        (state, actor, jid, now, rid),
    )
    return row_to_remediation(
        conn.execute(f"SELECT {REMEDIATION_COLUMNS} FROM remediations WHERE id = ?", (rid,)).fetchone()  # noqa: S608
    )


def read_remediations(conn: sqlite3.Connection, *, limit: int, open_only: bool) -> list[Remediation]:
    where = (
        " WHERE state IN ('pending', 'awaiting_approval', 'approved', 'acting', 'verifying')"
        if open_only
        else ""
    )
    rows = conn.execute(
        f"SELECT {REMEDIATION_COLUMNS} FROM remediations{where} ORDER BY id DESC LIMIT ?",  # noqa: S608
        (limit,),
    ).fetchall()
    return [row_to_remediation(r) for r in rows]


def read_slots(conn: sqlite3.Connection, keys: Sequence[str]) -> dict[str, Slot]:
    out: dict[str, Slot] = {}
    for key in keys:
        r = conn.execute(
            "SELECT key, holder, taken_at, expires_at FROM remediation_slots WHERE key = ?", (key,)
        ).fetchone()
        if r is not None:
            out[r[0]] = Slot(r[0], r[1], r[2], r[3])
    return out


class RemediatingStore(Store, RemediationStore, Protocol):
    """A store that keeps the job queue and the remediation records (SQLite; PostgreSQL later)."""


def held_slots(path: str) -> dict[str, Slot]:
    """Every slot in the database at `path`, read-only (for `actions test`: no side effects;
    a missing file or schema reads as no slot)."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return {}
    try:
        rows = conn.execute("SELECT key, holder, taken_at, expires_at FROM remediation_slots").fetchall()
    except sqlite3.Error:
        return {}
    finally:
        conn.close()
    return {r[0]: Slot(r[0], r[1], r[2], r[3]) for r in rows}
