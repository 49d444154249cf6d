"""Where the rate-limit buckets live: in the store, shared by every replica (`SharedRates`, what
the dispatcher uses), or in this process (`LocalRates`). Same arithmetic (app.core.ratelimit).

A store that cannot answer gives no token: the send waits `UNAVAILABLE_WAIT` and asks again,
so a provider limit is never exceeded because the database was away.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from app.core.ratelimit import Limit, Limiter
from app.store.base import Store, StoreUnavailable

log = logging.getLogger("alertmedic.dispatcher")

UNAVAILABLE_WAIT = 1.0
"""Seconds a send waits before asking again for a token the store could not give."""


class Rates(Protocol):
    async def reserve(self, limits: Sequence[Limit], now: float) -> float:
        """Take a send at `now` from every bucket (0.0), or the seconds to wait (nothing taken)."""
        ...

    async def penalise(self, limit: Limit, until: float) -> None:
        """No send on `limit` before `until` (the provider said 429 retry-after)."""
        ...


class LocalRates:
    """Buckets in this process only (one replica, or a test of the arithmetic)."""

    def __init__(self) -> None:
        self.limiter = Limiter()

    async def reserve(self, limits: Sequence[Limit], now: float) -> float:
        return self.limiter.reserve(limits, now) if limits else 0.0

    async def penalise(self, limit: Limit, until: float) -> None:
        self.limiter.penalise(limit, until)


class SharedRates:
    """Buckets in the store: a chat's 1 message/s holds for the sum of the replicas."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._failing = False

    async def reserve(self, limits: Sequence[Limit], now: float) -> float:
        if not limits:
            return 0.0
        try:
            wait = await self.store.reserve_rate(limits, now=now)
        except StoreUnavailable as exc:
            if not self._failing:  # once per streak
                log.warning("cannot take a rate-limit token; sends wait", extra={"error": str(exc)})
            self._failing = True
            return UNAVAILABLE_WAIT
        self._failing = False
        return wait

    async def penalise(self, limit: Limit, until: float) -> None:
        try:
            await self.store.penalise_rate(limit, until=until)
        except StoreUnavailable as exc:  # the send is retried after retry_after anyway
            log.warning("cannot record a provider's retry-after", extra={"error": str(exc)})
