"""Storm digests in the store: read a lane's pending jobs of one type, and record many jobs done
with one message reference (the digest that covers them) in one transaction.

Both dialects (SQLite `?`, asyncpg `$n`); the store classes delegate here (one line each). The
caller holds the lane's lease, so neither needs a lock beyond its transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from app.store.base import Job
from app.store.rows import JOB_COLUMNS, job_from_row

Conn = Any
"""An asyncpg connection inside a transaction (asyncpg ships no type hints)."""

_PENDING_OF_LANE = (
    f"SELECT {JOB_COLUMNS} FROM jobs j LEFT JOIN threads t"  # noqa: S608
    " ON t.group_key = j.group_key AND t.destination = j.lane"
    " WHERE j.lane = {0} AND j.type = {1} AND j.state = 'pending' AND j.id > {2} ORDER BY j.id LIMIT {3}"
)
_REF = "UPDATE threads SET message_ref = {0}, updated_at = {1} WHERE group_key = {2} AND destination = {3}"


def _ref_json(ref: dict[str, Any]) -> str:
    return json.dumps(ref, separators=(",", ":"))


def _threads(jobs: Sequence[Job]) -> list[tuple[str, str]]:
    """The (group key, destination) of each thread the jobs belong to, once each, in one order."""
    return sorted({(j.group_key, j.lane) for j in jobs})


def sqlite_pending_jobs(
    conn: sqlite3.Connection, lane: str, *, type: str, after: int, limit: int
) -> list[Job]:
    """The lane's pending jobs of `type` with ids above `after`, in id order."""
    rows = conn.execute(_PENDING_OF_LANE.format("?", "?", "?", "?"), (lane, type, after, limit)).fetchall()
    return [job_from_row(r) for r in rows]


def sqlite_complete_many(
    conn: sqlite3.Connection, jobs: Sequence[Job], *, ref: dict[str, Any] | None, now: float
) -> int:
    """Mark `jobs` done (those still pending) and, when `ref` is given, make it the message
    reference of each one's thread; return how many were pending."""
    ids = [(now, j.id) for j in jobs]
    done = 0
    for chunk in range(0, len(ids), 500):
        done += conn.executemany(
            "UPDATE jobs SET state = 'done', finished_at = ?, last_error = NULL"
            " WHERE id = ? AND state = 'pending'",
            ids[chunk : chunk + 500],
        ).rowcount
    if ref is not None:
        ref_json = _ref_json(ref)
        conn.executemany(_REF.format("?", "?", "?", "?"), [(ref_json, now, g, d) for g, d in _threads(jobs)])
    return done


async def pg_pending_jobs(conn: Conn, lane: str, *, type: str, after: int, limit: int) -> list[Job]:
    """As `sqlite_pending_jobs`."""
    rows = await conn.fetch(_PENDING_OF_LANE.format("$1", "$2", "$3", "$4"), lane, type, after, limit)
    return [job_from_row(r) for r in rows]


async def pg_complete_many(conn: Conn, jobs: Sequence[Job], *, ref: dict[str, Any] | None, now: float) -> int:
    """As `sqlite_complete_many`: one statement for the jobs, one per thread."""
    status = await conn.execute(
        "UPDATE jobs SET state = 'done', finished_at = $1, last_error = NULL"
        " WHERE id = ANY($2::bigint[]) AND state = 'pending'",
        float(now),
        [j.id for j in jobs],
    )
    if ref is not None:
        ref_json = _ref_json(ref)
        await conn.executemany(
            _REF.format("$1", "$2", "$3", "$4"), [(ref_json, float(now), g, d) for g, d in _threads(jobs)]
        )
    return int(status.rsplit(" ", 1)[-1])
