"""The clock the engine reads and sleeps on: injected, so timers and backoff are testable.

Only the protocol lives here (the core does no I/O); `app.engine.clock` has the real clock and a
manual one whose sleepers wake when a test advances time.
"""

from __future__ import annotations

from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch (wall time: it is stored and compared across restarts)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return once `seconds` have passed on this clock."""
        ...
