"""Clocks for the engine: the system clock, and a manual clock for tests of timers and backoff.

`ManualClock.advance(600)` wakes every sleeper due within those 600 s, in deadline order, letting
each woken task run before moving on; a test of "after 10 minutes" takes milliseconds.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time


class SystemClock:
    """Wall time and asyncio's sleep."""

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


SYSTEM_CLOCK = SystemClock()


class ManualClock:
    """Time moves only when `advance` is awaited (or `set` is called)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._order), fut))
        await fut

    def deadlines(self) -> list[float]:
        """When the tasks sleeping on this clock now will wake, earliest first."""
        return sorted(d for d, _, f in self._sleepers if not f.done())

    async def advance(self, seconds: float) -> None:
        """Move time forward by `seconds`, waking sleepers as their deadlines pass."""
        target = self._now + seconds
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, fut = heapq.heappop(self._sleepers)
            self._now = max(self._now, deadline)
            if not fut.done():
                fut.set_result(None)
                for _ in range(5):  # let the woken task run up to its next await
                    await asyncio.sleep(0)
        self._now = target
