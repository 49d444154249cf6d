"""The planner: matchers against firing alerts, targets rendered from labels, and the first two
guards (namespace allow-list, valid target) as refusals, never errors."""

from __future__ import annotations

import pytest

from app.config.remediation import ActionSettings
from app.core.models import Alert
from app.core.remediation.planner import plan
from app.core.remediation.refusals import Guard
from app.core.remediation.targets import Target
from tests.core.remediation.conftest import POLICY, firing, restart_spec
from tests.payloads import alert


def test_one_intent_per_firing_alert_and_matching_action() -> None:
    spec = restart_spec()
    other = restart_spec(name="other", matchers=['alertname="Nope"'])
    resolved = Alert.model_validate(alert("ModelHighLatencyP95", "f3", status="resolved", deployment="x"))
    intents = plan([firing("f1"), firing("f2", deployment="ranker"), resolved], [spec, other], POLICY)
    assert [(i.action, i.fingerprint, i.target, i.refusal) for i in intents] == [
        ("restart-on-latency", "f1", Target("Deployment", "prod", "model-api"), None),
        ("restart-on-latency", "f2", Target("Deployment", "prod", "ranker"), None),
    ]
    assert intents[0].episode == "2026-11-24T10:00:00Z"


def test_all_matchers_must_match() -> None:
    spec = restart_spec(matchers=['alertname="ModelHighLatencyP95"', 'severity="warning"'])
    assert plan([firing()], [spec], POLICY) == []


def test_namespace_outside_the_allow_list_is_refused_first() -> None:
    [intent] = plan([firing(namespace="kube-system")], [restart_spec()], POLICY)
    assert intent.refusal is not None
    assert intent.refusal.guard is Guard.NAMESPACE
    assert intent.refusal.reason == "namespace 'kube-system' is not in allowed_namespaces (prod, staging)"


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../x", "name '../x' must be lower-case letters"),
        ("a b", "name 'a b' must be lower-case letters"),
        ("x" * 300, "is 300 characters long (at most 253)"),
        ("", "name '' is empty"),
        ("Model-API", "must be lower-case letters"),
        ("x/../../secrets", "must be lower-case letters"),
    ],
)
def test_a_crafted_label_never_becomes_a_target(name: str, why: str) -> None:
    [intent] = plan([firing(deployment=name)], [restart_spec()], POLICY)
    assert intent.refusal is not None
    assert intent.refusal.guard is Guard.TARGET
    assert why in intent.refusal.reason
    assert len(intent.refusal.reason) < 200  # the crafted value is cut, never shown whole


def test_missing_label_renders_empty_and_is_refused() -> None:
    alert_without = Alert.model_validate(alert("ModelHighLatencyP95", "f9"))
    [intent] = plan([alert_without], [restart_spec()], POLICY)
    assert intent.refusal is not None and intent.refusal.reason == "name '' is empty"


def test_no_allowed_namespaces_refuses_every_kubernetes_action() -> None:
    from app.core.remediation.actions import Policy

    [intent] = plan([firing()], [restart_spec()], Policy())
    assert intent.refusal is not None and "(none)" in intent.refusal.reason


def test_http_target_is_method_and_url_and_ignores_namespaces() -> None:
    spec = ActionSettings.model_validate(
        {
            "name": "reload",
            "matchers": ['alertname="ModelHighLatencyP95"'],
            "kind": "http",
            "url": "http://model-api.prod.svc:8000/admin/reload",
        }
    ).spec
    [intent] = plan([firing(namespace="elsewhere")], [spec], POLICY)
    assert intent.refusal is None
    assert intent.target == Target("HTTP", "", "POST http://model-api.prod.svc:8000/admin/reload")
    assert str(intent.target) == "POST http://model-api.prod.svc:8000/admin/reload"


def test_annotations_are_available_to_targets() -> None:
    spec = ActionSettings.model_validate(
        {
            "name": "retrain",
            "matchers": ['alertname="ModelHighLatencyP95"'],
            "kind": "job_from_cronjob",
            "target": {
                "namespace": "{{ labels.namespace }}",
                "name": "{{ annotations.summary | lower | replace(' ', '-') }}",
            },
        }
    ).spec
    [intent] = plan([firing()], [spec], POLICY)
    assert intent.target == Target("CronJob", "prod", "modelhighlatencyp95-in-prod")


def test_sandbox_refusal_at_render_time_is_a_refusal() -> None:
    spec = restart_spec(
        target={"kind": "Deployment", "namespace": "prod", "name": "{{ labels.__class__.__mro__ }}"}
    )
    [intent] = plan([firing()], [spec], POLICY)
    assert intent.refusal is not None
    assert intent.refusal.guard is Guard.TARGET
