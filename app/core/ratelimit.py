"""Token buckets (GCRA) on an injected clock: how long a send must wait to respect provider limits.

The arithmetic is `reserve_tats` and `penalised_tat` on theoretical arrival times (TATs), one per
key, so it gives the same answers whether the TATs live in a process (`Limiter`) or in the store
shared by every replica (app.store.ratelimits).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

Limit = tuple[str, float, int]
"""(key, per_second, burst) of one bucket."""


def reserve_tats(
    limits: Iterable[Limit], tats: Mapping[str, float], now: float
) -> tuple[float, dict[str, float]]:
    """Try to take one send at `now` from every bucket of `limits`, whose TATs are `tats` (a key
    missing is an unused bucket).

    Returns (0.0, the new TATs of the keys) when the send may go now, else (seconds to wait
    before asking again, {}): nothing is taken unless every bucket conforms. Sends are only
    ever booked at `now`, never in the future, so buckets shared by several lanes stay exact.
    """
    wanted = list(limits)
    at = now
    for key, per_second, burst in wanted:
        at = max(at, tats.get(key, 0.0) - (burst - 1) / per_second)
    if at > now:
        return at - now, {}
    return 0.0, {key: max(tats.get(key, 0.0), now) + 1.0 / per_second for key, per_second, _ in wanted}


def penalised_tat(tat: float, limit: Limit, until: float) -> float:
    """The bucket's TAT once the provider said to wait until `until` (429 with retry-after)."""
    _, per_second, burst = limit
    return max(tat, until + (burst - 1) / per_second)


@dataclass
class Limiter:
    """Buckets by key in this process, shared by every lane whose sends count against the same
    provider limit."""

    tats: dict[str, float] = field(default_factory=dict)

    def reserve(self, limits: Iterable[Limit], now: float) -> float:
        """Take a send now from each bucket (0.0), or the seconds to wait (nothing taken)."""
        wait, taken = reserve_tats(limits, self.tats, now)
        self.tats.update(taken)
        return wait

    def penalise(self, limit: Limit, until: float) -> None:
        """The provider said to wait (429 with retry-after): no send on `limit` before `until`."""
        self.tats[limit[0]] = penalised_tat(self.tats.get(limit[0], 0.0), limit, until)
