"""The manual clock: sleepers wake in deadline order as a test advances time, and not before."""

from __future__ import annotations

import asyncio
import time

from app.engine.clock import ManualClock, SystemClock


async def test_sleepers_wake_in_order_as_time_advances() -> None:
    clock = ManualClock(start=1000)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.now()))
        if name == "a":  # a sleep started by a woken task also wakes within the same advance
            await clock.sleep(5)
            woke.append(("a-again", clock.now()))

    tasks = [asyncio.create_task(sleeper(n, s)) for n, s in (("b", 60), ("a", 10), ("c", 600))]
    await asyncio.sleep(0)
    assert clock.deadlines() == [1010, 1060, 1600]
    await clock.advance(59)
    assert woke == [("a", 1010), ("a-again", 1015)] and clock.now() == 1059
    await clock.advance(1)
    assert woke[-1] == ("b", 1060)
    await clock.advance(539)
    assert len(woke) == 3
    await clock.advance(1)
    assert woke[-1] == ("c", 1600)
    await asyncio.gather(*tasks)


async def test_a_cancelled_sleeper_is_forgotten() -> None:
    clock = ManualClock()
    task = asyncio.create_task(clock.sleep(30))
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.sleep(0)
    assert clock.deadlines() == []
    await clock.advance(60)  # nothing to wake, no error


async def test_the_system_clock_sleeps_for_real() -> None:
    clock = SystemClock()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await clock.sleep(0.01)
    assert loop.time() - t0 >= 0.009
    assert abs(clock.now() - time.time()) < 1
