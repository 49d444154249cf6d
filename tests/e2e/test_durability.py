"""Durability of the real process: SIGKILL with deliveries pending, then exactly-once after restart;
SIGTERM drains in-flight sends and exits 0."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import TOKEN
from tests.e2e.proc import ServiceProcess
from tests.fakes.telegram import FakeTelegram
from tests.fakes.webhook import WebhookSink
from tests.payloads import alert, message

pytestmark = pytest.mark.slow
CHAT = 4242


def config(tmp_path: Path, tg: FakeTelegram, sink: WebhookSink) -> dict[str, Any]:
    return {
        "server": {"auth": {"bearer_token": TOKEN}, "shutdown_timeout": "5s"},
        "storage": {"url": f"sqlite:///{tmp_path}/state.db"},
        "delivery": {"retry_initial": "200ms", "retry_max": "1s"},
        "receivers": [
            {
                "name": "oncall",
                "telegram_configs": [{"bot_token": tg.token, "chat_id": CHAT, "api_url": tg.url}],
                "webhook_configs": [{"url": sink.url_for("/hook")}],
            }
        ],
        "route": {"receiver": "oncall"},
    }


async def send_groups(url: str, n: int) -> None:
    async with aiohttp.ClientSession() as s:
        for i in range(n):
            body = message(f"group-{i}", [alert(f"Alert{i}", f"fp{i}")])
            async with s.post(
                f"{url}/webhook/alertmanager", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
            ) as r:
                assert r.status == 200, await r.text()


def delivered_groups(tg: FakeTelegram, sink: WebhookSink) -> tuple[Counter[str], Counter[str]]:
    tg_groups = Counter(
        m.visible_text.split("Alert", 1)[1].split()[0].rstrip(":)") for m in tg.messages(CHAT)
    )
    hook_groups = Counter(d.json["groupKey"] for d in sink.deliveries)
    return tg_groups, hook_groups


async def test_kill_9_with_pending_deliveries_then_exactly_once(
    tmp_path: Path, fake_telegram: FakeTelegram, webhook_sink: WebhookSink
) -> None:
    n = 6
    svc = ServiceProcess(tmp_path, config(tmp_path, fake_telegram, webhook_sink))
    await svc.start()
    try:
        # Telegram is paced at 1 message/s per chat: some go out, then a send is held
        # in flight (the provider has not confirmed it) when the process is killed.
        webhook_sink.hold()
        await send_groups(svc.url, n)
        await fake_telegram.wait_for_messages(CHAT, 2, timeout=10)
        fake_telegram.hold()
        await fake_telegram.wait_held(1, timeout=5)
        assert webhook_sink.held >= 1
        svc.kill()
        # Let the fakes see the dropped connections first: a request whose client is gone
        # before the provider answered counts as not delivered (the provider never confirmed).
        await asyncio.sleep(0.3)
        fake_telegram.release()
        webhook_sink.release()
        before = len(fake_telegram.messages(CHAT))
        assert 2 <= before < n
        assert webhook_sink.deliveries == []

        await svc.start()
        await fake_telegram.wait_for_messages(CHAT, n, timeout=30)
        await webhook_sink.wait_until(lambda: len(webhook_sink.deliveries) >= n, timeout=30)
        await asyncio.sleep(1.5)  # anything sent twice would arrive within the rate limit
        tg_groups, hook_groups = delivered_groups(fake_telegram, webhook_sink)
        assert sorted(tg_groups.values()) == [1] * n, tg_groups
        assert sorted(hook_groups.values()) == [1] * n, hook_groups
    finally:
        svc.stop()


async def test_sigterm_finishes_in_flight_and_keeps_the_rest(
    tmp_path: Path, fake_telegram: FakeTelegram, webhook_sink: WebhookSink
) -> None:
    svc = ServiceProcess(tmp_path, config(tmp_path, fake_telegram, webhook_sink))
    await svc.start()
    try:
        await send_groups(svc.url, 4)
        await fake_telegram.wait_for_messages(CHAT, 1, timeout=10)
        code = await asyncio.to_thread(svc.terminate)
        assert code == 0
        sent_before = len(fake_telegram.messages(CHAT))
        assert sent_before < 4  # the rest waited in the outbox, paced by the rate limit
        logs = [json.loads(line) for line in svc.log_lines() if line.startswith("{")]
        assert any(entry["msg"] == "stopped" for entry in logs)
        await svc.start()
        await fake_telegram.wait_for_messages(CHAT, 4, timeout=20)
        await asyncio.sleep(1.2)
        assert len(fake_telegram.messages(CHAT)) == 4
        # every delivery line names the group and destination
        deliveries = [
            e
            for e in (json.loads(x) for x in svc.log_lines() if x.startswith("{"))
            if e["msg"] == "delivered"
        ]
        assert deliveries and all({"group_key", "destination"} <= set(e) for e in deliveries)
        assert fake_telegram.token not in svc.log_path.read_text()
    finally:
        svc.stop()
