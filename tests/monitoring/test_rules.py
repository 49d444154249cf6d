"""Prometheus rules in rules/: promtool validation, promtool unit tests, and coverage guards.

`promtool check rules` and `promtool test rules` do the real work. The static tests below
make sure that work cannot quietly shrink: every alert carries the labels and annotations
alertmedic relies on, and every alert (and every severity tier of it) is asserted firing
and asserted silent somewhere in rules/tests/.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from ._support import RULES_DIR, describe, run_tool

RULE_FILES = sorted(RULES_DIR.glob("*.yml"))
TEST_FILES = sorted((RULES_DIR / "tests").glob("*.yml"))
RUNBOOKS = RULES_DIR / "runbooks.md"
RUNBOOK_BASE = "https://runbooks.example.com/alertmedic/runbooks.md"

SEVERITIES = {"critical", "warning", "info"}
# Alerts that are about a machine or the pipeline, not a workload: no namespace/deployment.
NON_WORKLOAD_GROUPS = {"node.alerts", "watchdog"}
# The dead man's switch fires unconditionally, so it cannot have a "not firing" test.
ALWAYS_FIRING = {"Watchdog"}
RECORD_NAME = re.compile(r"^[a-z][a-z0-9_]*:[a-z][a-z0-9_]*:[a-z][a-z0-9_]*$")


def _load(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


def _rules(kind: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(file name, group name, rule) for every rule of `kind` ("alert" or "record")."""
    found = []
    for path in RULE_FILES:
        for group in _load(path)["groups"]:
            for rule in group["rules"]:
                if kind in rule:
                    found.append((path.name, group["name"], rule))
    return found


ALERT_RULES = _rules("alert")
RECORDING_RULES = _rules("record")
ALERT_NAMES = sorted({rule["alert"] for _, _, rule in ALERT_RULES})


def _alert_tests() -> list[tuple[str, dict[str, Any]]]:
    """(test file name, alert_rule_test entry) for every alert test case."""
    cases = []
    for path in TEST_FILES:
        for group in _load(path).get("tests", []):
            for case in group.get("alert_rule_test", []) or []:
                cases.append((path.name, case))
    return cases


def test_expected_files_are_present() -> None:
    names = {p.name for p in RULE_FILES}
    assert {
        "model.rules.yml",
        "infrastructure.rules.yml",
        "recording.rules.yml",
        "watchdog.rules.yml",
    } <= names
    assert TEST_FILES, "rules/tests/ has no test files"
    assert ALERT_RULES and RECORDING_RULES


@pytest.mark.slow
def test_promtool_check_rules(promtool: str) -> None:
    result = run_tool(promtool, "check", "rules", "--lint=all", "--lint-fatal", *RULE_FILES)
    assert result.returncode == 0, describe(result)
    assert result.stdout.count("SUCCESS") == len(RULE_FILES), describe(result)


@pytest.mark.slow
def test_promtool_unit_tests(promtool: str) -> None:
    result = run_tool(promtool, "test", "rules", *TEST_FILES, timeout=120)
    assert result.returncode == 0, describe(result)
    assert result.stdout.count("SUCCESS") == len(TEST_FILES), describe(result)
    assert "FAILED" not in result.stdout + result.stderr, describe(result)


@pytest.mark.parametrize(
    ("group", "rule"),
    [(g, r) for _, g, r in ALERT_RULES],
    ids=[f"{r['alert']}-{r.get('labels', {}).get('severity')}" for _, _, r in ALERT_RULES],
)
def test_alert_has_labels_and_annotations(group: str, rule: dict[str, Any]) -> None:
    name = rule["alert"]
    labels = rule.get("labels", {})
    annotations = rule.get("annotations", {})
    if name in ALWAYS_FIRING:
        assert labels.get("severity") == "none", "the heartbeat must never look like an incident"
        assert labels.get("heartbeat") == "true", "Alertmanager routes the heartbeat on this label"
    else:
        assert labels.get("severity") in SEVERITIES
    for key in ("summary", "description", "runbook_url"):
        assert str(annotations.get(key, "")).strip(), f"{name}: annotation {key} missing"
    assert annotations["runbook_url"] == f"{RUNBOOK_BASE}#{name.lower()}"
    if group not in NON_WORKLOAD_GROUPS:
        # The label values come from the series; the rule must not hard-code them.
        assert "namespace" not in labels and "deployment" not in labels


def test_every_alert_has_a_runbook_section() -> None:
    headings = set(re.findall(r"^## (\w+)\s*$", RUNBOOKS.read_text(encoding="utf-8"), re.M))
    assert set(ALERT_NAMES) - headings == set(), "alerts without a section in rules/runbooks.md"


