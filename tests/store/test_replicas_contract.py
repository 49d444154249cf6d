"""The Store contract of what several replicas share besides the queue: rate-limit buckets (the
sum of the replicas' sends keeps every limit) and named leases (one holder at a time), run
against every store in `STORES` with two store instances on one state, as two replicas have."""

from __future__ import annotations

import asyncio
import itertools
import random

import pytest

from app.core.ratelimit import Limit, Limiter
from tests.store.conftest import OpenStore

CHAT: Limit = ("telegram:chat:1:-100", 1.0, 1)
GROUP: Limit = ("telegram:group:1:-100", 20 / 60, 20)
BOT: Limit = ("telegram:bot:1", 30.0, 30)


async def test_interleaved_reservations_of_two_replicas_keep_the_limit_of_one(open_store: OpenStore) -> None:
    """Two replicas asking in turn get exactly the answers one limiter would give: their sum
    never exceeds a group chat's 20 messages then one per 3 s, nor its 1 message/s."""
    a, b = await open_store(), await open_store()
    one = Limiter()
    rng = random.Random(11)
    t, sent = 0.0, []
    for _ in range(300):
        t += rng.choice((0.05, 0.3, 0.9, 2.0))
        replica = rng.choice((a, b))
        wait = await replica.reserve_rate([CHAT, GROUP, BOT], now=t)
        assert wait == pytest.approx(one.reserve([CHAT, GROUP, BOT], t), abs=1e-9)
        if wait == 0.0:
            sent.append(t)
    assert 40 < len(sent) < 300  # some went, many were held back
    for i, start in enumerate(sent):
        in_minute = [s for s in sent[i:] if s < start + 60]
        assert len(in_minute) <= 20 + 60 / 3  # GCRA: the burst, then the rate
    assert all(later - earlier >= 1.0 - 1e-9 for earlier, later in itertools.pairwise(sent))


async def test_concurrent_reservations_at_one_instant_take_the_burst_exactly(open_store: OpenStore) -> None:
    a, b = await open_store(), await open_store()
    waits = await asyncio.gather(*(s.reserve_rate([BOT], now=100.0) for _ in range(40) for s in (a, b)))
    assert sum(1 for w in waits if w == 0.0) == 30
    assert all(w == pytest.approx(1 / 30) for w in waits if w > 0)
    chat = await asyncio.gather(*(s.reserve_rate([CHAT], now=100.0) for _ in range(10) for s in (a, b)))
    assert sorted(chat)[:2] == [0.0, pytest.approx(1.0)]


async def test_a_reservation_takes_every_bucket_or_none(open_store: OpenStore) -> None:
    a, b = await open_store(), await open_store()
    assert await a.reserve_rate([CHAT, BOT], now=0.0) == 0.0
    # the chat is held for 1 s: the bot's bucket is not taken by the refused send
    assert await b.reserve_rate([CHAT, BOT], now=0.5) == pytest.approx(0.5)
    for _ in range(29):
        assert await b.reserve_rate([("telegram:chat:1:2", 30.0, 30), BOT], now=0.5) == 0.0
    assert await a.reserve_rate([("telegram:chat:1:3", 30.0, 30), BOT], now=0.5) > 0


async def test_a_retry_after_holds_the_bucket_for_every_replica(open_store: OpenStore) -> None:
    a, b = await open_store(), await open_store()
    assert await a.reserve_rate([CHAT], now=0.0) == 0.0
    await a.penalise_rate(CHAT, until=10.0)
    assert await b.reserve_rate([CHAT], now=1.0) == pytest.approx(9.0)
    await b.penalise_rate(CHAT, until=5.0)  # an earlier end never shortens a wait
    assert await a.reserve_rate([CHAT], now=9.5) == pytest.approx(0.5)
    assert await a.reserve_rate([CHAT], now=10.0) == 0.0
    await b.penalise_rate(("never:used", 1.0, 1), until=3.0)
    assert await a.reserve_rate([("never:used", 1.0, 1)], now=2.0) == pytest.approx(1.0)


async def test_a_named_lease_has_one_holder_and_is_taken_over_after_it_ends(open_store: OpenStore) -> None:
    a, b = await open_store(), await open_store()
    name = "poll:telegram:42"
    assert await a.hold_lease(name, owner="A", now=0.0, lease=5.0)
    assert not await b.hold_lease(name, owner="B", now=1.0, lease=5.0)
    assert await a.hold_lease(name, owner="A", now=2.0, lease=5.0)  # renewed until 7
    assert not await b.hold_lease(name, owner="B", now=6.9, lease=5.0)
    assert await b.hold_lease(name, owner="B", now=7.0, lease=5.0)  # A stopped renewing
    assert not await a.hold_lease(name, owner="A", now=7.5, lease=5.0)
    assert not await a.drop_lease(name, owner="A")
    assert await b.drop_lease(name, owner="B")
    assert await a.hold_lease(name, owner="A", now=8.0, lease=5.0)  # given back: at once
    # at one instant, of many replicas asking for a free lease exactly one gets it
    got = await asyncio.gather(
        *(s.hold_lease("poll:telegram:7", owner=f"{i}", now=0.0, lease=5.0) for i, s in enumerate((a, b) * 5))
    )
    assert got.count(True) == 1


async def test_a_named_lease_is_not_a_lane(open_store: OpenStore) -> None:
    """The dispatcher's lane claims and renewals leave a named lease alone."""
    a, b = await open_store(), await open_store()
    assert await a.hold_lease("poll:telegram:42", owner="A/telegram", now=0.0, lease=5.0)
    assert await a.renew("A", until=100.0) == 0
    assert await b.release("A") == 0
    assert not await b.hold_lease("poll:telegram:42", owner="B/telegram", now=4.0, lease=5.0)
    assert "poll:telegram:42" not in await a.pending_lanes()
