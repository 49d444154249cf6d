"""The dead-man's switch on PostgreSQL: app/store/heartbeats.py's state machine (its pure
`decide_*` functions) executed in asyncpg's dialect. The heartbeat's row is read `FOR UPDATE`
(SQLite's single writer serialises the same reads), so of replicas moving one heartbeat at once
each decides from the row the previous one left: the alarm and the recovery are enqueued once.
Arming inserts the row first (`ON CONFLICT DO NOTHING` waits for a concurrent insert), then locks it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from app.store.heartbeats import (
    COLUMNS,
    HeartbeatChange,
    HeartbeatState,
    JobsFor,
    Step,
    decide_arm,
    decide_due,
    decide_seen,
    fresh_row,
    timer_job,
)
from app.store.pg_remediations import insert_job

Conn = Any
"""An asyncpg connection inside a transaction (asyncpg ships no type hints)."""


async def read_heartbeats(conn: Conn) -> list[HeartbeatState]:
    rows = await conn.fetch(f'SELECT {COLUMNS} FROM heartbeats ORDER BY name COLLATE "C"')  # noqa: S608
    return [HeartbeatState(*r) for r in rows]


async def _lock(conn: Conn, name: str) -> tuple[HeartbeatState | None, bool]:
    """The row, locked until the transaction ends, and whether its timer is pending (read after
    the lock is held, so a concurrent change is seen)."""
    r = await conn.fetchrow(f"SELECT {COLUMNS} FROM heartbeats WHERE name = $1 FOR UPDATE", name)  # noqa: S608
    if r is None:
        return None, False
    row = HeartbeatState(*r)
    pending = row.job_id is not None and (
        await conn.fetchval("SELECT 1 FROM jobs WHERE id = $1 AND state = 'pending'", row.job_id) is not None
    )
    return row, pending


async def _apply(conn: Conn, step: Step, now: float) -> HeartbeatChange:
    row, jobs = step.row, []
    for j in step.notify:
        jobs.append((j.lane, await insert_job(conn, j, now)))
        if j.type == "notify":
            await conn.execute(
                "INSERT INTO threads (group_key, destination, signature, firing, accepted_at, updated_at)"
                " VALUES ($1, $2, 'heartbeat', '[]', $3, $3) ON CONFLICT (group_key, destination)"
                " DO UPDATE SET accepted_at = excluded.accepted_at, updated_at = excluded.updated_at",
                j.group_key,
                j.lane,
                float(now),
            )
    if step.supersede is not None:
        await conn.execute(
            "UPDATE jobs SET state = 'done', finished_at = $1, last_error = 'superseded'"
            " WHERE id = $2 AND state = 'pending'",
            float(now),
            step.supersede,
        )
    if step.timer:
        assert row is not None
        timer = timer_job(row.name, row.deadline)
        jobs.append((timer.lane, await insert_job(conn, timer, now)))
        row = dataclasses.replace(row, job_id=jobs[-1][1])
    if row is not None and (step.write or step.timer):
        await conn.execute(
            "UPDATE heartbeats SET timeout = $1, state = $2, last_seen = $3, deadline = $4, alarmed_at = $5,"
            " job_id = $6, updated_at = $7 WHERE name = $8",
            float(row.timeout),
            row.state,
            row.last_seen,
            float(row.deadline),
            row.alarmed_at,
            row.job_id,
            float(now),
            row.name,
        )
    return HeartbeatChange(step.event, row, jobs)


async def arm(conn: Conn, name: str, timeout: float, now: float) -> HeartbeatChange:
    new = fresh_row(name, timeout, now)
    inserted = await conn.fetchval(
        "INSERT INTO heartbeats (name, timeout, state, first_start, deadline, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING RETURNING 1",
        new.name,
        float(new.timeout),
        new.state,
        float(new.first_start),
        float(new.deadline),
        float(now),
    )
    row, pending = await _lock(conn, name)
    assert row is not None
    step = decide_arm(row, inserted=inserted is not None, timer_pending=pending, timeout=timeout, now=now)
    return await _apply(conn, step, now)


async def seen(conn: Conn, names: Sequence[str], now: float, recovery: JobsFor) -> list[HeartbeatChange]:
    # the rows locked in one order, so two replicas seeing the same heartbeats cannot deadlock
    await conn.execute(
        'SELECT 1 FROM heartbeats WHERE name = ANY($1::text[]) ORDER BY name COLLATE "C" FOR UPDATE',
        sorted(set(names)),
    )
    out = []
    for name in names:
        row, pending = await _lock(conn, name)
        out.append(
            await _apply(conn, decide_seen(row, timer_pending=pending, now=now, recovery=recovery), now)
        )
    return out


async def due(conn: Conn, name: str, job_id: int, now: float, alarm: JobsFor) -> HeartbeatChange:
    row, _ = await _lock(conn, name)
    return await _apply(conn, decide_due(row, job_id=job_id, now=now, alarm=alarm), now)
