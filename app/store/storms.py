"""Storm digests in the store: read a lane's pending jobs of one type, and record many jobs done
with one message reference (the digest that covers them) in one transaction.

The SQLite statements; the store classes delegate here (one line each).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from app.store.base import Job

PENDING_OF_LANE = (
    "SELECT j.id, j.type, j.lane, j.group_key, j.kind, j.receiver, j.integration, j.payload,"
    " j.accepted_at, j.attempts, j.not_before, t.message_ref FROM jobs j LEFT JOIN threads t"
    " ON t.group_key = j.group_key AND t.destination = j.lane"
    " WHERE j.lane = ? AND j.type = ? AND j.state = 'pending' AND j.id > ? ORDER BY j.id LIMIT ?"
)


def sqlite_pending_jobs(
    conn: sqlite3.Connection, lane: str, *, type: str, after: int, limit: int
) -> list[sqlite3.Row | tuple[Any, ...]]:
    """Rows of the lane's pending jobs of `type` with ids above `after`, in id order."""
    return list(conn.execute(PENDING_OF_LANE, (lane, type, after, limit)).fetchall())


def sqlite_complete_many(
    conn: sqlite3.Connection, jobs: Sequence[Job], *, ref: dict[str, Any] | None, now: float
) -> int:
    """Mark `jobs` done (those still pending) and, when `ref` is given, make it the message
    reference of each one's thread; return how many were pending."""
    ids = [(now, j.id) for j in jobs]
    done = 0
    for chunk in range(0, len(ids), 500):
        cur = conn.executemany(
            "UPDATE jobs SET state = 'done', finished_at = ?, last_error = NULL"
            " WHERE id = ? AND state = 'pending'",
            ids[chunk : chunk + 500],
        )
        done += cur.rowcount
    if ref is not None:
        ref_json = json.dumps(ref, separators=(",", ":"))
        threads = {(j.group_key, j.lane) for j in jobs}
        conn.executemany(
            "UPDATE threads SET message_ref = ?, updated_at = ? WHERE group_key = ? AND destination = ?",
            [(ref_json, now, g, d) for g, d in sorted(threads)],
        )
    return done
