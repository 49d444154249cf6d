"""Self-healing guards across two replicas (two app instances on one store, SQLite and PostgreSQL,
one ManualClock): the same intent posted to both acts once; cooldown, once-until-resolved and the
circuit breaker hold whichever replica ingests or works the next alert (the slots are rows of the
shared store)."""

from __future__ import annotations

import asyncio

import pytest

from app.engine.clock import ManualClock
from app.web.state import STATE
from tests.fakes.kubernetes import FakeKubernetes
from tests.fakes.telegram import FakeTelegram
from tests.remediate.support import RESTART, patches, replies
from tests.remediate.test_end_to_end import Start, clock, latency, post, start, until

__all__ = ["clock", "start"]  # the fixtures
pytestmark = pytest.mark.parametrize("storage_url", ["sqlite", "postgres"], indirect=True)


async def test_the_same_webhook_posted_to_both_replicas_at_once_acts_once(
    start: Start, clock: ManualClock, fake_telegram: FakeTelegram, fake_kubernetes: FakeKubernetes
) -> None:
    a, b = await start(), await start()
    await asyncio.gather(*(post(c, latency()) for c in (a, b, a, b)))  # an Alertmanager HA pair, retrying
    await until(clock, lambda: len(replies(fake_telegram)) >= 1)
    for _ in range(60):
        await clock.advance(1)
        await asyncio.sleep(0.005)
    assert len(patches(fake_kubernetes)) == 1
    assert len(replies(fake_telegram)) == 1
    assert len(await b.app[STATE].store.remediations()) == 1


async def test_once_until_resolved_and_cooldown_hold_on_the_other_replica(
    start: Start, clock: ManualClock, fake_telegram: FakeTelegram, fake_kubernetes: FakeKubernetes
) -> None:
    a, b = await start(), await start()
    await post(a, latency("fp1"))
    await until(clock, lambda: len(replies(fake_telegram)) >= 1)
    for _ in range(120):  # past the notification dedup window: Alertmanager repeats the group
        await clock.advance(1)
        await asyncio.sleep(0.002)
    await post(b, latency("fp1"))  # the same firing episode, to the other replica: nothing
    for _ in range(30):
        await clock.advance(1)
        await asyncio.sleep(0.005)
    assert len(patches(fake_kubernetes)) == 1 and len(replies(fake_telegram)) == 1
    await post(b, latency("fp2"))  # another alert on the target within the 30m cooldown
    await until(clock, lambda: len(replies(fake_telegram)) >= 2)
    assert replies(fake_telegram)[1].text.startswith("⛔ rollout restart prod/model-api: refused by cooldown")
    assert len(patches(fake_kubernetes)) == 1


async def test_the_circuit_breaker_counts_the_actions_of_both_replicas(
    start: Start, clock: ManualClock, fake_telegram: FakeTelegram, fake_kubernetes: FakeKubernetes
) -> None:
    a, b = await start([{**RESTART, "cooldown": "0s"}]), await start([{**RESTART, "cooldown": "0s"}])
    for i, client in enumerate((a, b, a, b)):
        await post(client, latency(f"fp{i}"))
        await until(clock, lambda n=i: len(replies(fake_telegram)) >= n + 1)
    texts = [m.text for m in replies(fake_telegram)]
    assert all(t.startswith("🔧 rollout restart prod/model-api: complete") for t in texts[:3]), texts
    assert texts[3].startswith("⛔ rollout restart prod/model-api: refused by circuit_breaker: 3 actions")
    assert len(patches(fake_kubernetes)) == 3
