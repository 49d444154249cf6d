"""The `remediation:` section: the issue's fragment accepted as written, defaults, deny by default,
and errors that name the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from app.config.remediation import RemediationSettings
from app.core.models import field_path
from app.core.remediation.actions import ScaleSpec

FRAGMENT = Path(__file__).with_name("issue9_fragment.yaml")


def load(raw: dict[str, Any]) -> RemediationSettings:
    return RemediationSettings.model_validate(raw)


def problems(raw: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as info:
        load(raw)
    return [
        (field_path(e["loc"]), str(e["msg"]).removeprefix("Value error, "))
        for e in info.value.errors(include_url=False)
    ]


def action(**over: Any) -> dict[str, Any]:
    base = {
        "name": "restart",
        "matchers": ['alertname="X"'],
        "kind": "rollout_restart",
        "target": {
            "kind": "Deployment",
            "namespace": "{{ labels.namespace }}",
            "name": "{{ labels.deployment }}",
        },
    }
    return {**base, **over}


def test_the_issue_fragment_is_accepted_as_written() -> None:
    settings = load(yaml.safe_load(FRAGMENT.read_text(encoding="utf-8"))["remediation"])
    policy = settings.policy()
    assert policy.allowed_namespaces == {"prod", "staging"}
    assert (policy.dry_run, policy.breaker_max_actions, policy.breaker_within) == (False, 3, 3600.0)
    assert settings.kubernetes.context == "prod-cluster"
    restart, retrain, scale, kill, reload = settings.specs()
    assert (restart.kind, restart.cooldown, restart.verify_timeout) == ("rollout_restart", 1800.0, 300.0)
    assert [str(m) for m in restart.matchers] == ['alertname="ModelHighLatencyP95"', 'severity="critical"']
    assert restart.target is not None and restart.target.kind == "Deployment"
    assert retrain.target is not None and retrain.target.kind == "CronJob"
    assert (retrain.cooldown, retrain.verify_timeout) == (86400.0, 7200.0)
    assert scale.scale == ScaleSpec(amount=1, relative=True, min_replicas=1, max_replicas=8)
    assert (scale.approval_required, scale.approval_timeout) == (True, 1800.0)
    assert kill.target is not None and kill.target.kind == "Pod"
    assert (kill.cooldown, kill.once_until_resolved, kill.verify_timeout) == (900.0, True, 300.0)
    assert reload.http is not None
    assert (reload.http.method, reload.http.expect_status) == ("POST", frozenset({200, 202, 204}))


def test_defaults_deny_everything() -> None:
    settings = load({})
    assert settings.policy().allowed_namespaces == frozenset()
    assert settings.specs() == ()
    assert settings.kubernetes.kubeconfig is None  # in-cluster


@pytest.mark.parametrize(
    ("over", "expected"),
    [
        (
            {"matchers": []},
            ("actions[0].matchers", "List should have at least 1 item after validation, not 0"),
        ),
        ({"matchers": ['alertname=~"("']}, ("actions[0].matchers[0]", "invalid regular expression")),
        (
            {"target": {"kind": "Deployment", "namespace": "{{ label.ns }}", "name": "x"}},
            ("actions[0].target.namespace", "unknown template variable(s) label"),
        ),
        (
            {"target": {"kind": "Deployment", "namespace": "x", "name": "{{ labels.x"}},
            ("actions[0].target.name", "template error on line 1"),
        ),
        (
            {"target": {"namespace": "x", "name": "y"}},
            ("actions[0]", "target.kind: required for kind rollout_restart"),
        ),
        (
            {"kind": "scale", "replicas": "+1"},
            ("actions[0]", "max_replicas: required with a relative increase"),
        ),
        (
            {"kind": "scale", "replicas": "x2", "max_replicas": 3},
            ("actions[0]", "replicas: replicas must be like"),
        ),
        ({"kind": "scale", "replicas": "9", "max_replicas": 3}, ("actions[0]", "replicas: 9 is outside")),
        (
            {
                "kind": "scale",
                "target": {"kind": "DaemonSet", "namespace": "x", "name": "y"},
                "replicas": "2",
            },
            ("actions[0]", "target.kind: scale acts on Deployment, StatefulSet, not DaemonSet"),
        ),
        ({"replicas": "+1"}, ("actions[0]", "replicas: only for kind scale")),
        ({"url": "http://x"}, ("actions[0]", "url: only for kind http")),
        ({"kind": "delete_pod"}, ("actions[0]", "target.kind: not for kind delete_pod")),
        ({"approval_timeout": "5m"}, ("actions[0]", "approval_timeout: only with approval: required")),
        ({"name": "has space"}, ("actions[0].name", "must be 1-63 letters")),
        ({"cooldown": "soon"}, ("actions[0].cooldown", "not a duration")),
        (
            {"target": None, "kind": "http", "url": "http://user:pw@host/x"},
            ("actions[0]", "url: no credentials in the URL"),
        ),
        ({"target": None, "kind": "http", "url": "ftp://host/x"}, ("actions[0]", "url: must be an http://")),
        ({"kind": "http", "url": "http://h/x"}, ("actions[0]", "target: not for kind http")),
        ({"unknown": 1}, ("actions[0].unknown", "Extra inputs are not permitted")),
    ],
)
def test_action_errors_name_the_key(over: dict[str, Any], expected: tuple[str, str]) -> None:
    found = problems({"actions": [action(**over)]})
    path, start = expected
    assert any(p == path and m.startswith(start) for p, m in found), found


def test_section_errors_name_the_key() -> None:
    found = problems(
        {
            "allowed_namespaces": ["prod", "Prod_1", "prod"],
            "kubernetes": {"context": "x"},
            "circuit_breaker": {"max_actions": 0},
            "actions": [action(), action()],
        }
    )
    assert (
        "allowed_namespaces[1]",
        "namespace 'Prod_1' must be lower-case letters, digits and '-', starting and ending alphanumeric",
    ) in found
    assert (
        "kubernetes",
        "context: needs kubeconfig (the in-cluster ServiceAccount has no contexts)",
    ) in found
    assert ("circuit_breaker.max_actions", "Input should be greater than or equal to 1") in found


def test_duplicate_names_and_namespaces_are_refused() -> None:
    assert problems({"actions": [action(), action()]}) == [
        ("", "actions[1].name: duplicate action name 'restart'")
    ]
    assert problems({"allowed_namespaces": ["prod", "prod"]}) == [
        ("allowed_namespaces", "[1]: 'prod' is listed twice")
    ]


def test_once_until_resolved_can_be_turned_off_and_cooldown_zero_is_off() -> None:
    [spec] = load({"actions": [action(once_until_resolved=False, cooldown=0)]}).specs()
    assert (spec.once_until_resolved, spec.cooldown) == (False, 0.0)


def test_a_dumped_section_validates_back_to_an_equal_one() -> None:
    settings = load(yaml.safe_load(FRAGMENT.read_text(encoding="utf-8"))["remediation"])
    again = RemediationSettings.model_validate_json(settings.model_dump_json())
    assert again == settings
    assert again.specs()[0].target == settings.specs()[0].target
