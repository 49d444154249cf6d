"""What to fetch: matching alerts, windows, ranges, the generatorURL's expression, thresholds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.enrich_plan import (
    MAX_POINTS,
    distinct_capped,
    expr_from_generator_url,
    loki_window,
    matching_alerts,
    prometheus_range,
    threshold_of,
)
from app.core.matchers import parse_matchers
from tests.enrich.alerts import NOW, alert, generator_url, group

S = 1_000_000_000


def test_every_matcher_string_must_match_a_firing_alert() -> None:
    rule = [parse_matchers('namespace=~"prod|staging"'), parse_matchers('deployment!=""')]
    g = group(
        alert(0),
        alert(1, labels={"namespace": "dev"}),
        alert(2, labels={"deployment": ""}),
        alert(3, labels={"namespace": "staging"}, status="resolved"),
        alert(4, labels={"namespace": "staging"}),
    )
    assert [a.fingerprint[-1] for a in matching_alerts(rule, g)] == ["0", "4"]
    assert len(matching_alerts([], g)) == 4  # no matchers: every firing alert


def test_distinct_capped() -> None:
    assert distinct_capped(["a", "b", "a", "c", "d"], 2) == (["a", "b"], 2)
    assert distinct_capped(["a", "a"], 5) == (["a"], 0)


def test_loki_window_from_before_the_start_to_now() -> None:
    start, end = loki_window(NOW - timedelta(minutes=20), NOW, 900)
    assert start == int((NOW - timedelta(minutes=35)).timestamp()) * S
    assert end == int(NOW.timestamp()) * S + 1  # end is exclusive: a line logged now is in
    # A start in the future (clock skew) is taken as now.
    start, _ = loki_window(NOW + timedelta(minutes=5), NOW, 60)
    assert start == int(NOW.timestamp() - 60) * S


def test_loki_window_keeps_microseconds() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
    _, end = loki_window(now, now, 0)
    assert end == int(datetime(2026, 1, 1, 12, tzinfo=UTC).timestamp()) * S + 123_456_000 + 1


def test_prometheus_range_of_an_hour() -> None:
    q = prometheus_range(NOW, 3600)
    assert (q.end, q.end - q.start, q.step) == (NOW.timestamp(), 3600, 9.0)
    assert q.points == 401


@given(st.floats(min_value=0, max_value=10 * 365 * 86400), st.integers(min_value=1, max_value=50_000))
def test_prometheus_range_stays_under_the_point_limit(span: float, points: int) -> None:
    q = prometheus_range(NOW, span, points=points)
    assert q.step >= 1 and q.step == int(q.step)
    assert (q.end - q.start) / q.step <= MAX_POINTS


@pytest.mark.parametrize("form", ["2.x", "3.x"])
def test_expr_from_both_generator_url_forms(form: str) -> None:
    expr = 'histogram_quantile(0.95, sum by (le) (rate(http_seconds_bucket{job="api"}[5m]))) > 0.5'
    assert expr_from_generator_url(generator_url(expr, form=form)) == expr


@pytest.mark.parametrize(
    "url",
    ["", "http://prometheus:9090/graph", "http://p/graph?g0.tab=1", "http://p/graph?g0.expr=&g0.tab=1", "::"],
)
def test_no_expression_no_graph(url: str) -> None:
    assert expr_from_generator_url(url) is None


def test_the_path_and_host_do_not_matter() -> None:
    assert expr_from_generator_url("https://evil.example/anything?x=1&g0.expr=up") == "up"


@pytest.mark.parametrize(
    ("expr", "threshold"),
    [
        ("model_latency_p95_seconds > 0.5", 0.5),
        ("rate(errors_total[5m]) >= 1e-3", 0.001),
        ("up == 0", 0.0),
        ("x < bool -2", -2.0),
        ("sum(rate(x[5m])) by (job) > 10", 10.0),
        ("sum(x > 1)", None),
        ("x > y", None),
        ("x offset 5m", None),
        ("vector(1)", None),
    ],
)
def test_threshold_of(expr: str, threshold: float | None) -> None:
    assert threshold_of(expr) == threshold
