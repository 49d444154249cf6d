"""Graphs against the real Prometheus (Debian's), filled by a TSDB backfill: the series it
answers, and a firing alert whose generatorURL (2.x and 3.x forms) names a real expression gets a
PNG that decodes, has the expected size and is not blank. Queries go to the configured
Prometheus only, never to the generatorURL's host."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from app.config.enrichment import EnrichmentSettings, PrometheusSettings
from app.core.enrich_plan import prometheus_range
from app.enrich.enricher import Enricher
from app.enrich.errors import EnrichmentError
from app.enrich.prometheus import PrometheusClient
from tests.enrich.alerts import alert, generator_url, group
from tests.enrich.png import colour_stats, dimensions
from tests.enrich.prometheus import METRIC, STEP, RealPrometheus, latency, real_prometheus

pytestmark = pytest.mark.slow
__all__ = ["real_prometheus"]  # the module-scoped fixture

EXPR = f'max by (pod) ({METRIC}{{namespace="prod"}}) > 0.5'


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def enricher(prom: RealPrometheus, http: aiohttp.ClientSession) -> Enricher:
    settings = EnrichmentSettings.model_validate(
        {"prometheus": {"url": prom.url, "timeout": "10s"}, "rules": [{"graph": {"range": "1h"}}]}
    )
    return Enricher(settings, session=http, clock=lambda: prom.now)


async def test_query_range_reads_the_backfilled_series(
    real_prometheus: RealPrometheus, http: aiohttp.ClientSession
) -> None:
    client = PrometheusClient(PrometheusSettings(url=real_prometheus.url), session=http)
    window = prometheus_range(datetime.fromtimestamp(real_prometheus.now, UTC), 3600)
    series = await client.query_range(f'{METRIC}{{namespace="prod"}}', window)
    assert sorted(s.labels["pod"] for s in series) == ["model-api-0", "model-api-1", "model-api-2"]
    s0 = next(s for s in series if s.labels["pod"] == "model-api-0")
    assert s0.labels["__name__"] == METRIC and len(s0.points) == window.points
    for t, v in s0.points[::50]:
        sample = t // STEP * STEP  # the latest backfilled sample at or before t
        assert v == pytest.approx(latency(0, sample, real_prometheus.started), abs=1e-6)


@pytest.mark.parametrize("form", ["2.x", "3.x"])
async def test_an_alert_gets_a_graph_of_its_own_expression(
    real_prometheus: RealPrometheus, http: aiohttp.ClientSession, form: str, tmp_path: Path
) -> None:
    started = datetime.fromtimestamp(real_prometheus.started, UTC)
    # The host in the link does not exist: only the configured Prometheus is asked.
    url = generator_url(EXPR, form=form, host="http://prometheus.invalid:9090")
    g = group(alert(0, starts_at=started, url=url), alert(1, starts_at=started, url=url))
    result = await enricher(real_prometheus, http).enrich(g)
    assert result.notes == ()
    [graph] = result.graphs
    assert graph.expr == EXPR and (graph.width, graph.height) == (800, 300)
    assert graph.caption == f"{EXPR} · last 1h · started {started:%H:%M} UTC"
    assert dimensions(graph.png) == (800, 300)
    distinct, not_white = colour_stats(graph.png)
    assert distinct > 20 and not_white > 0.02
    assert [(f.source, f.outcome) for f in result.fetches] == [("prometheus", "ok")]
    (tmp_path / f"graph-{form}.png").write_bytes(graph.png)


async def test_a_bad_expression_is_prometheus_s_400_in_a_note(
    real_prometheus: RealPrometheus, http: aiohttp.ClientSession
) -> None:
    result = await enricher(real_prometheus, http).enrich(group(alert(expr="rate(")))
    [note] = result.notes
    assert note.startswith("graph unavailable: Prometheus answered 400: ") and "parse error" in note
    assert result.graphs == ()


async def test_an_expression_without_data_gets_no_graph_and_no_note(
    real_prometheus: RealPrometheus, http: aiohttp.ClientSession
) -> None:
    result = await enricher(real_prometheus, http).enrich(group(alert(expr="no_such_metric > 1")))
    assert result.graphs == () and result.notes == ()
    assert [f.outcome for f in result.fetches] == ["empty"]


async def test_too_many_points_is_refused_by_prometheus(
    real_prometheus: RealPrometheus, http: aiohttp.ClientSession
) -> None:
    """The limit prometheus_range keeps under is real: one point more is a 400."""
    client = PrometheusClient(PrometheusSettings(url=real_prometheus.url), session=http)
    window = prometheus_range(datetime.fromtimestamp(real_prometheus.now, UTC), 11_000, points=11_000)
    assert (window.end - window.start, window.step) == (11_000, 1)
    await client.query_range(METRIC, window)
    too_many = type(window)(window.start - 1, window.end, 1.0)
    with pytest.raises(EnrichmentError, match="exceeded maximum resolution of 11,000 points"):
        await client.query_range(METRIC, too_many)
