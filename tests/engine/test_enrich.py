"""GroupEnrichment: once per group state across lanes, processes and restarts, with the real
Enricher against FakeLoki and a real SQLite store; a manual clock for the wait on another
process's claim."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from app.config.enrichment import EnrichmentSettings
from app.core.enrichment import Enrichment
from app.engine.clock import ManualClock
from app.engine.enrich import GroupEnrichment, state_key
from app.enrich.enricher import Enricher
from app.metrics import Metrics
from app.store.sqlite import SQLiteStore
from tests.enrich.alerts import alert, group
from tests.fakes.loki import FakeLoki

S = 1_000_000_000
QUERY = '{namespace="{{ labels.namespace }}", app="{{ labels.deployment }}"}'
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "state.db")
    await s.start()
    yield s
    await s.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def make(
    loki: FakeLoki, http: aiohttp.ClientSession, store: SQLiteStore, clock: ManualClock, owner: str
) -> GroupEnrichment:
    settings = EnrichmentSettings.model_validate(
        {"loki": {"url": loki.url}, "rules": [{"logs": {"query": QUERY, "limit": 5}}]}
    )
    enricher = Enricher(settings, session=http, clock=clock.now)
    return GroupEnrichment(
        enricher, store, lanes=frozenset({"a"}), clock=clock, metrics=Metrics(), owner=owner
    )


@pytest.fixture
def loki_lines(fake_loki: FakeLoki) -> FakeLoki:
    now_ns = int(NOW.timestamp()) * S
    fake_loki.push({"namespace": "prod", "app": "model-api"}, [(now_ns - 60 * S, "ERROR boom token=abc123")])
    return fake_loki


async def test_concurrent_lanes_and_a_restart_share_one_fetch(
    loki_lines: FakeLoki, http: aiohttp.ClientSession, store: SQLiteStore
) -> None:
    clock = ManualClock(NOW.timestamp())
    g = group(alert(0), alert(1))
    first = make(loki_lines, http, store, clock, "p1")
    results = await asyncio.gather(*(first.for_group(g) for _ in range(4)))
    assert len(loki_lines.queries) == 1
    assert all(r == results[0] for r in results)
    assert results[0].logs[0].lines[0].text == "ERROR boom token=«redacted»"
    # A restarted process (or a retry) reads it back; nothing is fetched again.
    again = await make(loki_lines, http, store, clock, "p2").for_group(g)
    assert again.logs == results[0].logs and len(loki_lines.queries) == 1
    # A new firing state is a new fetch.
    await first.for_group(group(alert(0), alert(1), alert(2)))
    assert len(loki_lines.queries) == 2


async def test_a_resolved_only_state_fetches_nothing_and_keeps_the_last_logs(
    loki_lines: FakeLoki, http: aiohttp.ClientSession, store: SQLiteStore
) -> None:
    clock = ManualClock(NOW.timestamp())
    enrich = make(loki_lines, http, store, clock, "p1")
    assert await enrich.for_group(group(alert(0, status="resolved"))) is None
    assert loki_lines.queries == []
    firing = await enrich.for_group(group(alert(0)))
    kept = await enrich.for_group(group(alert(0, status="resolved")))
    assert kept is not None and kept.logs == firing.logs and kept.graphs == ()
    assert len(loki_lines.queries) == 1


async def test_another_process_s_claim_is_awaited_then_taken_over_when_abandoned(
    loki_lines: FakeLoki, http: aiohttp.ClientSession, store: SQLiteStore
) -> None:
    clock = ManualClock(NOW.timestamp())
    g = group(alert(0))
    key = state_key(g)
    # Another process claimed this state and is fetching.
    await store.claim_enrichment(g.groupKey, key, owner="other", now=clock.now(), lease=10)
    waiter = asyncio.ensure_future(make(loki_lines, http, store, clock, "p1").for_group(g))
    await clock.advance(1)
    assert not waiter.done() and loki_lines.queries == []
    shown = Enrichment(notes=("graph unavailable: Prometheus answered 503",))
    await store.save_enrichment(g.groupKey, key, result=shown.to_json(), now=clock.now())
    for _ in range(3):
        await clock.advance(0.5)
    assert await asyncio.wait_for(waiter, 5) == shown and loki_lines.queries == []
    # A claim whose owner died (kill -9) is taken over once its lease has run out.
    g2 = group(alert(7))
    await store.claim_enrichment(g2.groupKey, state_key(g2), owner="dead", now=clock.now(), lease=3)
    taker = asyncio.ensure_future(make(loki_lines, http, store, clock, "p1").for_group(g2))
    for _ in range(20):
        await clock.advance(0.2)
        if loki_lines.queries:
            break
    result = await asyncio.wait_for(taker, 5)
    assert len(loki_lines.queries) == 1 and result.logs


def test_state_is_the_set_of_firing_alerts() -> None:
    a, b = alert(0), alert(1)
    assert state_key(group(a, b)) == state_key(group(b, a))
    assert state_key(group(a, alert(1, status="resolved"))) == state_key(group(a))
    assert state_key(group(a)) != state_key(group(a, b))
