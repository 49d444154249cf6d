"""The guards, in the fixed order they are applied, and a refusal naming the guard that stopped an
action. Refusals are outcomes to report and count, never errors."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Guard(enum.StrEnum):
    """Each value is the guard's name in reports and the `guard` label of metrics."""

    NAMESPACE = "namespace"
    TARGET = "target"
    ONCE = "once_until_resolved"
    COOLDOWN = "cooldown"
    BREAKER = "circuit_breaker"
    PAUSED = "paused"
    ROLLING = "rolling"
    REPLICAS = "replicas"
    """scale only: the target already has the replicas the action would set (at a bound)."""


GUARD_ORDER: tuple[Guard, ...] = tuple(Guard)
"""Namespace allow-list, valid target, once-until-resolved, cooldown per (action, target),
circuit breaker per target, paused / still-rolling workload (and replica bounds for scale);
dry-run and approval come after these and are not refusals."""


@dataclass(frozen=True)
class Refusal:
    guard: Guard
    reason: str
