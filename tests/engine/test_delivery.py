"""The service end to end in-process: webhook in, real clients out to fake providers.

Real python-telegram-bot, aiohttp and aiosmtplib clients talk to local fakes of Telegram, Slack,
an SMTP server and a webhook receiver; the store is a real SQLite file.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from app.config import Config
from app.web.app import create_app
from app.web.state import STATE
from tests.conftest import TOKEN, make_config
from tests.fakes.slack import FakeSlack
from tests.fakes.smtp import FakeSMTP
from tests.fakes.telegram import FakeTelegram
from tests.fakes.webhook import WebhookSink
from tests.payloads import alert, message

CHAT = -1001234567890
Client = TestClient  # type: ignore[type-arg]


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def receivers(
    tg: FakeTelegram, slack: FakeSlack, smtp: FakeSMTP, sink: WebhookSink, hook_url: str
) -> list[dict[str, Any]]:
    return [
        {
            "name": "oncall",
            "telegram_configs": [{"bot_token": tg.token, "chat_id": CHAT, "api_url": tg.url}],
            "slack_configs": [
                {"app_token": slack.token, "channel": "#oncall", "app_url": f"{slack.url}/api"}
            ],
            "email_configs": [
                {
                    "to": "oncall@example.com",
                    "from": "alertmedic@example.com",
                    "smarthost": f"127.0.0.1:{smtp.port}",
                    "require_tls": False,
                }
            ],
        },
        {"name": "team-slack", "slack_configs": [{"api_url": hook_url}]},
        {"name": "downstream", "webhook_configs": [{"url": sink.url_for("/alerts")}]},
    ]


ROUTE = {
    "receiver": "downstream",
    "routes": [
        {"matchers": ['severity="critical"'], "receiver": "oncall"},
        {"matchers": ['severity="warning"'], "receiver": "team-slack"},
    ],
}

Start = Callable[..., Awaitable[Client]]


@pytest.fixture
def start(
    aiohttp_client: Any,
    tmp_path: Path,
    fake_telegram: FakeTelegram,
    fake_slack: FakeSlack,
    smtp_server: FakeSMTP,
    webhook_sink: WebhookSink,
) -> Start:
    hook = fake_slack.add_webhook("#team")

    async def go(**extra: Any) -> Client:
        config: Config = make_config(
            tmp_path, receivers(fake_telegram, fake_slack, smtp_server, webhook_sink, hook), ROUTE, **extra
        )
        client: Client = await aiohttp_client(create_app(config))
        return client

    return go


async def post(client: Client, body: dict[str, Any]) -> dict[str, Any]:
    resp = await client.post("/webhook/alertmanager", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status == 200, await resp.text()
    out: dict[str, Any] = await resp.json()
    return out


CRIT = message(
    '{}:{alertname="ModelLatencyHigh"}',
    [
        alert("ModelLatencyHigh", "fp1", deployment="model-api"),
        alert("ModelLatencyHigh", "fp2", deployment="model-api", instance="b"),
    ],
)


def resolved(msg: dict[str, Any]) -> dict[str, Any]:
    out = message(
        msg["groupKey"],
        [
            alert(
                a["labels"]["alertname"],
                a["fingerprint"],
                status="resolved",
                **{k: v for k, v in a["labels"].items() if k != "alertname"},
            )
            for a in msg["alerts"]
        ],
    )
    return out


async def test_critical_reaches_telegram_slack_email_and_resolve_edits_in_place(
    start: Start,
    fake_telegram: FakeTelegram,
    fake_slack: FakeSlack,
    smtp_server: FakeSMTP,
    webhook_sink: WebhookSink,
) -> None:
    client = await start()
    assert (await post(client, CRIT))["notifications"] == 3
    await fake_telegram.wait_for_messages(CHAT, 1)
    await fake_slack.wait_for_messages(1, channel="#oncall")
    await smtp_server.wait_for_messages(1)
    [tg] = fake_telegram.messages(CHAT)
    assert "ModelLatencyHigh" in tg.visible_text and tg.parse_mode == "HTML"
    [sl] = fake_slack.messages("#oncall")
    [mail] = smtp_server.messages()
    assert mail.message["Subject"].startswith("[FIRING:2] ModelLatencyHigh")
    assert mail.message.is_multipart()
    assert webhook_sink.deliveries == []  # critical does not reach the default route

    await post(client, resolved(CRIT))
    await eventually(lambda: fake_telegram.messages(CHAT)[0].edited)
    await eventually(lambda: fake_slack.messages("#oncall")[0].edited)
    await smtp_server.wait_for_messages(2)
    assert len(fake_telegram.messages(CHAT)) == 1  # edited, not a second message
    assert "RESOLVED" in fake_telegram.messages(CHAT)[0].visible_text.upper()
    assert len(fake_slack.messages("#oncall")) == 1 and sl.edited
    first, second = smtp_server.messages()
    assert second.message["In-Reply-To"] == first.message["Message-ID"]
    assert first.message["Message-ID"] in second.message["References"]
    assert second.message["Subject"].startswith("[RESOLVED]")


async def test_warning_reaches_slack_webhook_only_and_default_route(
    start: Start, fake_telegram: FakeTelegram, fake_slack: FakeSlack, webhook_sink: WebhookSink
) -> None:
    client = await start()
    await post(client, message("w", [alert("DriftHigh", "w1", severity="warning")]))
    await post(client, message("i", [alert("Info", "i1", severity="info")]))
    await fake_slack.wait_for_messages(1, channel="#team")
    await webhook_sink.wait_until(lambda: len(webhook_sink.deliveries) == 1)
    body = webhook_sink.deliveries[0].json
    assert body["version"] == "4" and body["alerts"][0]["fingerprint"] == "i1"
    assert fake_slack.messages("#team")[0].via == "webhook"
    assert fake_telegram.messages(CHAT) == []


async def test_ha_duplicates_collapse_and_repeats_are_delivered(
    start: Start, webhook_sink: WebhookSink
) -> None:
    client = await start(delivery={"dedup_window": "1s"})
    msg = message("g", [alert("Info", "i1", severity="info")])
    results = await asyncio.gather(*(post(client, msg) for _ in range(5)))
    assert sum(r["notifications"] for r in results) == 1
    assert sum(r["duplicates"] for r in results) == 4
    await webhook_sink.wait_until(lambda: len(webhook_sink.deliveries) == 1)
    await asyncio.sleep(1.1)  # past the dedup window: Alertmanager's repeat_interval resend
    assert (await post(client, msg))["notifications"] == 1
    await webhook_sink.wait_until(lambda: len(webhook_sink.deliveries) == 2)
    text = await (await client.get("/metrics")).text()
    assert (
        'alertmedic_notifications_total{integration="webhook",outcome="duplicate",receiver="downstream"} 4.0'
    ) in text


async def test_retries_then_delivers_honouring_retry_after(start: Start, webhook_sink: WebhookSink) -> None:
    client = await start()
    webhook_sink.fail_next(1, status=503)
    webhook_sink.fail_next(1, status=429, retry_after=1)
    t0 = time.monotonic()
    await post(client, message("r", [alert("Info", "i1", severity="info")]))
    await webhook_sink.wait_until(lambda: len(webhook_sink.deliveries) == 1, timeout=10)
    assert time.monotonic() - t0 >= 1.0  # the Retry-After of the 429 was waited out
    text = await (await client.get("/metrics")).text()
    assert 'alertmedic_delivery_retries_total{integration="webhook",reason="server_error"' in text
    assert 'alertmedic_delivery_retries_total{integration="webhook",reason="rate_limited"' in text


async def test_permanent_failure_is_dead_lettered_and_others_still_deliver(
    start: Start, fake_telegram: FakeTelegram, fake_slack: FakeSlack, smtp_server: FakeSMTP
) -> None:
    client = await start()
    fake_telegram.block(CHAT)
    await post(client, CRIT)
    await fake_slack.wait_for_messages(1, channel="#oncall")
    await smtp_server.wait_for_messages(1)
    state = client.app[STATE]
    await eventually(
        lambda: state.metrics.dead_letters.labels("oncall", "telegram", "forbidden")._value.get() == 1
    )
    for _ in range(100):  # the outcomes are recorded just after the providers answered
        if await state.store.pending_count() == 0:
            break
        await asyncio.sleep(0.02)
    assert await state.store.pending_count() == 0
    dead = await state.store.dead_letters()
    assert dead[0].lane == "oncall/telegram[0]" and "permanent" in (dead[0].error or "")


async def test_retry_horizon_dead_letters(start: Start, webhook_sink: WebhookSink) -> None:
    client = await start(delivery={"retry_horizon": "1s"})
    webhook_sink.fail_next(1000, status=500)
    await post(client, message("h", [alert("Info", "i1", severity="info")]))
    state = client.app[STATE]
    await eventually(
        lambda: state.metrics.dead_letters.labels("downstream", "webhook", "server_error")._value.get() == 1,
        timeout=10,
    )
    for _ in range(100):
        if dead := await state.store.dead_letters():
            break
        await asyncio.sleep(0.02)
    assert "retry horizon exceeded" in (dead[0].error or "")


async def test_a_stuck_provider_does_not_delay_the_others(
    start: Start, fake_telegram: FakeTelegram, fake_slack: FakeSlack, smtp_server: FakeSMTP
) -> None:
    client = await start()
    fake_slack.hold()
    try:
        t0 = time.monotonic()
        await post(client, CRIT)
        await fake_telegram.wait_for_messages(CHAT, 1)
        await smtp_server.wait_for_messages(1)
        assert time.monotonic() - t0 < 3
        assert fake_slack.messages("#oncall") == []
    finally:
        fake_slack.release()
    await fake_slack.wait_for_messages(1, channel="#oncall")


async def test_telegram_chat_rate_limit_spaces_messages(start: Start, fake_telegram: FakeTelegram) -> None:
    client = await start()
    for i in range(3):
        await post(client, message(f"g{i}", [alert(f"A{i}", f"f{i}")]))
    await fake_telegram.wait_for_messages(CHAT, 3, timeout=10)
    times = [r.received_at for r in fake_telegram.requests if r.path.endswith("/sendMessage")]
    assert len(times) == 3
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(g >= 0.9 for g in gaps), gaps
    # and in acceptance order
    assert [m.visible_text.split("A")[1][0] for m in fake_telegram.messages(CHAT)] == ["0", "1", "2"]


async def test_file_receiver_of_the_make_run_example(aiohttp_client: Any, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox.log"
    config = make_config(
        tmp_path, [{"name": "local", "file_configs": [{"path": str(inbox)}]}], {"receiver": "local"}
    )
    client: Client = await aiohttp_client(create_app(config))
    await post(client, CRIT)
    await eventually(lambda: inbox.exists() and "(new message)" in inbox.read_text())
    await post(client, resolved(CRIT))
    await eventually(lambda: "(update)" in inbox.read_text())
    text = inbox.read_text()
    assert text.index("[FIRING:2] ModelLatencyHigh") < text.index("[RESOLVED] ModelLatencyHigh")


async def test_concurrent_webhook_lane_keeps_each_groups_order(
    aiohttp_client: Any, tmp_path: Path, webhook_sink: WebhookSink
) -> None:
    config = make_config(
        tmp_path,
        [{"name": "hook", "webhook_configs": [{"url": webhook_sink.url_for("/h"), "max_in_flight": 4}]}],
        {"receiver": "hook"},
    )
    client: Client = await aiohttp_client(create_app(config))
    webhook_sink.fail_next(1, status=503)  # group a's first delivery fails and is retried
    a = message("a", [alert("A", "fa")])
    await post(client, a)
    await post(client, resolved(a))
    for key in ("b", "c"):
        await post(client, message(key, [alert(key.upper(), f"f{key}")]))
    await webhook_sink.wait_until(lambda: len(webhook_sink.deliveries) == 4, timeout=10)
    await asyncio.sleep(0.3)
    order = [(d.json["groupKey"], d.json["status"]) for d in webhook_sink.deliveries]
    assert len(order) == 4 and len(set(order)) == 4  # each exactly once
    assert order.index(("a", "firing")) < order.index(("a", "resolved"))
    # the retrying group did not hold the others back
    assert order.index(("b", "firing")) < order.index(("a", "firing"))


async def test_notifications_of_a_removed_destination_are_dead_lettered(
    aiohttp_client: Any, tmp_path: Path, webhook_sink: WebhookSink
) -> None:
    from app.core.models import WebhookMessage
    from app.core.plan import Destination, Planned
    from app.sinks.registry import router
    from app.store.sqlite import SQLiteStore

    old = SQLiteStore(tmp_path / "state.db")
    await old.start()
    gone = Destination("gone/webhook[0]", "gone", "webhook", True)
    msg = WebhookMessage.model_validate(message("g", [alert("A", "f1")]))
    [plan] = (
        router(
            make_config(
                tmp_path, [{"name": "x", "file_configs": [{"path": str(tmp_path / "i")}]}], {"receiver": "x"}
            )
        )
        .plan(msg, at=datetime(2026, 1, 1, tzinfo=UTC))
        .planned
    )
    await old.ingest([Planned(gone, plan.group)], now=0, dedup_window=60)
    await old.close()

    config = make_config(
        tmp_path,
        [{"name": "hook", "webhook_configs": [{"url": webhook_sink.url_for("/h")}]}],
        {"receiver": "hook"},
    )
    client: Client = await aiohttp_client(create_app(config))
    state = client.app[STATE]
    [dead] = await state.store.dead_letters()
    assert dead.lane == "gone/webhook[0]"
    assert dead.error == "destination no longer configured"
    assert await state.store.pending_count() == 0
    assert state.metrics.dead_letters.labels("gone", "webhook", "unconfigured")._value.get() == 1
