"""Prometheus durations ("30s", "5m", "1h30m") as seconds, with Prometheus' rules.

As in Prometheus' `model.ParseDuration`: units y, w, d, h, m, s, ms (a year is 365 days, a day
24 hours), each used at most once and in that descending order; a bare `0` is allowed.
"""

from __future__ import annotations

import re

_UNITS = {"y": 31536000.0, "w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_ORDER = list(_UNITS)
_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_HINT = "use e.g. 30s, 5m, 1h30m"


def parse_duration(text: str | int | float) -> float:
    """Seconds in `text`; numbers are taken as seconds. Raises ValueError naming the input."""
    if isinstance(text, bool):
        raise ValueError(f"not a duration: {text!r}")
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError(f"duration must not be negative: {text!r}")
        return float(text)
    if text == "0":
        return 0.0
    pos, total, last = 0, 0.0, -1
    while pos < len(text):
        m = _PART.match(text, pos)
        if m is None:
            raise ValueError(f"not a duration: {text!r} ({_HINT})")
        unit = m.group(2)
        rank = _ORDER.index(unit)
        if rank == last:
            raise ValueError(f"not a duration: {text!r} (unit {unit!r} given twice)")
        if rank < last:
            raise ValueError(
                f"not a duration: {text!r} (units must go from largest to smallest, "
                f"{' '.join(_ORDER)}: {unit!r} comes after {_ORDER[last]!r})"
            )
        last = rank
        total += int(m.group(1)) * _UNITS[unit]
        pos = m.end()
    if pos == 0:
        raise ValueError(f"not a duration: {text!r} ({_HINT})")
    return total


def format_duration(seconds: float) -> str:
    """Inverse of parse_duration for whole seconds, e.g. 5400 -> '1h30m'."""
    if seconds < 1:
        return f"{int(seconds * 1000)}ms"
    rest, out = int(seconds), []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            out.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(out)
