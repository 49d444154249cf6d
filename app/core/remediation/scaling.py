"""The replicas a `scale` action sets: relative ("+1", "-1") or absolute ("4"), within bounds."""

from __future__ import annotations

import re

from app.core.remediation.actions import ScaleSpec

_REPLICAS = re.compile(r"([+-])?(\d{1,6})")


def parse_replicas(text: str | int) -> tuple[int, bool]:
    """(amount, relative) from "+1", "-2", "4" or 4. Raises ValueError naming the input."""
    if isinstance(text, bool):
        raise ValueError(f'replicas must be like "+1", "-1" or "4", got {text!r}')
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"absolute replicas must not be negative, got {text}")
        return text, False
    m = _REPLICAS.fullmatch(text.strip())
    if m is None:
        raise ValueError(f'replicas must be like "+1", "-1" or "4", got {text!r}')
    sign, digits = m.group(1), int(m.group(2))
    if sign is None:
        return digits, False
    if digits == 0:
        raise ValueError(f"a relative change of {text!r} changes nothing")
    return (digits if sign == "+" else -digits), True


def desired_replicas(spec: ScaleSpec, current: int) -> int | str:
    """The replicas to set when the workload has `current`, or why nothing is to be done.

    A relative change never moves the other way: "+1" on a workload already above
    `max_replicas` (scaled by hand) does nothing rather than scale it down to the bound.
    """
    wanted = current + spec.amount if spec.relative else spec.amount
    if spec.max_replicas is not None:
        wanted = min(wanted, spec.max_replicas)
    wanted = max(wanted, spec.min_replicas)
    if wanted == current or (spec.relative and (wanted - current) * spec.amount < 0):
        bound = _bound(spec)
        return f"already at {current} replicas{bound}"
    return wanted


def _bound(spec: ScaleSpec) -> str:
    if spec.relative and spec.amount > 0 and spec.max_replicas is not None:
        return f" (max_replicas {spec.max_replicas})"
    if spec.relative and spec.amount < 0:
        return f" (min_replicas {spec.min_replicas})"
    return ""
