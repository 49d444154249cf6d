"""Grafana dashboards and provisioning: every PromQL expression parses (promtool), every
alertmedic_* series exists in app.metrics, every model series is in the model service's contract,
and the datasource/variable wiring matches the provisioning files."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import DEPLOY, Obj

GRAFANA = DEPLOY / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
PROVISIONING = GRAFANA / "provisioning"

# Grafana's own variables, and concrete stand-ins for everything a dashboard may reference.
# Multi-value variables are substituted the way Grafana formats them for a regex matcher.
SUBSTITUTIONS = {
    "__rate_interval": "2m",
    "__interval": "1m",
    "__range": "6h",
    "__range_s": "21600",
    "namespace": "prod",
    "deployment": "(model-a|model-b)",
    "node": ".+",
    "datasource": "prometheus",
    "loki": "loki",
}
# What the model service exports (the contract the rules in rules/ are written against).
MODEL_SERIES = {
    "model_requests_total",
    "model_latency_seconds_bucket",
    "model_latency_seconds_sum",
    "model_latency_seconds_count",
    "model_drift_share",
    "model_accuracy",
    "model_f1",
    "model_prediction_confidence_bucket",
    "model_prediction_confidence_sum",
    "model_prediction_confidence_count",
    "model_data_last_updated_timestamp_seconds",
}
VAR = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")


def _load(path: Path) -> Obj:
    doc: Obj = json.loads(path.read_text(encoding="utf-8"))
    return doc


def _panels(dashboard: Obj) -> Iterator[Obj]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def _ds_type(ref: Any) -> str:
    return str(ref.get("type", "")) if isinstance(ref, dict) else ""


def _promql(dashboard: Obj) -> list[tuple[str, str]]:
    """(where, expression) for every Prometheus query: panel targets and variable queries."""
    out = []
    for panel in _panels(dashboard):
        for t in panel.get("targets", []):
            if _ds_type(t.get("datasource", panel.get("datasource"))) == "prometheus":
                out.append((f"panel {panel['id']} {panel['title']!r} {t['refId']}", t["expr"]))
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query.strip())
            assert m, f"variable {var['name']}: only label_values(selector, label) is used"
            out.append((f"variable {var['name']}", m.group(1)))
    return out


def _substitute(expr: str) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        assert name in SUBSTITUTIONS, f"unknown variable ${name} in {expr}"
        return SUBSTITUTIONS[name]

    return VAR.sub(sub, expr)


def _metric_names(expr: str) -> set[str]:
    """Metric names in an expression (identifiers not followed by '(' nor inside by/on lists)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # drop string literals
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    text = re.sub(r"\{[^}]*\}", "{}", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges
    names = set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", text))
    keywords = {
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "and",
        "or",
        "unless",
        "offset",
        "le",
        "inf",
        "nan",
        "Inf",
        "NaN",
    }
    return {n for n in names if n not in keywords and not re.fullmatch(r"\d.*", n)}


def _alertmedic_series() -> set[str]:
    """Exported sample names: counters add _total, histograms _bucket/_sum/_count."""
    from app import metrics

    allowed: set[str] = set()
    for family in metrics.Metrics().registry.collect():
        if family.type == "counter":
            allowed.add(family.name + "_total")
        elif family.type == "histogram":
            allowed |= {family.name + s for s in ("_bucket", "_sum", "_count")}
        else:
            allowed.add(family.name)
    # SERIES is the documented contract (family names; counters spelled with _total): the
    # registry must export exactly those families.
    series = set(metrics.SERIES)
    for name in allowed:
        assert name in series or name.rsplit("_", 1)[0] in series, name
    for family in series:
        assert family in allowed or family + "_bucket" in allowed, family
    return allowed


@pytest.fixture(params=DASHBOARDS, ids=[p.name for p in DASHBOARDS])
def dashboard(request: pytest.FixtureRequest) -> Obj:
    return _load(request.param)


def test_both_dashboards_exist() -> None:
    assert {p.name for p in DASHBOARDS} == {"alertmedic.json", "model-service.json"}
    uids = [_load(p)["uid"] for p in DASHBOARDS]
    assert len(set(uids)) == len(uids)


def test_dashboard_structure(dashboard: Obj) -> None:
    assert dashboard["id"] is None, "provisioned dashboards must not carry a database id"
    assert dashboard["schemaVersion"] >= 36
    ids = [p["id"] for p in _panels(dashboard)]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    cells: set[tuple[int, int]] = set()
    for p in _panels(dashboard):
        g = p["gridPos"]
        assert g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24, p["title"]
        xs, ys = range(g["x"], g["x"] + g["w"]), range(g["y"], g["y"] + g["h"])
        area = {(x, y) for x in xs for y in ys}
        assert not area & cells, f"panel {p['title']!r} overlaps another"
        cells |= area
        if p["type"] != "row":
            assert p.get("title") and p.get("description"), p.get("title")
            assert p["targets"], p["title"]
            refs = [t["refId"] for t in p["targets"]]
            assert len(refs) == len(set(refs)), p["title"]


def test_namespace_variable_is_used(dashboard: Obj) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["namespace"]["type"] == "query"
    for where, expr in _promql(dashboard):
        names = _metric_names(expr)
        if names and all(n.startswith("node_") for n in names):
            continue  # node-exporter series describe nodes, not namespaces
        if where.startswith("variable namespace"):
            continue
        assert "$namespace" in expr, f"{where}: {expr}"


def test_variables_referenced_are_defined(dashboard: Obj) -> None:
    defined = {v["name"] for v in dashboard["templating"]["list"]}
    for panel in _panels(dashboard):
        for t in panel.get("targets", []):
            for m in VAR.finditer(t.get("expr", "")):
                name = m.group(1) or m.group(2)
                assert name.startswith("__") or name in defined, f"{panel['title']}: ${name}"


def test_datasources_come_from_variables(dashboard: Obj) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    for panel in _panels(dashboard):
        if panel["type"] == "row":
            continue
        refs = [panel["datasource"]] + [t["datasource"] for t in panel["targets"]]
        for ref in refs:
            m = re.fullmatch(r"\$\{(\w+)\}", ref["uid"])
            assert m, f"{panel['title']}: hard-coded datasource uid {ref['uid']}"
            var = variables[m.group(1)]
            assert var["type"] == "datasource" and var["query"] == ref["type"], panel["title"]


def test_rate_windows_follow_grafana_interval(dashboard: Obj) -> None:
    for where, expr in _promql(dashboard):
        for window in re.findall(r"\b(?:rate|increase|irate)\([^\[]*\[([^\]]+)\]", expr):
            assert window in ("$__rate_interval", "$__range"), f"{where}: [{window}]"


def test_every_promql_expression_parses(
    dashboard: Obj, promtool_check_rules: Callable[[list[Obj]], None]
) -> None:
    slug = re.sub(r"\W", "_", dashboard["uid"])
    rules = []
    for i, (where, expr) in enumerate(_promql(dashboard)):
        concrete = _substitute(expr)
        assert "$" not in concrete, f"{where}: {concrete}"
        rules.append({"record": f"dashboard:{slug}:expr_{i}", "expr": concrete})
    assert rules
    promtool_check_rules([{"name": f"dashboard-{dashboard['uid']}", "rules": rules}])


def test_promtool_check_really_rejects_bad_promql(
    promtool_check_rules: Callable[[list[Obj]], None],
) -> None:
    with pytest.raises(AssertionError):
        promtool_check_rules(
            [{"name": "bad", "rules": [{"record": "x:y:z", "expr": "sum by (le (rate(foo[5m]))"}]}]
        )


def test_alertmedic_series_are_exported_by_the_service() -> None:
    exported = _alertmedic_series()
    used: set[str] = set()
    for path in DASHBOARDS:
        for _, expr in _promql(_load(path)):
            used |= {n for n in _metric_names(expr) if n.startswith("alertmedic_")}
    assert used, "the alertmedic dashboard queries no alertmedic_* series"
    assert used <= exported, f"not exported by app.metrics: {sorted(used - exported)}"
    # And the dashboard covers the service's families (build info, ingest, delivery, outbox).
    families = {n.removesuffix("_bucket").removesuffix("_total") for n in used}
    assert families >= {
        "alertmedic_build_info",
        "alertmedic_webhooks_received",
        "alertmedic_alerts_received",
        "alertmedic_notifications",
        "alertmedic_delivery_retries",
        "alertmedic_dead_letters",
        "alertmedic_delivery_latency_seconds",
        "alertmedic_outbox_depth",
        "alertmedic_delivery_lanes",
    }


def test_metric_name_extraction() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (integration, le) "
        '(rate(alertmedic_delivery_latency_seconds_bucket{namespace=~"a|b"}[5m]))) '
        "/ on (x) group_left (y) alertmedic_outbox_depth"
    )
    assert _metric_names(expr) == {
        "alertmedic_delivery_latency_seconds_bucket",
        "alertmedic_outbox_depth",
    }


