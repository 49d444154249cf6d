"""What to fetch for an alert group: which alerts a rule applies to, the time windows, the graph's
expression and threshold. Pure functions of the group, the rules' parameters and `now`.

No I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar
from urllib.parse import parse_qs, urlsplit

from app.core.matchers import Matcher, matches_all
from app.core.models import Alert, Group

__all__ = [
    "MAX_POINTS",
    "RangeQuery",
    "distinct_capped",
    "expr_from_generator_url",
    "loki_window",
    "matching_alerts",
    "prometheus_range",
    "threshold_of",
]

MAX_POINTS = 11_000
"""Prometheus refuses a range query of more points per series than this."""
GRAPH_POINTS = 400
"""Points asked per series for a graph about 800 pixels wide: two pixels a point."""

T = TypeVar("T", bound=Hashable)


def matching_alerts(matcher_sets: Sequence[Sequence[Matcher]], group: Group) -> list[Alert]:
    """The group's firing alerts that every matcher of every set matches (a rule's `matchers`
    is a list of strings, each of which may hold several matchers; all must match)."""
    return [a for a in group.firing if all(matches_all(ms, a.labels) for ms in matcher_sets)]


def distinct_capped(items: Iterable[T], cap: int) -> tuple[list[T], int]:
    """The distinct items in first-seen order, at most `cap`, and how many distinct were left out."""
    seen: dict[T, None] = dict.fromkeys(items)
    kept = list(seen)[:cap]
    return kept, len(seen) - len(kept)


def _ns(t: datetime) -> int:
    delta = t - datetime(1970, 1, 1, tzinfo=t.tzinfo)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def loki_window(starts_at: datetime, now: datetime, before: float) -> tuple[int, int]:
    """(start, end) in Unix nanoseconds for a Loki query: from `before` seconds before the
    alert started to now. Loki's `end` is exclusive, so it is now + 1 ns; an alert that claims
    to start in the future (clock skew) is taken as starting now."""
    start = min(starts_at, now) - timedelta(seconds=before)
    return _ns(start), _ns(now) + 1


@dataclass(frozen=True)
class RangeQuery:
    """A Prometheus range query's time parameters, in Unix seconds."""

    start: float
    end: float
    step: float

    @property
    def points(self) -> int:
        return int((self.end - self.start) // self.step) + 1


def prometheus_range(now: datetime, span: float, *, points: int = GRAPH_POINTS) -> RangeQuery:
    """The last `span` seconds up to `now`, with a whole-second step giving about `points`
    points and never more than Prometheus' limit."""
    end = now.timestamp()
    span = max(span, 1.0)
    step = float(max(1, math.ceil(span / max(points, 1))))
    while span / step > MAX_POINTS:  # Prometheus refuses (end - start) / step > 11000
        step += 1.0
    return RangeQuery(end - span, end, step)


def expr_from_generator_url(url: str) -> str | None:
    """The PromQL expression of an alert's `generatorURL`: its `g0.expr` query parameter,
    whatever the host or path (Prometheus 2.x `/graph`, 3.x `/query`). None when absent."""
    try:
        query = urlsplit(url).query
    except ValueError:
        return None
    values = parse_qs(query, keep_blank_values=False).get("g0.expr", [])
    expr = values[0].strip() if values else ""
    return expr or None


_COMPARISON = re.compile(
    r"(?:==|!=|>=|<=|>|<)\s*(?:bool\s+)?([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)


def threshold_of(expr: str) -> float | None:
    """The constant an expression is compared against at its top level (`… > 0.5`), if any."""
    m = _COMPARISON.search(expr)
    if m is None:
        return None
    depth = 0
    for ch in expr[: m.start()]:
        depth += {"(": 1, ")": -1, "{": 1, "}": -1, "[": 1, "]": -1}.get(ch, 0)
    if depth != 0:
        return None
    value = float(m.group(1))
    return value if math.isfinite(value) else None
