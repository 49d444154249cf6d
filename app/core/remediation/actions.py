"""An action as the core sees it (built once by the config from `remediation.actions[]`), the
global remediation policy, and the Kubernetes permissions each action kind needs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from app.core.matchers import Matcher, matches_all
from app.core.remediation.targets import TargetKind, TargetTemplate

ActionKind = Literal["rollout_restart", "scale", "delete_pod", "job_from_cronjob", "http"]
ACTION_KINDS: tuple[ActionKind, ...] = ("rollout_restart", "scale", "delete_pod", "job_from_cronjob", "http")

TARGET_KINDS: dict[ActionKind, tuple[TargetKind, ...]] = {
    "rollout_restart": ("Deployment", "StatefulSet", "DaemonSet"),
    "scale": ("Deployment", "StatefulSet"),
    "delete_pod": ("Pod",),
    "job_from_cronjob": ("CronJob",),
    "http": ("HTTP",),
}
"""The object kinds each action kind may target (the first one is its default where it has one)."""


@dataclass(frozen=True)
class ScaleSpec:
    """`replicas: "+1"` (relative) or `"4"` (absolute), kept within [min_replicas, max_replicas]."""

    amount: int
    relative: bool
    min_replicas: int
    max_replicas: int | None


@dataclass(frozen=True)
class HttpCall:
    """The request of an `http` action. Credentials stay in the config, never here."""

    method: str
    url: str
    expect_status: frozenset[int]
    """Statuses that count as success; empty means any 2xx."""
    timeout: float

    def expected(self, status: int) -> bool:
        return status in self.expect_status if self.expect_status else 200 <= status <= 299


@dataclass(frozen=True)
class ActionSpec:
    """One configured action. Exactly one of `target` (Kubernetes kinds) and `http` is set."""

    name: str
    kind: ActionKind
    matchers: tuple[Matcher, ...]
    target: TargetTemplate | None = None
    http: HttpCall | None = None
    scale: ScaleSpec | None = None
    cooldown: float = 900.0
    once_until_resolved: bool = True
    verify_timeout: float = 300.0
    approval_required: bool = False
    approval_timeout: float = 1800.0

    def matches(self, labels: dict[str, str]) -> bool:
        return matches_all(self.matchers, labels)


@dataclass(frozen=True)
class Policy:
    """The `remediation:` settings that apply to every action."""

    allowed_namespaces: frozenset[str] = field(default_factory=frozenset)
    """Deny by default: a Kubernetes target outside these namespaces is refused."""
    dry_run: bool = False
    breaker_max_actions: int = 3
    breaker_within: float = 3600.0


Permission = tuple[str, str, str]
"""(API group, resource, verb) as an RBAC rule grants it; "" is the core group."""

_PERMISSIONS: dict[ActionKind, frozenset[Permission]] = {
    # read to refuse a paused / still-rolling workload and to verify; patch to restart.
    "rollout_restart": frozenset(
        ("apps", r, v) for r in ("deployments", "statefulsets", "daemonsets") for v in ("get", "patch")
    ),
    # the scale subresource to read and set replicas; the workload to verify the rollout.
    "scale": frozenset(
        {("apps", f"{r}/scale", v) for r in ("deployments", "statefulsets") for v in ("get", "patch")}
        | {("apps", r, "get") for r in ("deployments", "statefulsets")}
    ),
    # read the uid (a delete precondition), delete, then read again to see it gone or replaced.
    "delete_pod": frozenset({("", "pods", "get"), ("", "pods", "delete")}),
    # read the jobTemplate, create the Job, read the Job to verify (and after a 409 AlreadyExists).
    "job_from_cronjob": frozenset(
        {("batch", "cronjobs", "get"), ("batch", "jobs", "create"), ("batch", "jobs", "get")}
    ),
    "http": frozenset(),
}


def permissions(kinds: Iterable[ActionKind]) -> frozenset[Permission]:
    """Exactly the RBAC permissions the given action kinds need in each allowed namespace."""
    out: frozenset[Permission] = frozenset()
    for kind in kinds:
        out |= _PERMISSIONS[kind]
    return out
