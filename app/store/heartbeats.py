"""The dead-man's switch behind the Store: one row per heartbeat (waiting or alarmed, its deadline)
and the one timer job (`job_id`) that may move it on. Every change is one transaction that also
enqueues the jobs it implies (the alarm's or the recovery's notify jobs, the next timer), so of
two replicas, or of a job replayed after `kill -9`, exactly one raises the alarm.

States: waiting → alarmed (its timer ran with the deadline passed: the alarm) → waiting (a
matching webhook: the recovery). A timer job whose id is not the row's `job_id` is stale and
moves nothing; a seen webhook moves the deadline only (the timer, when it runs early, re-arms
itself at the new deadline), so a busy heartbeat costs one job per timeout, not one per webhook.

One state machine for both stores: `decide_arm`, `decide_seen` and `decide_due` are pure, from
the row before (read under the transaction's lock: SQLite's single writer, PostgreSQL's
`FOR UPDATE`) to a `Step`, the row afterwards and the jobs to enqueue with it. Each dialect only
reads the row and applies the step: SQLite's statements are here, PostgreSQL's in
app/store/pg_heartbeats.py; the store classes' methods are one-line delegations.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from app.core.heartbeats import heartbeat_group_key, heartbeat_lane
from app.store.base import NewJob

State = Literal["waiting", "alarmed"]
Event = Literal["armed", "rearmed", "alarmed", "recovered", "seen", "stale", "unchanged"]


@dataclass(frozen=True)
class HeartbeatState:
    name: str
    timeout: float
    state: State
    first_start: float
    """When the heartbeat was first armed (a never-seen heartbeat alarms `timeout` after it)."""
    last_seen: float | None
    deadline: float
    """When a waiting heartbeat alarms unless a matching webhook comes first."""
    alarmed_at: float | None
    """When the last alarm was raised."""
    job_id: int | None
    """The timer job that may move the row on (None while alarmed)."""


@dataclass(frozen=True)
class HeartbeatChange:
    """What one operation did to one heartbeat."""

    event: Event
    state: HeartbeatState | None
    """The row afterwards (None: there is none)."""
    jobs: list[tuple[str, int]] = field(default_factory=list)
    """(lane, id) of every job enqueued with the change: the caller wakes those lanes."""


JobsFor = Callable[[HeartbeatState], Sequence[NewJob]]
"""Builds the notify jobs of an alarm or a recovery from the row as it was before the change;
called inside the transaction, only when the change happens."""


# --- the state machine (pure) -----------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """What a transaction does to one heartbeat, decided from the row before it."""

    event: Event
    row: HeartbeatState | None
    """The row afterwards, except the new timer's id when `timer` (None: there is none)."""
    write: bool = False
    """The row changed: store it."""
    notify: Sequence[NewJob] = ()
    """The alarm's or the recovery's jobs, enqueued first."""
    timer: bool = False
    """Enqueue a timer at `row.deadline` that becomes the row's `job_id`."""
    supersede: int | None = None
    """The pending timer the new one replaces (it would run at the old deadline): closed."""


def fresh_row(name: str, timeout: float, now: float) -> HeartbeatState:
    """The row a heartbeat armed for the first time starts with (its timer still to come)."""
    return HeartbeatState(name, timeout, "waiting", now, None, now + timeout, None, None)


def decide_arm(
    row: HeartbeatState, *, inserted: bool, timer_pending: bool, timeout: float, now: float
) -> Step:
    """Arming (start-up, reload): the row has a pending timer while waiting; a new timeout
    counts from the last webhook (or the first start)."""
    if inserted:
        return Step("armed", row, timer=True)
    changed = row.timeout != timeout
    after = dataclasses.replace(row, timeout=timeout)
    if row.state == "alarmed":
        return Step("unchanged", after, write=changed)
    if changed:
        deadline = (row.last_seen if row.last_seen is not None else row.first_start) + timeout
    elif not timer_pending:
        deadline = now + timeout
    else:
        return Step("unchanged", row)
    supersede = row.job_id if timer_pending else None
    return Step("rearmed", dataclasses.replace(after, deadline=deadline), timer=True, supersede=supersede)


def decide_seen(row: HeartbeatState | None, *, timer_pending: bool, now: float, recovery: JobsFor) -> Step:
    """A matching webhook: the deadline moves; an alarmed heartbeat recovers."""
    if row is None:
        return Step("stale", None)
    after = dataclasses.replace(row, last_seen=now, deadline=now + row.timeout)
    if row.state == "alarmed":
        after = dataclasses.replace(after, state="waiting")
        return Step("recovered", after, write=True, notify=recovery(row), timer=True)
    if timer_pending:
        return Step("seen", after, write=True)
    # its timer was lost (dead-lettered): a heartbeat never stays unwatched
    return Step("rearmed", after, timer=True)


