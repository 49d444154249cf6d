"""The dead-man's switch behind the Store: one row per heartbeat (waiting or alarmed, its deadline)
and the one timer job (`job_id`) that may move it on. Every change is one transaction that also
enqueues the jobs it implies (the alarm's or the recovery's notify jobs, the next timer), so of
two replicas, or of a job replayed after `kill -9`, exactly one raises the alarm.

States: waiting → alarmed (its timer ran with the deadline passed: the alarm) → waiting (a
matching webhook: the recovery). A timer job whose id is not the row's `job_id` is stale and
moves nothing; a seen webhook moves the deadline only (the timer, when it runs early, re-arms
itself at the new deadline), so a busy heartbeat costs one job per timeout, not one per webhook.

The Store protocol (app.store.base) has the four methods; the SQLite statements are here, the
store's methods delegate to them. They carry over to PostgreSQL with `$n` placeholders, the
row read `FOR UPDATE` (SQLite's single writer serialises them today); every transition is
already a conditional UPDATE on the state and `job_id` it expects.
"""

from __future__ import annotations

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


_COLUMNS = "name, timeout, state, first_start, last_seen, deadline, alarmed_at, job_id"


def _read(conn: sqlite3.Connection, name: str) -> HeartbeatState | None:
    r = conn.execute(f"SELECT {_COLUMNS} FROM heartbeats WHERE name = ?", (name,)).fetchone()  # noqa: S608
    return None if r is None else HeartbeatState(*r)


def read_heartbeats(conn: sqlite3.Connection) -> list[HeartbeatState]:
    rows = conn.execute(f"SELECT {_COLUMNS} FROM heartbeats ORDER BY name").fetchall()  # noqa: S608
    return [HeartbeatState(*r) for r in rows]


def _timer_pending(conn: sqlite3.Connection, row: HeartbeatState) -> bool:
    if row.job_id is None:
        return False
    found = conn.execute("SELECT 1 FROM jobs WHERE id = ? AND state = 'pending'", (row.job_id,)).fetchone()
    return found is not None


def timer_job(name: str, deadline: float) -> NewJob:
    """The heartbeat's timer: a `heartbeat` job on its lane, not run before the deadline."""
    return NewJob(
        type="heartbeat",
        lane=heartbeat_lane(name),
        payload=json.dumps({"name": name}),
        not_before=deadline,
        group_key=heartbeat_group_key(name),
    )


def _insert(conn: sqlite3.Connection, jobs: Sequence[NewJob], now: float) -> list[tuple[str, int]]:
    """Enqueue `jobs`; a notify job also gets its thread, so that the message reference the
    alarm's delivery records is there for the recovery (an edit or a reply in its thread)."""
    out = []
    for j in jobs:
        cur = conn.execute(
            "INSERT INTO jobs (type, lane, group_key, kind, receiver, integration, payload,"
            " accepted_at, not_before) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (j.type, j.lane, j.group_key, j.kind, j.receiver, j.integration, j.payload, now, j.not_before),
        )
        assert cur.lastrowid is not None
        out.append((j.lane, cur.lastrowid))
        if j.type == "notify":
            conn.execute(
                "INSERT INTO threads (group_key, destination, signature, firing, accepted_at, updated_at)"
                " VALUES (?, ?, 'heartbeat', '[]', ?, ?) ON CONFLICT (group_key, destination)"
                " DO UPDATE SET accepted_at = excluded.accepted_at, updated_at = excluded.updated_at",
                (j.group_key, j.lane, now, now),
            )
    return out


def _new_timer(
    conn: sqlite3.Connection, row: HeartbeatState, deadline: float, now: float, *, supersede: bool = False
) -> tuple[str, int]:
    """A timer at `deadline` that becomes the row's `job_id` (with `supersede`, its pending
    predecessor is closed: it would run at the old deadline)."""
    if supersede and row.job_id is not None:
        conn.execute(
            "UPDATE jobs SET state = 'done', finished_at = ?, last_error = 'superseded'"
            " WHERE id = ? AND state = 'pending'",
            (now, row.job_id),
        )
    [job] = _insert(conn, [timer_job(row.name, deadline)], now)
    conn.execute(
        "UPDATE heartbeats SET job_id = ?, deadline = ?, updated_at = ? WHERE name = ?",
        (job[1], deadline, now, row.name),
    )
    return job


