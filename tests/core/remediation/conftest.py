"""Builders for the pure remediation tests: actions from the config's own models, alerts."""

from __future__ import annotations

from typing import Any

from app.core.models import Alert
from app.core.remediation.actions import ActionSpec, Policy
from app.remediate.settings import ActionSettings
from tests.payloads import alert

POLICY = Policy(
    allowed_namespaces=frozenset({"prod", "staging"}), breaker_max_actions=3, breaker_within=3600.0
)


def restart_spec(**over: Any) -> ActionSpec:
    raw: dict[str, Any] = {
        "name": "restart-on-latency",
        "matchers": ['alertname="ModelHighLatencyP95"'],
        "kind": "rollout_restart",
        "target": {
            "kind": "Deployment",
            "namespace": "{{ labels.namespace }}",
            "name": "{{ labels.deployment }}",
        },
        "cooldown": "30m",
        **over,
    }
    return ActionSettings.model_validate(raw).spec


def firing(fingerprint: str = "f1", *, starts: str = "2026-11-24T10:00:00Z", **labels: str) -> Alert:
    raw = alert("ModelHighLatencyP95", fingerprint, **{"deployment": "model-api", **labels})
    raw["startsAt"] = starts
    return Alert.model_validate(raw)
