"""Every provider message counts against the destination's rate limits: a Telegram photo
replying to an alert takes a token of the chat's limits like the alert itself (a group chat:
20 a minute, one every 3 s), on the injected clock (the real python-telegram-bot client against
the fake Telegram, a real graph)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient

from app.engine.clock import ManualClock
from app.web.app import create_app
from tests.conftest import make_config
from tests.engine.test_delivery import CHAT, eventually, post
from tests.fakes.prometheus import FakePrometheus
from tests.fakes.telegram import FakeTelegram
from tests.payloads import alert, message

Client = TestClient  # type: ignore[type-arg]
EXPR = "model_latency_p95_seconds > 0.5"


@pytest.fixture
async def prometheus() -> AsyncIterator[FakePrometheus]:
    async with FakePrometheus([({"pod": "model-api-0"}, lambda t: 0.5 + 0.1 * math.sin(t / 600))]) as fake:
        yield fake


def with_graph(name: str) -> dict[str, Any]:
    a = alert(name, f"fp-{name}", deployment="model-api")
    a["generatorURL"] = f"http://prometheus:9090/graph?g0.expr={quote(EXPR, safe='')}&g0.tab=1"
    return message(f'{{}}:{{alertname="{name}"}}', [a])


async def start_app(
    aiohttp_client: Any,
    tmp_path: Path,
    telegram: FakeTelegram,
    prometheus: FakePrometheus,
    clock: ManualClock,
    **extra: Any,
) -> Client:
    receivers = [
        {
            "name": "oncall",
            "telegram_configs": [{"bot_token": telegram.token, "chat_id": CHAT, "api_url": telegram.url}],
        }
    ]
    enrichment = {"prometheus": {"url": prometheus.url}, "rules": [{"graph": {"range": "1h"}}]}
    config = make_config(tmp_path, receivers, {"receiver": "oncall"}, enrichment=enrichment, **extra)
    client: Client = await aiohttp_client(create_app(config, clock=clock))
    return client


async def test_photos_count_against_the_chat_limit(
    aiohttp_client: Any, tmp_path: Path, fake_telegram: FakeTelegram, prometheus: FakePrometheus
) -> None:
    clock = ManualClock()
    client = await start_app(aiohttp_client, tmp_path, fake_telegram, prometheus, clock)
    start = clock.now()
    sent: list[tuple[str, float]] = []

    async def settle(count: int) -> None:
        """Wait for the `count`-th message, then a moment more: nothing else may go out."""
        await eventually(lambda: len(fake_telegram.messages(CHAT)) >= count, timeout=20)
        await asyncio.sleep(0.3)
        for m in fake_telegram.messages(CHAT)[len(sent) :]:
            sent.append((m.kind, clock.now() - start))

    await post(client, with_graph("First"))
    await post(client, with_graph("Second"))
    for count in range(1, 4):
        await settle(count)
        await clock.advance(3)
    await settle(4)
    # Four messages at the group chat's pace (20 a minute: one per 3 s): an alert, its photo, the
    # next alert, its photo; not two pairs at once.
    assert sent == [("text", 0.0), ("photo", 3.0), ("text", 6.0), ("photo", 9.0)]


async def test_waiting_for_the_photo_s_token_is_not_part_of_the_send_timeout(
    aiohttp_client: Any, tmp_path: Path, fake_telegram: FakeTelegram, prometheus: FakePrometheus
) -> None:
    clock = ManualClock()
    client = await start_app(
        aiohttp_client, tmp_path, fake_telegram, prometheus, clock, delivery={"send_timeout": "300ms"}
    )
    await post(client, with_graph("Slow"))
    await eventually(lambda: len(fake_telegram.messages(CHAT)) == 1, timeout=20)
    await asyncio.sleep(0.7)  # over twice the send timeout of real time, waiting for the token
    await clock.advance(3)
    await eventually(lambda: len(fake_telegram.messages(CHAT)) == 2, timeout=5)
    await clock.advance(5)
    await asyncio.sleep(0.3)
    # Not timed out and retried: the alert went out once, its photo after it.
    assert [m.kind for m in fake_telegram.messages(CHAT)] == ["text", "photo"]
    metrics = (await (await client.get("/metrics")).text()).splitlines()
    assert not [line for line in metrics if line.startswith("alertmedic_delivery_retries_total{")]
