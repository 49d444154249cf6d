"""Builders for the pure remediation tests: actions from the config's own models, alerts."""

from __future__ import annotations

from typing import Any

from app.config.remediation import ActionSettings
from app.core.models import Alert
from app.core.remediation.actions import ActionSpec, Policy
from app.core.remediation.guards import Claim, Slot
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


class SlotTable:
    """The slot table as a store keeps it, with the claim rule of the guards module."""

    def __init__(self) -> None:
        self.rows: dict[str, Slot] = {}

    def read(self, keys: list[str]) -> dict[str, Slot]:
        return {k: self.rows[k] for k in keys if k in self.rows}

    def claim(self, claims: tuple[Claim, ...], holder: str, now: float) -> bool:
        for c in claims:
            row = self.rows.get(c.key)
            if row is not None and row.holder != holder and row.expires_at > now:
                return False
        for c in claims:
            self.rows[c.key] = c.slot(holder, now)
        return True
