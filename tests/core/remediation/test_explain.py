"""`actions test`: matching actions, rendered targets and the guard that would stop them now."""

from __future__ import annotations

from datetime import UTC, datetime

from app.core.remediation.explain import explain
from app.core.remediation.guards import Slot
from tests.core.remediation.conftest import POLICY, restart_spec

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
LABELS = {"alertname": "ModelHighLatencyP95", "namespace": "prod", "deployment": "model-api"}


def test_a_fresh_store_would_act() -> None:
    assert explain(LABELS, [restart_spec()], POLICY, now=NOW) == [
        "restart-on-latency: rollout_restart prod/model-api: would act now "
        "(paused / rolling not checked without the API)"
    ]


def test_names_the_guard_that_stops_it() -> None:
    key = "cooldown/restart-on-latency/Deployment/prod/model-api"
    slots = {key: Slot(key, "job-1", NOW.timestamp() - 120, NOW.timestamp() + 1680)}
    assert explain(LABELS, [restart_spec()], POLICY, slots=slots, now=NOW) == [
        "restart-on-latency: ⛔ rollout restart prod/model-api: refused by cooldown: "
        "restart-on-latency acted on prod/model-api 2m ago (cooldown 30m)"
    ]
    outside = {**LABELS, "namespace": "kube-system"}
    assert "refused by namespace" in explain(outside, [restart_spec()], POLICY, now=NOW)[0]


def test_nothing_matches() -> None:
    assert explain({"alertname": "Other"}, [restart_spec()], POLICY, now=NOW) == ["no action matches"]