def decide_due(row: HeartbeatState | None, *, job_id: int, now: float, alarm: JobsFor) -> Step:
    """The timer `job_id` ran: the alarm once past the deadline, else a timer at the new one."""
    if row is None or row.job_id != job_id or row.state != "waiting":
        return Step("stale", row)
    if row.deadline > now:  # seen since this timer was set: wait for the new deadline
        return Step("rearmed", row, timer=True)
    after = dataclasses.replace(row, state="alarmed", alarmed_at=now, job_id=None)
    return Step("alarmed", after, write=True, notify=alarm(row))


def timer_job(name: str, deadline: float) -> NewJob:
    """The heartbeat's timer: a `heartbeat` job on its lane, not run before the deadline."""
    return NewJob(
        type="heartbeat",
        lane=heartbeat_lane(name),
        payload=json.dumps({"name": name}),
        not_before=deadline,
        group_key=heartbeat_group_key(name),
    )


# --- SQLite -------------------------------------------------------------------------------------

COLUMNS = "name, timeout, state, first_start, last_seen, deadline, alarmed_at, job_id"
SQLITE_INSERT_THREAD = (
    "INSERT INTO threads (group_key, destination, signature, firing, accepted_at, updated_at)"
    " VALUES (?, ?, 'heartbeat', '[]', ?, ?) ON CONFLICT (group_key, destination)"
    " DO UPDATE SET accepted_at = excluded.accepted_at, updated_at = excluded.updated_at"
)
"""A notify job also gets its thread, so that the message reference the alarm's delivery
records is there for the recovery (an edit or a reply in its thread)."""


def read_heartbeats(conn: sqlite3.Connection) -> list[HeartbeatState]:
    rows = conn.execute(f"SELECT {COLUMNS} FROM heartbeats ORDER BY name").fetchall()  # noqa: S608
    return [HeartbeatState(*r) for r in rows]


def _read(conn: sqlite3.Connection, name: str) -> tuple[HeartbeatState | None, bool]:
    """The row and whether its timer is pending (SQLite's single writer holds both still)."""
    r = conn.execute(f"SELECT {COLUMNS} FROM heartbeats WHERE name = ?", (name,)).fetchone()  # noqa: S608
    if r is None:
        return None, False
    row = HeartbeatState(*r)
    pending = row.job_id is not None and (
        conn.execute("SELECT 1 FROM jobs WHERE id = ? AND state = 'pending'", (row.job_id,)).fetchone()
        is not None
    )
    return row, pending


def _apply(conn: sqlite3.Connection, step: Step, now: float) -> HeartbeatChange:
    row, jobs = step.row, []
    for j in step.notify:
        jobs.append(_insert(conn, j, now))
        if j.type == "notify":
            conn.execute(SQLITE_INSERT_THREAD, (j.group_key, j.lane, now, now))
    if step.supersede is not None:
        conn.execute(
            "UPDATE jobs SET state = 'done', finished_at = ?, last_error = 'superseded'"
            " WHERE id = ? AND state = 'pending'",
            (now, step.supersede),
        )
    if step.timer:
        assert row is not None
        jobs.append(_insert(conn, timer_job(row.name, row.deadline), now))
        row = dataclasses.replace(row, job_id=jobs[-1][1])
    if row is not None and (step.write or step.timer):
        conn.execute(
            "UPDATE heartbeats SET timeout = ?, state = ?, last_seen = ?, deadline = ?, alarmed_at = ?,"
            " job_id = ?, updated_at = ? WHERE name = ?",
            (row.timeout, row.state, row.last_seen, row.deadline, row.alarmed_at, row.job_id, now, row.name),
        )
    return HeartbeatChange(step.event, row, jobs)


def _insert(conn: sqlite3.Connection, j: NewJob, now: float) -> tuple[str, int]:
    cur = conn.execute(
        "INSERT INTO jobs (type, lane, group_key, kind, receiver, integration, payload,"
        " accepted_at, not_before) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (j.type, j.lane, j.group_key, j.kind, j.receiver, j.integration, j.payload, now, j.not_before),
    )
    assert cur.lastrowid is not None
    return j.lane, cur.lastrowid


def arm(conn: sqlite3.Connection, name: str, timeout: float, now: float) -> HeartbeatChange:
    new = fresh_row(name, timeout, now)
    inserted = conn.execute(
        "INSERT INTO heartbeats (name, timeout, state, first_start, deadline, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
        (new.name, new.timeout, new.state, new.first_start, new.deadline, now),
    ).rowcount
    row, pending = _read(conn, name)
    assert row is not None
    step = decide_arm(row, inserted=bool(inserted), timer_pending=pending, timeout=timeout, now=now)
    return _apply(conn, step, now)


def seen(
    conn: sqlite3.Connection, names: Sequence[str], now: float, recovery: JobsFor
) -> list[HeartbeatChange]:
    out = []
    for name in names:
        row, pending = _read(conn, name)
        out.append(_apply(conn, decide_seen(row, timer_pending=pending, now=now, recovery=recovery), now))
    return out


def due(conn: sqlite3.Connection, name: str, job_id: int, now: float, alarm: JobsFor) -> HeartbeatChange:
    row, _ = _read(conn, name)
    return _apply(conn, decide_due(row, job_id=job_id, now=now, alarm=alarm), now)
