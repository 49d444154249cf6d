"""What `alertmedic actions test --config FILE label=value ...` prints: which actions an alert with
these labels would trigger, the rendered target, and the first guard that would stop it now. Pure:
the caller passes the slots it read from the store (none: a fresh store) and the time; the live
workload guard (paused / rolling) needs the API and is shown as not checked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from app.core.models import Alert
from app.core.remediation.actions import ActionSpec, Policy
from app.core.remediation.guards import Slot, decide, slot_keys
from app.core.remediation.planner import plan
from app.core.remediation.report import Report, report_text

_WORDS = {
    "act": "would act now",
    "would": 'would act (dry run: reported as "would …")',
    "await_approval": "would wait for approval",
}


def explain(
    labels: Mapping[str, str],
    actions: Sequence[ActionSpec],
    policy: Policy,
    *,
    slots: Mapping[str, Slot] | None = None,
    now: datetime,
    annotations: Mapping[str, str] | None = None,
) -> list[str]:
    """One line per matching action; ["no action matches"] when none does."""
    alert = Alert(
        status="firing",
        labels=dict(labels) or {"alertname": ""},
        annotations=dict(annotations or {}),
        startsAt=now,
        fingerprint="actions-test",
    )
    found = slots or {}
    lines = []
    for intent in plan([alert], actions, policy):
        spec = next(a for a in actions if a.name == intent.action)
        keys = slot_keys(intent, spec, policy)
        decision = decide(
            intent,
            spec,
            policy,
            slots={k: found[k] for k in keys if k in found},
            holder="",
            now=now.timestamp(),
        )
        if decision.refusal is not None:
            report = Report(intent.action, intent.kind, intent.target, "refused", refusal=decision.refusal)
            lines.append(f"{intent.action}: {report_text(report)}")
        else:
            lines.append(
                f"{intent.action}: {intent.kind} {intent.target}: {_WORDS[decision.kind]} "
                "(paused / rolling not checked without the API)"
            )
    return lines or ["no action matches"]


__all__ = ["explain"]
