"""Token buckets (GCRA) on an injected clock: how long a send must wait to respect provider limits."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class Bucket:
    per_second: float
    burst: int = 1
    tat: float = 0.0
    """Theoretical arrival time of the next conforming send."""

    @property
    def interval(self) -> float:
        return 1.0 / self.per_second

    def earliest(self, now: float) -> float:
        return max(now, self.tat - (self.burst - 1) * self.interval)

    def take(self, at: float) -> None:
        self.tat = max(self.tat, at) + self.interval


@dataclass
class Limiter:
    """Buckets by key, shared by every lane whose sends count against the same provider limit."""

    buckets: dict[str, Bucket] = field(default_factory=dict)

    def reserve(self, limits: Iterable[tuple[str, float, int]], now: float) -> float:
        """Try to take a send now against each (key, per_second, burst).

        Returns 0.0 when the send may go now (a token was taken from every bucket), else the
        seconds to wait before asking again (nothing taken). Sends are only ever booked at
        `now`, never in the future, so buckets shared by several lanes stay exact.
        """
        chosen = []
        for key, per_second, burst in limits:
            b = self.buckets.get(key)
            if b is None or b.per_second != per_second or b.burst != burst:
                b = self.buckets[key] = Bucket(per_second, burst, tat=b.tat if b else 0.0)
            chosen.append(b)
        at = max((b.earliest(now) for b in chosen), default=now)
        if at > now:
            return at - now
        for b in chosen:
            b.take(now)
        return 0.0

    def penalise(self, key: str, until: float) -> None:
        """The provider said to wait (429 with retry-after): no send on `key` before `until`."""
        b = self.buckets.get(key)
        if b is not None:
            b.tat = max(b.tat, until + (b.burst - 1) * b.interval)
