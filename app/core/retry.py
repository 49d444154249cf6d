"""Retry policy: exponential backoff with jitter, provider-given waits, a bounded horizon."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    initial: float = 1.0
    maximum: float = 300.0
    horizon: float = 86400.0
    """Seconds after acceptance past which a delivery is dead-lettered instead of retried."""

    def delay(
        self, attempt: int, *, retry_after: float | None = None, rand: random.Random | None = None
    ) -> float:
        """Seconds before attempt `attempt + 1`, given `attempt` failures so far (>= 1).

        Equal jitter: half the exponential step is fixed, half random, so retries of many
        deliveries spread out without ever retrying immediately. A provider's `retry_after`
        is honoured as given (plus at most 10 %, capped at 1 s, of jitter), never shortened.
        """
        r = (rand or random).random()
        if retry_after is not None and retry_after > 0:
            return retry_after + r * min(1.0, retry_after * 0.1)
        step = min(self.maximum, self.initial * 2 ** min(max(attempt - 1, 0), 30))
        return float(step / 2 + r * step / 2)

    def gives_up(self, *, accepted_at: float, now: float, next_delay: float) -> bool:
        """True when the next attempt would fall past the horizon."""
        return now + next_delay - accepted_at > self.horizon
