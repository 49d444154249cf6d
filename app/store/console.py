"""The web console's rows: sessions (the SHA-256 of each token, never the token) and failed
logins. The SQLite statements live here; the store's methods are one-line delegations."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from app.core.console.session import ConsoleSession


def login(conn: sqlite3.Connection, token_hash: str, user: str, now: float, expires_at: float) -> None:
    conn.execute("DELETE FROM console_sessions WHERE expires_at <= ?", (now,))
    conn.execute(
        "INSERT INTO console_sessions (token_hash, user, created_at, expires_at) VALUES (?, ?, ?, ?)",
        (token_hash, user, now, expires_at),
    )


def session(conn: sqlite3.Connection, token_hash: str, now: float) -> ConsoleSession | None:
    row = conn.execute(
        "SELECT user, created_at, expires_at FROM console_sessions WHERE token_hash = ? AND expires_at > ?",
        (token_hash, now),
    ).fetchone()
    return None if row is None else ConsoleSession(row[0], row[1], row[2])


def logout(conn: sqlite3.Connection, token_hash: str) -> bool:
    return conn.execute("DELETE FROM console_sessions WHERE token_hash = ?", (token_hash,)).rowcount == 1


def failures(conn: sqlite3.Connection, keys: Sequence[str], since: float) -> dict[str, int]:
    out = {}
    for key in keys:
        (n,) = conn.execute(
            "SELECT count(*) FROM console_login_failures WHERE key = ? AND at >= ?", (key, since)
        ).fetchone()
        out[key] = int(n)
    return out


def failed(conn: sqlite3.Connection, keys: Sequence[str], now: float) -> None:
    conn.executemany("INSERT INTO console_login_failures (key, at) VALUES (?, ?)", [(k, now) for k in keys])


def purge(conn: sqlite3.Connection, older_than: float) -> int:
    """Sessions that expired and failures recorded before `older_than`."""
    n = conn.execute("DELETE FROM console_sessions WHERE expires_at < ?", (older_than,)).rowcount
    n += conn.execute("DELETE FROM console_login_failures WHERE at < ?", (older_than,)).rowcount
    return int(n)
