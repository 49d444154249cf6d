"""SQLite store (WAL) with one writer thread that group-commits: many webhooks, one fsync.

Every operation runs on the writer thread, in the order submitted. The thread takes all that is
queued, runs each in its own savepoint inside one transaction and commits once, so concurrent
webhooks share the cost of the fsync. Transactions that carry accepted notifications commit with
`synchronous=FULL` (they survive power loss); bookkeeping of deliveries commits with NORMAL
(it survives a killed process, which is what `kill -9` needs; a power loss could at worst cause a
delivery to be repeated, never lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from app.core.dedup import ThreadState, decide, signature
from app.core.plan import Planned
from app.store.base import IngestResult, OutboxRow, StoreUnavailable
from app.store.migrations import migrate

T = TypeVar("T")
Op = Callable[[sqlite3.Connection], Any]

_MAX_BATCH = 512
CHECKPOINT_EVERY = 1.0
"""Seconds between background WAL checkpoints."""


class _Job:
    __slots__ = ("durable", "fn", "future", "loop")

    def __init__(self, fn: Op, durable: bool, loop: asyncio.AbstractEventLoop) -> None:
        self.fn = fn
        self.durable = durable
        self.loop = loop
        self.future: asyncio.Future[Any] = loop.create_future()


def _settle(results: list[tuple[_Job, bool, Any]]) -> None:
    for job, ok, value in results:
        if job.future.done():
            continue
        if ok:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)


class SQLiteStore:
    """`Store` on one SQLite file. `busy_timeout` bounds how long a write waits for a lock."""

    def __init__(self, path: str | Path, *, busy_timeout: float = 5.0) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        self._checkpointer: threading.Thread | None = None
        self._stop_checkpoints = threading.Event()

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        loop = asyncio.get_running_loop()

        def run() -> None:
            try:
                self._conn = self._open()
            except Exception as exc:  # reported to start()'s caller
                err = StoreUnavailable(f"cannot open {self.path}: {exc}")
                loop.call_soon_threadsafe(ready.set_exception, err)
                return
            loop.call_soon_threadsafe(ready.set_result, None)
            self._serve()

        self._thread = threading.Thread(target=run, name="alertmedic-sqlite", daemon=True)
        self._thread.start()
        await ready
        self._checkpointer = threading.Thread(
            target=self._checkpoint_forever, name="alertmedic-sqlite-checkpoint", daemon=True
        )
        self._checkpointer.start()

    def _checkpoint_forever(self) -> None:
        """Copy the WAL back into the database off the writer thread.

        The writer never checkpoints (`wal_autocheckpoint=0`): a checkpoint's fsync of the
        database file would stall every webhook waiting for a commit. PASSIVE checkpoints here
        never block the writer; the WAL is truncated when the store closes.
        """
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            return
        with contextlib.closing(conn):
            while not self._stop_checkpoints.wait(CHECKPOINT_EVERY):
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=self.busy_timeout
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
        migrate(conn)
        return conn

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop_checkpoints.set()
        if self._checkpointer is not None:
            await asyncio.to_thread(self._checkpointer.join, 10)
        self._queue.put(None)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 10)

    # --- the writer thread --------------------------------------------------------------

    def _serve(self) -> None:
        conn = self._conn
        assert conn is not None
        while True:
            first = self._queue.get()
            if first is None:
                break
            jobs = [first]
            stop = False
            while len(jobs) < _MAX_BATCH:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                jobs.append(nxt)
            self._run_batch(conn, jobs)
            if stop:
                break
        with contextlib.suppress(sqlite3.Error):
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        # Anything queued after close: fail it rather than leave a caller waiting forever.
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job.loop.call_soon_threadsafe(_settle, [(job, False, StoreUnavailable("store is closed"))])

    def _run_batch(self, conn: sqlite3.Connection, jobs: list[_Job]) -> None:
        results: list[tuple[_Job, bool, Any]] = []
        try:
            durable = any(j.durable for j in jobs)
            conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            conn.execute("BEGIN IMMEDIATE")
            for job in jobs:
                conn.execute("SAVEPOINT op")
                try:
                    value = job.fn(conn)
                except Exception as exc:
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                    results.append((job, False, _translate(exc)))
                else:
                    conn.execute("RELEASE op")
                    results.append((job, True, value))
            conn.execute("COMMIT")
        except Exception as exc:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            err = _translate(exc)
            results = [(j, False, err) for j in jobs]
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Job, bool, Any]]] = {}
        for item in results:
            by_loop.setdefault(item[0].loop, []).append(item)
        for loop, items in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits any more
                loop.call_soon_threadsafe(_settle, items)

    def _enqueue(self, fn: Callable[[sqlite3.Connection], T], *, durable: bool = False) -> asyncio.Future[T]:
        """Queue `fn` for the writer now (its place in the order is taken at this call)."""
        if self._closed or self._thread is None or not self._thread.is_alive():
            raise StoreUnavailable("store is closed")
        job = _Job(fn, durable, asyncio.get_running_loop())
        self._queue.put(job)
        return job.future

    async def _submit(self, fn: Callable[[sqlite3.Connection], T], *, durable: bool = False) -> T:
        result: T = await self._enqueue(fn, durable=durable)
        return result

    # --- operations ----------------------------------------------------------------------

    async def ingest(self, plans: Sequence[Planned], *, now: float, dedup_window: float) -> IngestResult:
        prepared = []
        # destinations that take the same alerts share one Group (Router.plan): serialise it once
        done: dict[int, tuple[str, frozenset[str], str]] = {}
        for p in plans:
            if id(p.group) not in done:
                firing = frozenset(a.fingerprint for a in p.group.alerts if a.status == "firing")
                done[id(p.group)] = (signature(p.group.alerts), firing, p.group.model_dump_json())
            sig, firing, payload = done[id(p.group)]
            prepared.append((p.destination.id, p.group.groupKey, sig, firing, payload))

        def op(conn: sqlite3.Connection) -> IngestResult:
            enqueued: list[tuple[str, int]] = []
            duplicates: list[str] = []
            for dest, group_key, sig, firing, payload in prepared:
                row = conn.execute(
                    "SELECT signature, firing, accepted_at FROM threads"
                    " WHERE group_key = ? AND destination = ?",
                    (group_key, dest),
                ).fetchone()
                prev = None if row is None else ThreadState(row[0], frozenset(json.loads(row[1])), row[2])
                decision = decide(prev, sig=sig, firing=firing, now=now, window=dedup_window)
                if decision == "duplicate":
                    duplicates.append(dest)
                    continue
                conn.execute(
                    "INSERT INTO threads (group_key, destination, signature, firing, accepted_at,"
                    " updated_at) VALUES (?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (group_key, destination) DO UPDATE SET signature = excluded.signature,"
                    " firing = excluded.firing, accepted_at = excluded.accepted_at,"
                    " updated_at = excluded.updated_at",
                    (group_key, dest, sig, json.dumps(sorted(firing)), now, now),
                )
                cur = conn.execute(
                    "INSERT INTO outbox (destination, group_key, kind, payload, accepted_at,"
                    " next_attempt_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (dest, group_key, decision, payload, now, now),
                )
                assert cur.lastrowid is not None
                enqueued.append((dest, cur.lastrowid))
            return IngestResult(enqueued, duplicates)

        return await self._submit(op, durable=True)

    async def next_batch(self, destination: str, *, limit: int, after: int = 0) -> list[OutboxRow]:
        def op(conn: sqlite3.Connection) -> list[OutboxRow]:
            rows = conn.execute(
                "SELECT o.id, o.destination, o.group_key, o.kind, o.payload, o.accepted_at,"
                " o.attempts, o.next_attempt_at, t.message_ref FROM outbox o"
                " LEFT JOIN threads t ON t.group_key = o.group_key AND t.destination = o.destination"
                " WHERE o.destination = ? AND o.state = 'pending' AND o.id > ? ORDER BY o.id LIMIT ?",
                (destination, after, limit),
            ).fetchall()
            return [
                OutboxRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], json.loads(r[8]) if r[8] else None)
                for r in rows
            ]

        return await self._submit(op)

    def mark_delivered(
        self, row: OutboxRow, *, ref: dict[str, Any] | None, now: float
    ) -> asyncio.Future[None]:
        """Queued at once, in order with later operations; await the result to know it is done."""
        ref_json = None if ref is None else json.dumps(ref, separators=(",", ":"))

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE outbox SET state = 'delivered', finished_at = ?, last_error = NULL WHERE id = ?",
                (now, row.id),
            )
            if ref_json is not None:
                conn.execute(
                    "UPDATE threads SET message_ref = ?, updated_at = ?"
                    " WHERE group_key = ? AND destination = ?",
                    (ref_json, now, row.group_key, row.destination),
                )

        return self._enqueue(op)

    async def mark_retry(self, row_id: int, *, attempts: int, next_attempt_at: float, error: str) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE outbox SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ?",
                (attempts, next_attempt_at, error[:2000], row_id),
            )

        await self._submit(op)

    async def mark_dead(self, row_id: int, *, reason: str, now: float) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE outbox SET state = 'dead', finished_at = ?, last_error = ? WHERE id = ?",
                (now, reason[:2000], row_id),
            )

        await self._submit(op)

    async def mark_dead_destination(self, destination: str, *, reason: str, now: float) -> int:
        def op(conn: sqlite3.Connection) -> int:
            return int(
                conn.execute(
                    "UPDATE outbox SET state = 'dead', finished_at = ?, last_error = ?"
                    " WHERE destination = ? AND state = 'pending'",
                    (now, reason[:2000], destination),
                ).rowcount
            )

        return await self._submit(op)

    async def pending_count(self) -> int:
        def op(conn: sqlite3.Connection) -> int:
            return int(conn.execute("SELECT count(*) FROM outbox WHERE state = 'pending'").fetchone()[0])

        return await self._submit(op)

    async def pending_destinations(self) -> set[str]:
        def op(conn: sqlite3.Connection) -> set[str]:
            return {
                r[0] for r in conn.execute("SELECT DISTINCT destination FROM outbox WHERE state = 'pending'")
            }

        return await self._submit(op)

    async def ping(self) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE meta SET value = value WHERE key = 'schema_version'")

        await self._submit(op)

    async def purge(self, *, older_than: float) -> int:
        def op(conn: sqlite3.Connection) -> int:
            n = conn.execute(
                "DELETE FROM outbox WHERE state != 'pending' AND finished_at < ?", (older_than,)
            ).rowcount
            n += conn.execute(
                "DELETE FROM threads WHERE updated_at < ? AND NOT EXISTS (SELECT 1 FROM outbox o"
                " WHERE o.group_key = threads.group_key AND o.destination = threads.destination"
                " AND o.state = 'pending')",
                (older_than,),
            ).rowcount
            return int(n)

        return await self._submit(op)

    async def dead_letters(self, *, limit: int = 100) -> list[dict[str, Any]]:
        """The most recent dead-lettered notifications (for the CLI and operators)."""

        def op(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            rows = conn.execute(
                "SELECT id, destination, group_key, accepted_at, finished_at, attempts, last_error"
                " FROM outbox WHERE state = 'dead' ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
            keys = ("id", "destination", "group_key", "accepted_at", "finished_at", "attempts", "error")
            return [dict(zip(keys, r, strict=True)) for r in rows]

        return await self._submit(op)


def _translate(exc: BaseException) -> Exception:
    if isinstance(exc, sqlite3.OperationalError | sqlite3.DatabaseError):
        return StoreUnavailable(f"sqlite: {exc}")
    if isinstance(exc, Exception):
        return exc
    return RuntimeError(repr(exc))
