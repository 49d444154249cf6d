"""Work on one replica only (app.engine.held): of two replicas on one store the lease holder runs
it; the other takes it over when the holder stops (at once) or loses its store (after the
lease), and a holder that cannot renew stops its work. Real SQLite file, real clock, short lease."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from app.engine.clock import SYSTEM_CLOCK
from app.engine.held import run_while_held
from app.store.sqlite import SQLiteStore

LEASE = 0.6


class Work:
    """A stand-in for the poller: counts who runs, and when."""

    def __init__(self) -> None:
        self.running: set[str] = set()
        self.started: dict[str, float] = {}
        self.overlaps = 0

    def of(self, who: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            if self.running:
                self.overlaps += 1
            self.running.add(who)
            self.started.setdefault(who, time.monotonic())
            try:
                await asyncio.Event().wait()
            finally:
                self.running.discard(who)

        return run


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def replicas(tmp_path: Path, work: Work) -> tuple[list[SQLiteStore], list[asyncio.Task[None]]]:
    stores = [SQLiteStore(tmp_path / "state.db"), SQLiteStore(tmp_path / "state.db")]
    for s in stores:
        await s.start()
    tasks = [
        asyncio.create_task(
            run_while_held(
                s, "poll:telegram:1", owner=who, clock=SYSTEM_CLOCK, lease=LEASE, work=work.of(who)
            )
        )
        for s, who in zip(stores, "AB", strict=True)
    ]
    await until(lambda: len(work.running) == 1)
    return stores, tasks


async def stop(stores: list[SQLiteStore], tasks: list[asyncio.Task[None]]) -> None:
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for s in stores:
        await s.close()


async def test_one_runs_and_a_graceful_stop_hands_over_at_once(tmp_path: Path) -> None:
    work = Work()
    stores, tasks = await replicas(tmp_path, work)
    try:
        await asyncio.sleep(3 * LEASE)  # renewals keep it with the first
        [first] = work.running
        assert work.started.keys() == {first}
        holder = "AB".index(first)
        tasks[holder].cancel()
        await asyncio.gather(tasks[holder], return_exceptions=True)
        stopped = time.monotonic()
        await until(lambda: work.running == {"AB"[1 - holder]})
        assert time.monotonic() - stopped < LEASE  # given back: the next try (lease/3) takes it
        assert work.overlaps == 0
    finally:
        await stop(stores, tasks)


async def test_a_holder_that_loses_its_store_stops_and_the_other_takes_over_after_the_lease(
    tmp_path: Path,
) -> None:
    work = Work()
    stores, tasks = await replicas(tmp_path, work)
    try:
        [first] = work.running
        holder = "AB".index(first)
        await stores[holder].close()  # its renewals fail: as a replica cut off from the database
        lost = time.monotonic()
        await until(lambda: first not in work.running)
        assert time.monotonic() - lost < LEASE  # stopped at the first failed renewal
        await until(lambda: work.running == {"AB"[1 - holder]})
        took = time.monotonic() - lost
        assert LEASE / 3 <= took < LEASE + LEASE / 3 + 0.5  # the lease ran out, then a try
        assert work.overlaps == 0
    finally:
        await stop(stores, tasks)
