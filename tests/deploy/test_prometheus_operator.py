"""The prometheus-operator objects: the PrometheusRule cannot drift from rules/, its rules parse,
and the ServiceMonitor really selects the Service the overlays create."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from tests.deploy import kustomize_lite
from tests.deploy.conftest import (
    DEPLOY,
    OVERLAYS,
    ROOT,
    Obj,
    one,
    real_kustomize,
    render,
    render_real,
)

OPERATOR = DEPLOY / "prometheus-operator"
SCRIPT = OPERATOR / "build_prometheusrule.py"
COMMITTED = OPERATOR / "prometheusrule.yaml"

# Fields the PrometheusRule CRD (monitoring.coreos.com/v1) accepts for groups and rules.
GROUP_FIELDS = {"name", "interval", "rules", "limit", "partial_response_strategy", "query_offset"}
RULE_FIELDS = {"record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations"}


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_prometheusrule", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load(path: Path) -> Obj:
    doc: Obj = yaml.safe_load(path.read_text(encoding="utf-8"))
    return doc


def test_committed_prometheusrule_equals_a_fresh_build_from_rules() -> None:
    expected = _script().build(ROOT / "rules")
    assert COMMITTED.read_text(encoding="utf-8") == expected, (
        "deploy/prometheus-operator/prometheusrule.yaml is stale: run "
        "python3 deploy/prometheus-operator/build_prometheusrule.py"
    )


def test_script_check_mode_agrees(tmp_path: Path) -> None:
    run = [sys.executable, str(SCRIPT), "--check"]
    assert subprocess.run(run, capture_output=True, timeout=60).returncode == 0
    stale = tmp_path / "stale.yaml"
    stale.write_text("# old\n", encoding="utf-8")
    out = subprocess.run([*run, "--output", str(stale)], capture_output=True, timeout=60)
    assert out.returncode == 1


def test_prometheusrule_carries_every_group_of_rules_unchanged() -> None:
    rule = _load(COMMITTED)
    from_files = []
    for path in sorted((ROOT / "rules").glob("*.rules.yml")):
        from_files += _load(path)["groups"]
    assert rule["spec"]["groups"] == from_files
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["kind"] == "PrometheusRule"


def test_prometheusrule_shape_matches_the_crd() -> None:
    groups = _load(COMMITTED)["spec"]["groups"]
    assert groups
    for group in groups:
        assert set(group) <= GROUP_FIELDS, group["name"]
        for rule in group["rules"]:
            assert set(rule) <= RULE_FIELDS, rule
            assert ("record" in rule) != ("alert" in rule), rule
            assert isinstance(rule["expr"], str | int | float)
            for key in ("labels", "annotations"):
                assert all(isinstance(v, str) for v in rule.get(key, {}).values()), rule


def test_prometheusrule_groups_pass_promtool(
    promtool_check_rules: Callable[[list[Obj]], None],
) -> None:
    promtool_check_rules(_load(COMMITTED)["spec"]["groups"])


def test_script_rejects_duplicate_group_names(tmp_path: Path) -> None:
    group = "groups:\n  - name: same\n    rules:\n      - record: a:b:c\n        expr: vector(1)\n"
    (tmp_path / "a.rules.yml").write_text(group, encoding="utf-8")
    (tmp_path / "b.rules.yml").write_text(group, encoding="utf-8")
    module = _script()
    with pytest.raises(module.RuleFileError):
        module.build(tmp_path)


def test_servicemonitor_selects_the_alertmedic_service_in_every_overlay(overlay: str) -> None:
    sm = _load(OPERATOR / "servicemonitor.yaml")
    objects = render(overlay)
    svc = one(objects, "Service", "alertmedic")
    assert svc["metadata"]["namespace"] in sm["spec"]["namespaceSelector"]["matchNames"]
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    ports = {p["name"] for p in svc["spec"]["ports"]}
    for endpoint in sm["spec"]["endpoints"]:
        assert endpoint["port"] in ports
        assert endpoint["path"] == "/metrics"
    assert set(sm["spec"]["namespaceSelector"]["matchNames"]) == {h for h, _ in OVERLAYS.values()}


def test_operator_objects_share_the_selector_label() -> None:
    sm = _load(OPERATOR / "servicemonitor.yaml")
    rule = _load(COMMITTED)
    assert sm["metadata"]["labels"]["release"] == rule["metadata"]["labels"]["release"]
    assert sm["metadata"]["namespace"] == rule["metadata"]["namespace"] == "monitoring"


def test_operator_kustomization_renders() -> None:
    lite = kustomize_lite.build(OPERATOR)
    assert sorted(o["kind"] for o in lite) == ["PrometheusRule", "ServiceMonitor"]
    if real_kustomize() is not None:
        real = render_real(OPERATOR)
        assert sorted(real, key=_kind) == sorted(lite, key=_kind)


def _kind(o: Obj) -> str:
    return str(o["kind"])
