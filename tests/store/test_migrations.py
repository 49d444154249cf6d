"""Schema migrations: a v1 database (the outbox) moves into the job queue of v2 with nothing lost;
processes that start at once on a new file migrate it exactly once."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from app.store.migrations import MIGRATIONS, current_version
from app.store.sqlite import SQLiteStore
from tests.store.conftest import DEST, planned


def v1_database(path: Path) -> None:
    """A database as alertmedic's first schema left it: pending, delivered and dead rows."""
    conn = sqlite3.connect(path, isolation_level=None)
    for stmt in MIGRATIONS[0].split(";"):
        if stmt.strip():
            conn.execute(stmt)
    conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    group = planned("g1", ("a", "firing")).group.model_dump_json()
    conn.execute(
        "INSERT INTO threads VALUES (?, ?, ?, ?, ?, ?, ?)",
        ("g1", "oncall/telegram[0]", "sig1", '["a"]', 10, '{"message_id": 5}', 10),
    )
    rows = [
        (1, "oncall/telegram[0]", "g1", "new", group, 10, "delivered", 1, 10, None, 11),
        (2, "oncall/telegram[0]", "g1", "update", group, 20, "pending", 2, 25, "timeout", None),
        (3, "team-a/webhook[1]", "g2", "new", group, 30, "dead", 5, 40, "permanent: 404", 41),
        (4, "team-a/webhook[1]", "g3", "new", group, 50, "pending", 0, 50, None, None),
    ]
    conn.executemany("INSERT INTO outbox VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.close()


async def test_v1_outbox_moves_into_jobs(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    v1_database(path)
    store = SQLiteStore(path)
    await store.start()
    try:
        assert await store.pending_count() == 2
        assert await store.pending_lanes() == {"oncall/telegram[0]", "team-a/webhook[1]"}
        [upd] = await store.claim(DEST.id, owner="w", now=100, lease=10, limit=10)
        assert (upd.id, upd.type, upd.kind, upd.attempts, upd.not_before, upd.accepted_at) == (
            2,
            "notify",
            "update",
            2,
            25,
            20,
        )
        assert (upd.receiver, upd.integration) == ("oncall", "telegram")
        assert upd.message_ref == {"message_id": 5}  # the thread's reference survived
        assert upd.payload == planned("g1", ("a", "firing")).group.model_dump_json()
        [dead] = await store.dead_letters()
        assert (dead.id, dead.lane, dead.receiver, dead.integration, dead.error) == (
            3,
            "team-a/webhook[1]",
            "team-a",
            "webhook",
            "permanent: 404",
        )
        # new jobs continue after the old ids; the old thread's dedup state still counts
        r = await store.ingest([planned("g9", ("z", "firing"))], now=200, dedup_window=60)
        assert r.enqueued[0][1] == 5
    finally:
        await store.close()
    conn = sqlite3.connect(path)
    assert current_version(conn) == len(MIGRATIONS) >= 3  # every later step applied too
    assert conn.execute("SELECT id, state FROM jobs WHERE id = 1").fetchone() == (1, "done")
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "outbox" not in tables and "enrichments" in tables
    assert {"chat_groups", "chat_replays", "chat_audit"} <= tables
    conn.close()


async def test_processes_starting_at_once_migrate_once(tmp_path: Path) -> None:
    stores = [SQLiteStore(tmp_path / "new.db", busy_timeout=10) for _ in range(4)]
    await asyncio.gather(*(s.start() for s in stores))
    try:
        r = await stores[1].ingest([planned("g", ("a", "firing"))], now=0, dedup_window=60)
        assert len(r.enqueued) == 1
        assert await stores[3].pending_count() == 1
    finally:
        for s in stores:
            await s.close()
