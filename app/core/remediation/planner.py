"""The remediation planner: which configured actions an alert group asks for, one Intent per
(firing alert, matching action), with the target rendered from that alert's labels.

The first two guards are decided here because they need nothing but the rendered target: the
namespace allow-list and a valid target. Such an intent carries its refusal; refusing is an
outcome to report, never an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from app.core.models import Alert
from app.core.remediation.actions import ActionKind, ActionSpec, Policy
from app.core.remediation.refusals import Guard, Refusal
from app.core.remediation.targets import Target, target_problem


@dataclass(frozen=True)
class Intent:
    """The decision to consider `action` for one firing alert.

    `episode` is the alert's `startsAt` (RFC 3339): it identifies one firing episode of the
    fingerprint, so once-until-resolved re-arms by itself when the alert fires anew.
    `target` is None only when its template failed to render (then `refusal` says why).
    """

    action: str
    kind: ActionKind
    fingerprint: str
    episode: str
    target: Target | None
    refusal: Refusal | None = None


def episode_of(alert: Alert) -> str:
    return _rfc3339(alert.startsAt)


def _rfc3339(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def plan(alerts: Iterable[Alert], actions: Sequence[ActionSpec], policy: Policy) -> list[Intent]:
    """Intents for every firing alert and every action whose matchers all match its labels,
    in alert order, then action order."""
    out: list[Intent] = []
    for alert in alerts:
        if alert.status != "firing":
            continue
        for spec in actions:
            if spec.matches(alert.labels):
                out.append(_intent(alert, spec, policy))
    return out


def _intent(alert: Alert, spec: ActionSpec, policy: Policy) -> Intent:
    def intent(target: Target | None, refusal: Refusal | None) -> Intent:
        return Intent(spec.name, spec.kind, alert.fingerprint, episode_of(alert), target, refusal)

    if spec.http is not None:
        return intent(Target("HTTP", "", f"{spec.http.method} {spec.http.url}"), None)
    assert spec.target is not None, "a Kubernetes action has a target template"
    try:
        target = spec.target.render(alert.labels, alert.annotations)
    except ValueError as exc:
        return intent(None, Refusal(Guard.TARGET, str(exc)))
    return intent(target, target_refusal(target, policy))


def target_refusal(target: Target, policy: Policy) -> Refusal | None:
    """Guards 1 and 2: the namespace allow-list, then a valid Kubernetes name."""
    if target.kind == "HTTP":
        return None  # the allow-list does not apply; the URL is fixed by the config
    if target.namespace not in policy.allowed_namespaces:
        allowed = ", ".join(sorted(policy.allowed_namespaces)) or "none"
        shown = repr(target.namespace)[:66]
        return Refusal(Guard.NAMESPACE, f"namespace {shown} is not in allowed_namespaces ({allowed})")
    problem = target_problem(target)
    return Refusal(Guard.TARGET, problem) if problem else None
