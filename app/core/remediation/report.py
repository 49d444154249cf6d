"""The line posted in the alert's thread for each outcome of an action, e.g.

    🔧 rollout restart prod/model-api: complete in 41 s (3/3 pods updated and available)

The outcome words are a contract (metrics label and text): succeeded, failed, refused, would,
awaiting_approval, rejected, expired, cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from app.core.remediation.actions import ActionKind
from app.core.remediation.refusals import Refusal
from app.core.remediation.targets import Target

Outcome = Literal[
    "succeeded", "failed", "refused", "would", "awaiting_approval", "rejected", "expired", "cancelled"
]
OUTCOMES: tuple[Outcome, ...] = (
    "succeeded",
    "failed",
    "refused",
    "would",
    "awaiting_approval",
    "rejected",
    "expired",
    "cancelled",
)

_VERB: dict[ActionKind, str] = {
    "rollout_restart": "rollout restart",
    "scale": "scale",
    "delete_pod": "delete pod",
    "job_from_cronjob": "create job from cronjob",
    "http": "call",
}
_ICON: dict[Outcome, str] = {
    "succeeded": "🔧",
    "failed": "❌",
    "refused": "⛔",
    "would": "🧪",
    "awaiting_approval": "⏳",
    "rejected": "🚫",
    "expired": "⌛",
    "cancelled": "✖️",
}
DETAIL_LIMIT = 300
TARGET_LIMIT = 63 + 1 + 253
"""The longest valid "namespace/name"; a crafted (refused) target is cut there."""


@dataclass(frozen=True)
class Report:
    action: str
    kind: ActionKind
    target: Target | None
    """None only for a refusal whose target could not be rendered."""
    outcome: Outcome
    detail: str = ""
    """succeeded / failed: the verdict's words; others: extra words (e.g. replicas "3 → 4")."""
    seconds: float | None = None
    """succeeded / failed: time from the action to the verdict."""
    refusal: Refusal | None = None
    actor: str = ""
    """rejected: who rejected it."""
    ttl: float | None = None
    """awaiting_approval / expired: the approval timeout."""


def format_seconds(seconds: float) -> str:
    """41 s, 2 min 5 s, 1 h 3 min."""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min" + (f" {s % 60} s" if s % 60 else "")
    return f"{s // 3600} h" + (f" {s % 3600 // 60} min" if s % 3600 // 60 else "")


def _one_line(text: str, limit: int = DETAIL_LIMIT) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def report_text(r: Report) -> str:
    """One line of plain text (sinks escape it for their markup)."""
    # The target comes from labels: a refused one may hold a newline that would forge a line.
    shown = _one_line(str(r.target), TARGET_LIMIT) if r.target is not None else f"({r.action})"
    what = f"{_VERB[r.kind]} {shown}"
    extra = f" ({_one_line(r.detail)})" if r.detail else ""
    took = f" in {format_seconds(r.seconds)}" if r.seconds is not None else ""
    icon = _ICON[r.outcome]
    if r.outcome == "succeeded":
        word = "complete" if r.kind in ("rollout_restart", "scale") else "succeeded"
        return f"{icon} {what}: {word}{took}{extra}"
    if r.outcome == "failed":
        return f"{icon} {what}: failed{took}{extra}"
    if r.outcome == "refused":
        assert r.refusal is not None, "a refusal names its guard"
        return f"{icon} {what}: refused by {r.refusal.guard.value}: {_one_line(r.refusal.reason)}"
    if r.outcome == "would":
        return f"{icon} would {what}{extra} (dry run)"
    if r.outcome == "awaiting_approval":
        ttl = f", expires in {format_seconds(r.ttl)}" if r.ttl is not None else ""
        return f"{icon} {what}{extra}: awaiting approval{ttl}"
    if r.outcome == "rejected":
        by = f" by {_one_line(r.actor)}" if r.actor else ""
        return f"{icon} {what}: rejected{by}"
    if r.outcome == "expired":
        within = f" within {format_seconds(r.ttl)}" if r.ttl is not None else ""
        return f"{icon} {what}: expired, no approval{within}"
    return f"{icon} {what}: cancelled, the alert resolved first"
