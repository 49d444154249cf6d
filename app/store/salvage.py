"""Read what can be read from a SQLite store that will not open (damaged pages, zeroed header).

For `alertmedic outbox`: the file is opened read-only and each query keeps the rows it got before
an error, so pending notifications and dead letters can be inspected on a damaged database.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.store.base import DeadLetter


@dataclass
class Salvage:
    pending: int = 0
    pending_by_lane: dict[str, int] = field(default_factory=dict)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """What could not be read, and why; empty when everything was read."""


def _rows(conn: sqlite3.Connection, sql: str, params: Sequence[Any], what: str, out: Salvage) -> list[Any]:
    rows: list[Any] = []
    try:
        for row in conn.execute(sql, params):
            rows.append(row)
    except sqlite3.Error as exc:
        out.problems.append(f"{what}: {exc} (read {len(rows)} rows before it)")
    return rows


def _best(conn: sqlite3.Connection, sql: str, what: str, out: Salvage) -> list[Any]:
    """The rows of `sql` (`SELECT … FROM table WHERE …`); when a damaged index stops it, the
    rows a scan of the table itself reads before the damage, if more (an index's pages can be
    torn while the table's rows are intact)."""
    seen = len(out.problems)
    rows = _rows(conn, sql, (), what, out)
    if len(out.problems) == seen:
        return rows
    table, _, rest = sql.partition(" WHERE ")
    scanned = _rows(conn, f"{table} NOT INDEXED WHERE {rest}", (), f"{what} (table scan)", out)
    return scanned if len(scanned) > len(rows) else rows


def salvage(path: Path, *, limit: int) -> Salvage:
    out = Salvage()
    if not path.exists():
        out.problems.append(f"{path}: no such file")
        return out
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        out.problems.append(f"{path}: {exc}")
        return out
    with contextlib.closing(conn):
        tables = {
            r[0]
            for r in _rows(conn, "SELECT name FROM sqlite_master WHERE type = 'table'", (), "schema", out)
        }
        if "jobs" in tables:
            table, lane, dead = "jobs", "lane", "dead"
        elif "outbox" in tables:  # schema v1
            table, lane, dead = "outbox", "destination", "dead"
        else:
            if not out.problems:
                out.problems.append(f"{path}: no jobs table (not an alertmedic database?)")
            return out
        pending = f"SELECT {lane} FROM {table} WHERE state = 'pending'"  # noqa: S608
        for (name,) in _best(conn, pending, "pending", out):
            out.pending += 1
            out.pending_by_lane[name] = out.pending_by_lane.get(name, 0) + 1
        typ = "type" if table == "jobs" else "'notify'"
        recv = "receiver, integration" if table == "jobs" else "'', ''"
        for r in _rows(
            conn,
            f"SELECT id, {typ}, {lane}, group_key, {recv}, accepted_at, finished_at, attempts, last_error"  # noqa: S608
            f" FROM {table} WHERE state = ? ORDER BY id DESC LIMIT ?",
            (dead, limit),
            "dead letters",
            out,
        ):
            out.dead_letters.append(DeadLetter(*r))
    return out