def test_drift_alert_can_trigger_retraining() -> None:
    drift = [r for _, _, r in ALERT_RULES if r["alert"] == "ModelDataDriftDetected"]
    assert len(drift) == 1
    assert drift[0]["labels"]["remediation"] == "retrain"
    assert drift[0]["annotations"]["retrain_cronjob"] == "{{ $labels.deployment }}-retrain"
    assert "0.3" in drift[0]["expr"]


def test_recording_rules_follow_naming_convention() -> None:
    names = [r["record"] for _, _, r in RECORDING_RULES]
    assert len(names) == len(set(names)), "duplicate recording rule names"
    bad = [n for n in names if not RECORD_NAME.match(n)]
    assert bad == [], "recording rules must be named level:metric:operations"


def test_alerts_use_recording_rules_for_rates_and_quantiles() -> None:
    """Rates, ratios and quantiles are computed once, in recording rules, not per alert."""
    raw = [
        r["alert"]
        for _, _, r in ALERT_RULES
        if re.search(r"\b(rate|irate|increase|histogram_quantile)\s*\(", r["expr"])
    ]
    assert raw == []
    recorded = {r["record"] for _, _, r in RECORDING_RULES}
    for _, _, rule in ALERT_RULES:
        for name in re.findall(r"\b[a-z_]+:[a-z0-9_]+:[a-z0-9_]+\b", rule["expr"]):
            assert name in recorded, f"{rule['alert']} uses unknown recording rule {name}"


def test_every_rule_file_is_unit_tested() -> None:
    covered: set[Path] = set()
    for path in TEST_FILES:
        for rule_file in _load(path)["rule_files"]:
            covered.add((path.parent / rule_file).resolve())
    assert {p.resolve() for p in RULE_FILES} - covered == set()


def test_alert_tests_only_name_existing_alerts() -> None:
    """promtool happily passes `exp_alerts: []` for a misspelt alert name; this does not."""
    for path in TEST_FILES:
        spec = _load(path)
        loaded = set()
        for rule_file in spec["rule_files"]:
            for group in _load(path.parent / rule_file)["groups"]:
                loaded |= {r["alert"] for r in group["rules"] if "alert" in r}
        for group in spec.get("tests", []):
            for case in group.get("alert_rule_test", []) or []:
                assert case["alertname"] in loaded, f"{path.name}: unknown {case['alertname']}"


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    firing: dict[str, set[str]] = defaultdict(set)  # alertname -> severities asserted firing
    silent: set[str] = set()
    for _, case in _alert_tests():
        name = case["alertname"]
        assert "exp_alerts" in case, f"{name}: write `exp_alerts: []` explicitly"
        expected = case["exp_alerts"]
        if expected == []:
            silent.add(name)
        for alert in expected:
            firing[name].add(alert["exp_labels"]["severity"])

    defined: dict[str, set[str]] = defaultdict(set)
    for _, _, rule in ALERT_RULES:
        defined[rule["alert"]].add(rule["labels"]["severity"])

    for name, severities in defined.items():
        assert severities <= firing[name], f"{name}: tiers never asserted firing: {severities}"
        if name in ALWAYS_FIRING:
            (rule,) = [r for _, _, r in ALERT_RULES if r["alert"] == name]
            assert rule["expr"].strip() == "vector(1)" and "for" not in rule
        else:
            assert name in silent, f"{name}: no eval asserts `exp_alerts: []`"


def test_workload_alerts_are_expected_with_namespace_and_deployment() -> None:
    workload = {r["alert"] for _, g, r in ALERT_RULES if g not in NON_WORKLOAD_GROUPS}
    checked = 0
    for file_name, case in _alert_tests():
        if case["alertname"] not in workload:
            continue
        for alert in case["exp_alerts"]:
            labels = alert["exp_labels"]
            assert labels.get("namespace") and labels.get("deployment"), (file_name, case)
            checked += 1
    assert checked >= len(workload)


def test_model_low_traffic_is_critical() -> None:
    """The seed's own rule: under 1 request/s for 5 minutes, "Model service might be down!",
    is critical there; a service that might be down pages someone."""
    [rule] = [r for _, _, r in ALERT_RULES if r["alert"] == "ModelLowTraffic"]
    assert rule["expr"].strip() == "namespace_deployment:model_requests:rate5m < 1"
    assert rule["for"] == "5m"
    assert rule["labels"]["severity"] == "critical"
    assert "might be down" in rule["annotations"]["summary"]
