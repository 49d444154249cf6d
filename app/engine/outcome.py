"""The last remediation outcome of each target of a group, as the one line its message shows
(`🔧 rollout restart prod/model-api: complete in 41 s (…)`), rebuilt from the stored records:
a restart re-renders the same lines. The thread's replies say the same, one per outcome.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.core.remediation.actions import ActionKind
from app.core.remediation.refusals import Guard, Refusal
from app.core.remediation.report import Outcome, Report, report_text
from app.engine.remediation import intent_from_json
from app.store.remediations import Remediation

MAX_LINES = 5
"""Targets shown at most (the newest outcomes); the replies in the thread hold every one."""
LINE_LIMIT = 400
"""Characters of one line at most (report_text bounds each detail; this bounds the line)."""
SHOWN: frozenset[str] = frozenset(("succeeded", "failed", "refused", "would", "expired", "cancelled"))
"""States shown as an outcome line; awaiting approval and a person's decision are the
approval lines of app.core.chatops.message."""


def report_of(rec: Remediation) -> Report | None:
    """The report of a record's outcome as stored (None: no outcome shown yet)."""
    if rec.state not in SHOWN:
        return None
    target = intent_from_json(rec.intent).target
    kind: ActionKind = rec.kind  # type: ignore[assignment]
    outcome: Outcome = rec.state  # type: ignore[assignment]
    if outcome == "refused":
        try:
            refusal = Refusal(Guard(rec.guard), rec.reason)
        except ValueError:
            return None
        return Report(rec.action, kind, target, outcome, refusal=refusal)
    if outcome in ("succeeded", "failed"):
        seconds = rec.updated_at - rec.acted_at if rec.acted_at is not None else None
        return Report(rec.action, kind, target, outcome, detail=rec.reason, seconds=seconds)
    return Report(rec.action, kind, target, outcome, actor=rec.actor)


def outcome_lines(records: Sequence[Remediation]) -> tuple[str, ...]:
    """One line per target: its newest record's outcome (`records` newest first), oldest target
    first, at most MAX_LINES."""
    seen: set[str] = set()
    lines: list[str] = []
    for rec in records:
        if rec.target in seen or (report := report_of(rec)) is None:
            continue
        seen.add(rec.target)
        text = report_text(report)
        lines.append(text if len(text) <= LINE_LIMIT else text[: LINE_LIMIT - 1] + "…")
        if len(lines) == MAX_LINES:
            break
    return tuple(reversed(lines))