def test_model_dashboard_uses_the_model_contract() -> None:
    board = _load(GRAFANA / "dashboards" / "model-service.json")
    used: set[str] = set()
    for _, expr in _promql(board):
        used |= {n for n in _metric_names(expr) if n.startswith("model_")}
    assert used <= MODEL_SERIES, sorted(used - MODEL_SERIES)
    for required in (
        "model_requests_total",
        "model_latency_seconds_bucket",
        "model_drift_share",
        "model_accuracy",
        "model_f1",
        "model_prediction_confidence_bucket",
        "model_data_last_updated_timestamp_seconds",
    ):
        assert required in used, required
    all_names = set().union(*(_metric_names(e) for _, e in _promql(board)))
    assert any(n.startswith("container_") for n in all_names), "cAdvisor panels"
    assert any(n.startswith("node_") for n in all_names), "node-exporter panels"
    assert any(n.startswith("kube_") for n in all_names), "kube-state-metrics panels"


# --- provisioning -------------------------------------------------------------------------


def _provisioned_datasources() -> list[Obj]:
    doc = yaml.safe_load((PROVISIONING / "datasources" / "datasources.yaml").read_text("utf-8"))
    assert doc["apiVersion"] == 1
    sources: list[Obj] = doc["datasources"]
    return sources


def test_datasource_provisioning() -> None:
    sources = _provisioned_datasources()
    assert {(s["type"], s["uid"]) for s in sources} == {
        ("prometheus", "prometheus"),
        ("loki", "loki"),
    }
    assert [s["name"] for s in sources if s.get("isDefault")] == ["Prometheus"]
    for s in sources:
        assert s["access"] == "proxy" and re.match(r"https?://", s["url"]), s["name"]


def test_dashboard_datasource_defaults_are_provisioned(dashboard: Obj) -> None:
    uids = {s["type"]: s["uid"] for s in _provisioned_datasources()}
    for var in dashboard["templating"]["list"]:
        if var["type"] == "datasource":
            assert var["current"]["value"] == uids[var["query"]], var["name"]


def test_dashboard_provider() -> None:
    files = sorted((PROVISIONING / "dashboards").glob("*.yaml"))
    assert files
    for path in files:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert doc["apiVersion"] == 1
        for provider in doc["providers"]:
            assert provider["type"] == "file"
            assert provider["options"]["path"].startswith("/")
            assert provider["allowUiUpdates"] is False
