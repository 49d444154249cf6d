"""Pacing of a delivery's further provider calls: each one takes a token of the sink's rate limits.

The dispatcher takes one token before a notify job runs; a delivery that posts more than one
message (a Telegram photo replying to the alert) awaits its `pace` before each further one, so a
chat limited to 1 message/s gets its alert and its photo one second apart and the next alert one
second after that. The wait is on the engine's clock and is not part of the send timeout.
"""

from __future__ import annotations

import asyncio

from app.core.clock import Clock
from app.engine.rates import Rates
from app.sinks.base import Sink


class Pacer:
    """The `Delivery.pace` of one send of `sink`, within the send's timeout `budget`."""

    def __init__(self, sink: Sink, *, rates: Rates, clock: Clock, budget: asyncio.Timeout) -> None:
        self._sink = sink
        self._rates = rates
        self._clock = clock
        self._budget = budget

    async def __call__(self) -> None:
        limits = [(lim.key, lim.per_second, lim.burst) for lim in self._sink.rate_limits()]
        if not limits or (wait := await self._rates.reserve(limits, self._clock.now())) <= 0:
            return
        loop = asyncio.get_running_loop()
        deadline, paused = self._budget.when(), loop.time()
        self._budget.reschedule(None)  # waiting for a token is not the provider being slow
        try:
            while wait > 0:
                await self._clock.sleep(wait)
                wait = await self._rates.reserve(limits, self._clock.now())
        finally:
            if deadline is not None and not self._budget.expired():
                self._budget.reschedule(deadline + loop.time() - paused)
