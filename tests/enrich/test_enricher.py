"""The Enricher with FakeLoki: one query per distinct rendered query, the window asked, lines
redacted and shaped, and every failure (4xx, 5xx, slow, down) a note within the time budget."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from app.config.enrichment import EnrichmentSettings
from app.core.enrichment import Fetch
from app.enrich.enricher import MAX_LOG_QUERIES, Enricher
from tests.enrich.alerts import NOW, STARTED, alert, group
from tests.fakes.loki import FakeLoki

S = 1_000_000_000
NOW_NS = int(NOW.timestamp()) * S
QUERY = '{namespace="{{ labels.namespace }}", app="{{ labels.deployment }}"} |~ "(?i)error|exception|timeout"'


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def enricher(
    http: aiohttp.ClientSession,
    loki_url: str,
    *,
    loki: dict[str, Any] | None = None,
    logs: dict[str, Any] | None = None,
    graph: dict[str, Any] | None = None,
    prometheus_url: str | None = None,
    budget: float | None = None,
) -> Enricher:
    rule: dict[str, Any] = {
        "matchers": ['namespace=~"prod|staging"', 'deployment!=""'],
        "logs": {"query": QUERY, "before": "15m", "limit": 3} | (logs or {}),
    }
    raw: dict[str, Any] = {"loki": {"url": loki_url} | (loki or {}), "rules": [rule]}
    if graph is not None:
        rule["graph"] = graph
        raw["prometheus"] = {"url": prometheus_url or closed_port_url(), "timeout": "1s"}
    settings = EnrichmentSettings.model_validate(raw)
    return Enricher(settings, session=http, clock=NOW.timestamp, budget=budget)


def push_lines(fake: FakeLoki, app: str = "model-api") -> None:
    lines = [
        "INFO started",
        "ERROR timeout calling feature-store",
        "ERROR db connect failed password=hunter2 user=api",
        "ERROR retrying with Authorization: Bearer abcdefghijklmnop",
        "ERROR exception in handler\ttraceback",
    ]
    fake.push(
        {"namespace": "prod", "app": app},
        [(NOW_NS - (10 - i) * 60 * S, line) for i, line in enumerate(lines)]
        + [(NOW_NS + S, "ERROR from the future")],
    )


async def test_log_lines_of_the_alert_s_deployment(fake_loki: FakeLoki, http: aiohttp.ClientSession) -> None:
    push_lines(fake_loki)
    push_lines(fake_loki, app="other")
    g = group(alert(0), alert(1, labels={"pod": "model-api-1"}, starts_at=STARTED - timedelta(minutes=5)))
    result = await enricher(http, fake_loki.url).enrich(g)
    # Both alerts render the same query: asked once, with the earlier alert's window.
    [req] = fake_loki.requests
    assert req.query["query"] == '{namespace="prod", app="model-api"} |~ "(?i)error|exception|timeout"'
    assert int(req.query["start"]) == int((STARTED - timedelta(minutes=20)).timestamp()) * S
    assert int(req.query["end"]) == NOW_NS + 1
    assert (req.query["limit"], req.query["direction"]) == ("3", "backward")
    [section] = result.logs
    assert [(x.time, x.text) for x in section.lines] == [
        ("11:52:00", "ERROR db connect failed password=«redacted» user=api"),
        ("11:53:00", "ERROR retrying with Authorization: Bearer «redacted»"),
        ("11:54:00", "ERROR exception in handler\\ttraceback"),
    ]
    assert result.notes == () and result.graphs == ()
    assert [(f.source, f.outcome) for f in result.fetches] == [("loki", "ok")]
    assert result.redactions == 2
    assert "hunter2" not in result.to_json() and "abcdefghijklmnop" not in result.to_json()


async def test_an_injected_label_value_stays_a_label_value(
    fake_loki: FakeLoki, http: aiohttp.ClientSession
) -> None:
    evil = 'x"} |= "y'
    fake_loki.push({"namespace": "prod", "app": evil}, [(NOW_NS - S, "ERROR evil app's own line")])
    push_lines(fake_loki)  # lines a widened query would also return
    result = await enricher(http, fake_loki.url).enrich(group(alert(labels={"deployment": evil})))
    [query] = fake_loki.queries
    assert query.label("app") == [("=", evil)] and query.label("namespace") == [("=", "prod")]
    assert len(query.matchers) == 2 and [f.op for f in query.filters] == ["|~"]
    assert [x.text for s in result.logs for x in s.lines] == ["ERROR evil app's own line"]


async def test_no_lines_is_an_empty_section(fake_loki: FakeLoki, http: aiohttp.ClientSession) -> None:
    result = await enricher(http, fake_loki.url).enrich(group(alert()))
    assert [s.lines for s in result.logs] == [()] and result.notes == ()
    assert [f.outcome for f in result.fetches] == ["empty"]


async def test_resolved_groups_and_unmatched_alerts_fetch_nothing(
    fake_loki: FakeLoki, http: aiohttp.ClientSession
) -> None:
    e = enricher(http, fake_loki.url)
    assert (await e.enrich(group(alert(status="resolved")))).empty
    assert (await e.enrich(group(alert(labels={"namespace": "dev"})))).empty
    assert (await e.enrich(group(alert(labels={"deployment": ""})))).empty
    assert fake_loki.requests == []


async def test_distinct_queries_are_capped(fake_loki: FakeLoki, http: aiohttp.ClientSession) -> None:
    alerts = [alert(i, labels={"deployment": f"app-{i}"}) for i in range(MAX_LOG_QUERIES + 2)]
    result = await enricher(http, fake_loki.url).enrich(group(*alerts))
    assert len(fake_loki.requests) == MAX_LOG_QUERIES == len(result.logs)
    assert result.notes == ("logs: 2 more queries not run (at most 5 per group)",)


@pytest.mark.parametrize(
    ("status", "body", "note"),
    [
        (503, None, "logs unavailable: Loki answered 503: internal error"),
        (429, None, "logs unavailable: Loki answered 429: too many outstanding requests"),
        (400, "parse error at line 1, col 3: token=leaked123", "logs unavailable: Loki answered 400: "
         "parse error at line 1, col 3: token=«redacted»"),
    ],
)  # fmt: skip
async def test_loki_failures_become_one_line_notes(
    fake_loki: FakeLoki, http: aiohttp.ClientSession, status: int, body: str | None, note: str
) -> None:
    fake_loki.fail_next(status=status, body=body)
    result = await enricher(http, fake_loki.url).enrich(group(alert()))
    assert result.logs == () and result.notes == (note,)
    assert [(f.source, f.outcome) for f in result.fetches] == [("loki", "error")]


async def test_a_slow_loki_costs_its_timeout_only(fake_loki: FakeLoki, http: aiohttp.ClientSession) -> None:
    fake_loki.answer_slowly(3.0)
    began = time.monotonic()
    result = await enricher(http, fake_loki.url, loki={"timeout": "200ms"}).enrich(group(alert()))
    assert time.monotonic() - began < 1.0
    assert result.notes == ("logs unavailable: Loki did not answer within 200ms",)
    assert [f.outcome for f in result.fetches] == ["timeout"]


async def test_the_overall_budget_cuts_everything_still_running(
    fake_loki: FakeLoki, http: aiohttp.ClientSession
) -> None:
    fake_loki.answer_slowly(3.0)
    began = time.monotonic()
    result = await enricher(http, fake_loki.url, budget=0.2).enrich(group(alert()))
    assert time.monotonic() - began < 1.0
    assert result.notes == ("logs unavailable: no answer within 200ms",)
    assert result.fetches == (Fetch("loki", "timeout", 0.2),)
    await fake_loki.wait_until(lambda: fake_loki.requests[0].aborted, what="the abandoned request to close")


async def test_loki_down(http: aiohttp.ClientSession) -> None:
    result = await enricher(http, closed_port_url()).enrich(group(alert()))
    assert result.notes == ("logs unavailable: cannot connect to Loki",)


async def test_prometheus_down_leaves_the_logs(fake_loki: FakeLoki, http: aiohttp.ClientSession) -> None:
    push_lines(fake_loki)
    result = await enricher(http, fake_loki.url, graph={"range": "1h"}).enrich(group(alert()))
    assert len(result.logs) == 1 and result.graphs == ()
    assert result.notes == ("graph unavailable: cannot connect to Prometheus",)
    assert sorted((f.source, f.outcome) for f in result.fetches) == [("loki", "ok"), ("prometheus", "error")]


async def test_no_expression_no_graph_and_no_word_about_it(
    fake_loki: FakeLoki, http: aiohttp.ClientSession
) -> None:
    result = await enricher(http, fake_loki.url, graph={"range": "1h"}).enrich(group(alert(expr=None)))
    assert result.graphs == () and result.notes == ()
    assert [f.source for f in result.fetches] == ["loki"]


async def test_a_failing_template_is_a_note(fake_loki: FakeLoki, http: aiohttp.ClientSession) -> None:
    e = enricher(http, fake_loki.url, logs={"query": '{app="{{ labels.__class__.__mro__ }}"}'})
    result = await e.enrich(group(alert()))
    [note] = result.notes
    assert note.startswith("logs unavailable: query template failed: access to attribute '__class__'")
    assert fake_loki.requests == []
