"""Shared state of several replicas that is not the job queue: the rate-limit buckets (one row
per key holding its theoretical arrival time) and named leases (a front-end that must run on one
replica only, e.g. `poll:telegram:<bot id>`, in the `leases` table next to the lanes').

The arithmetic is app.core.ratelimit's; here is only the SQL, run inside the store's write
transaction so every key of one send is decided at once, across processes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from app.core.ratelimit import Limit, penalised_tat, reserve_tats


def reserve(conn: sqlite3.Connection, limits: Sequence[Limit], now: float) -> float:
    """Take one send at `now` from every bucket of `limits` (0.0), or the seconds to wait."""
    keys = [key for key, _, _ in limits]
    marks = ",".join("?" * len(keys))
    tats = dict(conn.execute(f"SELECT key, tat FROM rate_limits WHERE key IN ({marks})", keys).fetchall())  # noqa: S608 - placeholders only
    wait, taken = reserve_tats(limits, tats, now)
    conn.executemany(
        "INSERT INTO rate_limits (key, tat) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET tat = excluded.tat",
        list(taken.items()),
    )
    return wait


def penalise(conn: sqlite3.Connection, limit: Limit, until: float) -> None:
    """No send on `limit`'s bucket before `until` (the provider answered 429)."""
    row = conn.execute("SELECT tat FROM rate_limits WHERE key = ?", (limit[0],)).fetchone()
    tat = penalised_tat(row[0] if row else 0.0, limit, until)
    conn.execute(
        "INSERT INTO rate_limits (key, tat) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET tat = excluded.tat",
        (limit[0], tat),
    )


def hold(conn: sqlite3.Connection, name: str, owner: str, now: float, lease: float) -> bool:
    """Take or renew the lease `name` for `owner` until `now + lease`; False while another
    owner's lease is live."""
    row = conn.execute(
        "INSERT INTO leases (lane, owner, lease_until) VALUES (?, ?, ?) ON CONFLICT (lane) DO UPDATE"
        " SET owner = excluded.owner, lease_until = excluded.lease_until"
        " WHERE leases.owner = excluded.owner OR leases.lease_until <= ? RETURNING owner",
        (name, owner, now + lease, now),
    ).fetchone()
    return row is not None


def let_go(conn: sqlite3.Connection, name: str, owner: str) -> bool:
    """Give the lease `name` back if `owner` holds it (another replica may take it at once)."""
    return conn.execute("DELETE FROM leases WHERE lane = ? AND owner = ?", (name, owner)).rowcount > 0


# --- PostgreSQL (asyncpg): the same decisions, rows locked in key order ---------------------


async def pg_reserve(conn: Any, limits: Sequence[Limit], now: float) -> float:
    keys = sorted({key for key, _, _ in limits})
    # a missing row is an unused bucket (TAT 0); inserting it first gives a row to lock, and
    # locking in key order keeps two reservations of overlapping keys from deadlocking
    await conn.execute(
        "INSERT INTO rate_limits (key, tat) SELECT k, 0 FROM unnest($1::text[]) AS k ORDER BY k"
        " ON CONFLICT (key) DO NOTHING",
        keys,
    )
    rows = await conn.fetch(
        "SELECT key, tat FROM rate_limits WHERE key = ANY($1::text[]) ORDER BY key FOR UPDATE", keys
    )
    wait, taken = reserve_tats(limits, {r[0]: r[1] for r in rows}, now)
    if taken:
        await conn.executemany(
            "UPDATE rate_limits SET tat = $2 WHERE key = $1", [(k, float(t)) for k, t in taken.items()]
        )
    return wait


async def pg_penalise(conn: Any, limit: Limit, until: float) -> None:
    await conn.execute(
        "INSERT INTO rate_limits (key, tat) VALUES ($1, $2)"
        " ON CONFLICT (key) DO UPDATE SET tat = GREATEST(rate_limits.tat, excluded.tat)",
        limit[0],
        float(penalised_tat(0.0, limit, until)),
    )


async def pg_hold(conn: Any, name: str, owner: str, now: float, lease: float) -> bool:
    row = await conn.fetchrow(
        "INSERT INTO leases (lane, owner, lease_until) VALUES ($1, $2, $3) ON CONFLICT (lane) DO UPDATE"
        " SET owner = excluded.owner, lease_until = excluded.lease_until"
        " WHERE leases.owner = excluded.owner OR leases.lease_until <= $4 RETURNING owner",
        name,
        owner,
        float(now + lease),
        float(now),
    )
    return row is not None


async def pg_let_go(conn: Any, name: str, owner: str) -> bool:
    status = await conn.execute("DELETE FROM leases WHERE lane = $1 AND owner = $2", name, owner)
    return str(status) != "DELETE 0"
