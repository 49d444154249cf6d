"""SQLite store on a real file: durable ingest, dedup by thread, order, refs, locks, purge, WAL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from app.store.base import Job, StoreUnavailable
from app.store.sqlite import SQLiteStore
from tests.store.conftest import DEST, planned


async def pending(store: SQLiteStore, limit: int) -> list[Job]:
    """The lane's pending jobs in order (claimed and released again, as a reader would see them)."""
    jobs = await store.claim(DEST.id, owner="reader", now=0, lease=10, limit=limit)
    await store.release("reader")
    return jobs


@pytest.fixture
async def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = SQLiteStore(tmp_path / "state.db")
    await s.start()
    yield s
    await s.close()


async def test_ingest_dedups_within_window_and_orders(store: SQLiteStore, tmp_path: Path) -> None:
    r1 = await store.ingest([planned("g1", ("a", "firing"))], now=100, dedup_window=60)
    assert len(r1.enqueued) == 1 and r1.duplicates == []
    r2 = await store.ingest([planned("g1", ("a", "firing"))], now=110, dedup_window=60)
    assert r2.enqueued == [] and r2.duplicates == [DEST.id]
    r3 = await store.ingest([planned("g1", ("a", "resolved"))], now=120, dedup_window=60)
    r4 = await store.ingest([planned("g1", ("a", "firing"))], now=500, dedup_window=60)
    assert len(r3.enqueued) == len(r4.enqueued) == 1
    rows = await pending(store, 10)
    assert [r.kind for r in rows] == ["new", "update", "new"]
    assert [r.id for r in rows] == sorted(r.id for r in rows)
    assert await store.pending_count() == 3
    # durable: a second connection (another process would be the same) sees the rows
    conn = sqlite3.connect(tmp_path / "state.db")
    assert conn.execute("SELECT count(*) FROM jobs WHERE state='pending'").fetchone()[0] == 3
    conn.close()


async def test_repeat_after_window_is_enqueued_again(store: SQLiteStore) -> None:
    await store.ingest([planned("g", ("a", "firing"))], now=0, dedup_window=60)
    r = await store.ingest([planned("g", ("a", "firing"))], now=61, dedup_window=60)
    assert len(r.enqueued) == 1
    assert [x.kind for x in await pending(store, 5)] == ["new", "new"]


async def test_delivered_ref_is_on_the_thread(store: SQLiteStore) -> None:
    await store.ingest([planned("g", ("a", "firing"))], now=0, dedup_window=60)
    [row] = await pending(store, 5)
    assert row.message_ref is None
    await store.complete(row, ref={"chat_id": 1, "message_id": 7}, now=1)
    assert await pending(store, 5) == []
    await store.ingest([planned("g", ("a", "resolved"))], now=2, dedup_window=60)
    [upd] = await pending(store, 5)
    assert upd.kind == "update" and upd.message_ref == {"chat_id": 1, "message_id": 7}


async def test_retry_and_dead(store: SQLiteStore) -> None:
    await store.ingest([planned("g", ("a", "firing")), planned("h", ("b", "firing"))], now=0, dedup_window=60)
    first, second = await pending(store, 5)
    await store.retry(first.id, attempts=2, not_before=50, error="boom")
    [again, _] = await pending(store, 5)
    assert (again.attempts, again.not_before) == (2, 50)
    await store.dead(first.id, reason="permanent: 403", now=60)
    dead = await store.dead_letters()
    assert [(d.id, d.error) for d in dead] == [(first.id, "permanent: 403")]
    assert [r.id for r in await pending(store, 5)] == [second.id]
    assert await store.pending_lanes() == {DEST.id}


async def test_locked_database_is_unavailable_not_lost(tmp_path: Path) -> None:
    s = SQLiteStore(tmp_path / "state.db", busy_timeout=0.2)
    await s.start()
    try:
        other = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StoreUnavailable):
            await s.ingest([planned("g", ("a", "firing"))], now=0, dedup_window=60)
        with pytest.raises(StoreUnavailable):
            await s.ping()
        other.execute("ROLLBACK")
        other.close()
        r = await s.ingest([planned("g", ("a", "firing"))], now=0, dedup_window=60)
        assert len(r.enqueued) == 1
    finally:
        await s.close()


async def test_purge_keeps_pending(store: SQLiteStore) -> None:
    await store.ingest([planned("g", ("a", "firing")), planned("h", ("b", "firing"))], now=0, dedup_window=60)
    first, _ = await pending(store, 5)
    await store.complete(first, ref=None, now=10)
    removed = await store.purge(older_than=1000)
    assert removed == 2  # the delivered row and its idle thread
    assert await store.pending_count() == 1


async def test_closed_store_refuses(tmp_path: Path) -> None:
    s = SQLiteStore(tmp_path / "x.db")
    await s.start()
    await s.close()
    with pytest.raises(StoreUnavailable):
        await s.ping()


async def test_schema_from_the_future_is_refused(tmp_path: Path) -> None:
    s = SQLiteStore(tmp_path / "x.db")
    await s.start()
    await s.close()
    conn = sqlite3.connect(tmp_path / "x.db")
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreUnavailable, match="newer than this alertmedic"):
        await SQLiteStore(tmp_path / "x.db").start()


async def test_wal_is_checkpointed_off_the_writer(tmp_path: Path) -> None:
    import asyncio

    s = SQLiteStore(tmp_path / "w.db")
    await s.start()
    for i in range(50):
        await s.ingest([planned(f"g{i}", ("a", "firing"))], now=0, dedup_window=60)
    # the writer never checkpoints; the background checkpointer copies the WAL back
    await asyncio.sleep(1.5)
    conn = sqlite3.connect(f"file:{tmp_path / 'w.db'}?mode=ro", uri=True)
    _busy, wal_pages, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    conn.close()
    assert wal_pages == done  # nothing left to copy
    await s.close()
    wal = tmp_path / "w.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0  # folded back on close
    conn = sqlite3.connect(tmp_path / "w.db")
    assert conn.execute("SELECT count(*) FROM jobs").fetchone()[0] == 50
    conn.close()
