"""Two replicas (two app instances) on one store: what they share besides the job queue.

Rate limits: a chat's 1 message/s holds for the sum of the replicas' sends (real clock, the
real python-telegram-bot client against the fake Telegram, which answers 429 when it is
exceeded)."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from app.engine.clock import ManualClock
from app.web.app import create_app
from app.web.state import STATE
from tests.conftest import make_config
from tests.engine.test_delivery import CHAT, eventually, post
from tests.fakes.telegram import FakeTelegram
from tests.payloads import alert, message

Client = TestClient  # type: ignore[type-arg]


def delivered(client: Client, receiver: str) -> float:
    metric = client.app[STATE].metrics.notifications.labels(receiver, "telegram", "delivered")
    return float(metric._value.get())


@pytest.mark.slow
async def test_two_replicas_sending_to_one_chat_keep_its_one_message_per_second(
    aiohttp_client: Any, tmp_path: Path, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.enforce_rate_limits = True
    fake_telegram.per_chat_interval = 0.8  # our 1 s, less the jitter of two HTTP round trips
    tg = {"bot_token": fake_telegram.token, "chat_id": CHAT, "api_url": fake_telegram.url}
    receivers = [{"name": "a", "telegram_configs": [tg]}, {"name": "b", "telegram_configs": [tg]}]
    # two destinations with the same chat; each replica is sent the alerts of one of them, so
    # both replicas send to the chat at once and only the shared bucket spaces them
    a: Client = await aiohttp_client(create_app(make_config(tmp_path, receivers, {"receiver": "a"})))
    b: Client = await aiohttp_client(create_app(make_config(tmp_path, receivers, {"receiver": "b"})))
    n = 4
    for i in range(n):
        await post(a, message(f"a{i}", [alert(f"A{i}", f"fa{i}")]))
        await post(b, message(f"b{i}", [alert(f"B{i}", f"fb{i}")]))
    await fake_telegram.wait_for_messages(CHAT, 2 * n, timeout=30)
    sends = [r for r in fake_telegram.requests if r.path.endswith("/sendMessage")]
    assert len(sends) == 2 * n  # no 429, so no retry
    gaps = [y.received_at - x.received_at for x, y in itertools.pairwise(sends)]
    assert min(gaps) >= 0.8, gaps

    def by(c: Client) -> float:
        return delivered(c, "a") + delivered(c, "b")

    await eventually(lambda: by(a) + by(b) == 2 * n)
    assert by(a) > 0 and by(b) > 0  # both replicas sent to the chat


async def test_a_replica_that_stalled_past_its_lease_does_not_send_what_the_other_took_over(
    aiohttp_client: Any, tmp_path: Path, fake_telegram: FakeTelegram
) -> None:
    """Replica A holds a chat's lane with jobs queued behind the chat's 1 message/s and stalls
    (its clock stands still: no renewal, no send) while B's time goes on: B takes the lane over
    once A's lease has run out and sends the rest. When A wakes up it checks its claim before
    sending, and sends nothing twice."""
    clock_a, clock_b = ManualClock(), ManualClock()
    tg = {"bot_token": fake_telegram.token, "chat_id": CHAT, "api_url": fake_telegram.url}
    config = make_config(tmp_path, [{"name": "a", "telegram_configs": [tg]}], {"receiver": "a"})
    a: Client = await aiohttp_client(create_app(config, clock=clock_a))
    b: Client = await aiohttp_client(create_app(config, clock=clock_b))
    n = 5
    for i in range(n):
        await post(a, message(f"g{i}", [alert(f"A{i}", f"f{i}")]))
    await fake_telegram.wait_for_messages(CHAT, 1)
    await asyncio.sleep(0.2)  # A has claimed them all and waits for the chat's next token
    for _ in range(12):  # B: 12 s; A: stalled
        await clock_b.advance(1)
        await asyncio.sleep(0.05)
    await fake_telegram.wait_for_messages(CHAT, n)
    await clock_a.advance(12)  # A wakes up
    for _ in range(10):
        await asyncio.sleep(0.05)
        await clock_a.advance(1)
        await clock_b.advance(1)
    texts = [m.visible_text for m in fake_telegram.messages(CHAT)]
    assert len(texts) == n, texts  # none twice
    assert delivered(a, "a") == 1 and delivered(b, "a") == n - 1