def arm(conn: sqlite3.Connection, name: str, timeout: float, now: float) -> HeartbeatChange:
    inserted = conn.execute(
        "INSERT INTO heartbeats (name, timeout, state, first_start, deadline, updated_at)"
        " VALUES (?, ?, 'waiting', ?, ?, ?) ON CONFLICT (name) DO NOTHING",
        (name, timeout, now, now + timeout, now),
    ).rowcount
    row = _read(conn, name)
    assert row is not None
    if inserted:
        job = _new_timer(conn, row, row.deadline, now)
        return HeartbeatChange("armed", _read(conn, name), [job])
    changed = row.timeout != timeout
    if changed:
        conn.execute("UPDATE heartbeats SET timeout = ?, updated_at = ? WHERE name = ?", (timeout, now, name))
    if row.state == "alarmed":
        return HeartbeatChange("unchanged", _read(conn, name))
    if changed:
        deadline = (row.last_seen if row.last_seen is not None else row.first_start) + timeout
    elif not _timer_pending(conn, row):
        deadline = now + timeout
    else:
        return HeartbeatChange("unchanged", row)
    job = _new_timer(conn, row, deadline, now, supersede=True)
    return HeartbeatChange("rearmed", _read(conn, name), [job])


def seen(
    conn: sqlite3.Connection, names: Sequence[str], now: float, recovery: JobsFor
) -> list[HeartbeatChange]:
    out = []
    for name in names:
        before = _read(conn, name)
        if before is None:
            out.append(HeartbeatChange("stale", None))
            continue
        recovered = conn.execute(
            "UPDATE heartbeats SET state = 'waiting', last_seen = ?, deadline = ? + timeout, updated_at = ?"
            " WHERE name = ? AND state = 'alarmed'",
            (now, now, now, name),
        ).rowcount
        if recovered:
            jobs = _insert(conn, recovery(before), now)
            row = _read(conn, name)
            assert row is not None
            jobs.append(_new_timer(conn, row, row.deadline, now))
            out.append(HeartbeatChange("recovered", _read(conn, name), jobs))
            continue
        conn.execute(
            "UPDATE heartbeats SET last_seen = ?, deadline = ? + timeout, updated_at = ? WHERE name = ?",
            (now, now, now, name),
        )
        row = _read(conn, name)
        assert row is not None
        if _timer_pending(conn, row):
            out.append(HeartbeatChange("seen", row))
        else:  # its timer was lost (dead-lettered): a heartbeat never stays unwatched
            job = _new_timer(conn, row, row.deadline, now)
            out.append(HeartbeatChange("rearmed", _read(conn, name), [job]))
    return out


def due(conn: sqlite3.Connection, name: str, job_id: int, now: float, alarm: JobsFor) -> HeartbeatChange:
    row = _read(conn, name)
    if row is None or row.job_id != job_id or row.state != "waiting":
        return HeartbeatChange("stale", row)
    if row.deadline > now:  # seen since this timer was set: wait for the new deadline
        job = _new_timer(conn, row, row.deadline, now)
        return HeartbeatChange("rearmed", _read(conn, name), [job])
    taken = conn.execute(
        "UPDATE heartbeats SET state = 'alarmed', alarmed_at = ?, job_id = NULL, updated_at = ?"
        " WHERE name = ? AND job_id = ? AND state = 'waiting'",
        (now, now, name, job_id),
    ).rowcount
    if not taken:
        return HeartbeatChange("stale", _read(conn, name))
    jobs = _insert(conn, alarm(row), now)
    return HeartbeatChange("alarmed", _read(conn, name), jobs)
