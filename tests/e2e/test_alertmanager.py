"""End to end with the real Alertmanager sending to alertmedic, which delivers through real clients
to fake Telegram, Slack, a real SMTP server and a webhook receiver."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from app.web.app import create_app
from tests.conftest import TOKEN, make_config
from tests.e2e.alertmanager import Alertmanager, am_alert, to_alertmedic
from tests.e2e.proc import free_port
from tests.engine.test_delivery import CHAT, ROUTE, eventually, receivers
from tests.fakes.slack import FakeSlack
from tests.fakes.smtp import FakeSMTP
from tests.fakes.telegram import FakeTelegram
from tests.fakes.webhook import WebhookSink

pytestmark = pytest.mark.slow


async def test_alertmanager_to_telegram_slack_email_and_resolve_in_place(
    aiohttp_server: Any,
    tmp_path: Path,
    fake_telegram: FakeTelegram,
    fake_slack: FakeSlack,
    smtp_server: FakeSMTP,
    webhook_sink: WebhookSink,
) -> None:
    hook = fake_slack.add_webhook("#team")
    config = make_config(
        tmp_path, receivers(fake_telegram, fake_slack, smtp_server, webhook_sink, hook), ROUTE
    )
    port = free_port()
    await aiohttp_server(create_app(config), host="127.0.0.1", port=port)
    (tmp_path / "token").write_text(TOKEN + "\n")
    am = Alertmanager(
        tmp_path,
        to_alertmedic(
            port, tmp_path / "token", group_by=["alertname", "namespace", "severity"], send_resolved=True
        ),
    )
    await am.start()
    try:
        await am.post_alerts(
            [
                am_alert("ModelLatencyHigh", "critical", deployment="model-api"),
                am_alert("DataDriftHigh", "warning", deployment="model-api"),
                am_alert("ModelInfo", "info"),
            ]
        )
        # critical -> Telegram + Slack (bot) + email
        await fake_telegram.wait_for_messages(CHAT, 1, timeout=20)
        await fake_slack.wait_for_messages(1, channel="#oncall", timeout=20)
        await smtp_server.wait_for_messages(1, timeout=20)
        # warning -> Slack incoming webhook only; info -> the default route (webhook)
        await fake_slack.wait_for_messages(1, channel="#team", timeout=20)
        await webhook_sink.wait_until(lambda: len(webhook_sink.deliveries) == 1, timeout=20)
        [tg] = fake_telegram.messages(CHAT)
        assert "ModelLatencyHigh" in tg.visible_text
        assert "DataDriftHigh" not in tg.visible_text
        assert webhook_sink.deliveries[0].json["commonLabels"]["alertname"] == "ModelInfo"
        [mail] = smtp_server.messages()
        assert mail.message["Subject"].startswith("[FIRING:1] ModelLatencyHigh")

        # resolve: Telegram and Slack edit the original message; email threads a reply
        await am.post_alerts(
            [am_alert("ModelLatencyHigh", "critical", resolved=True, deployment="model-api")]
        )
        await eventually(lambda: fake_telegram.messages(CHAT)[0].edited, timeout=20)
        await eventually(lambda: fake_slack.messages("#oncall")[0].edited, timeout=20)
        await smtp_server.wait_for_messages(2, timeout=20)
        await asyncio.sleep(0.5)
        assert len(fake_telegram.messages(CHAT)) == 1
        assert len(fake_slack.messages("#oncall")) == 1
        assert "RESOLVED" in fake_telegram.messages(CHAT)[0].visible_text.upper()
        first, second = smtp_server.messages()
        assert second.message["In-Reply-To"] == first.message["Message-ID"]
        assert len(fake_slack.messages("#team")) == 1
    finally:
        am.stop()


async def test_a_storm_group_from_alertmanager_and_its_resolve_arrive(
    aiohttp_server: Any, tmp_path: Path, webhook_sink: WebhookSink
) -> None:
    """3 000 alerts with 8 labels and 2 long annotations in one group: about 2 MB, which the old
    1 MiB default refused (413, never retried by Alertmanager, so the resolve was lost too)."""
    config = make_config(  # server.max_body_bytes at its default
        tmp_path,
        [{"name": "hook", "webhook_configs": [{"url": webhook_sink.url_for("/storm")}]}],
        {"receiver": "hook"},
    )
    port = free_port()
    await aiohttp_server(create_app(config), host="127.0.0.1", port=port)
    (tmp_path / "token").write_text(TOKEN + "\n")
    am = Alertmanager(tmp_path, to_alertmedic(port, tmp_path / "token", group_by=["alertname"]))

    def storm(resolved: bool) -> list[dict[str, Any]]:
        out = []
        for i in range(3000):
            pod = f"model-api-{i:06d}-7f9c8d"
            a = am_alert(
                "KubePodNotReady",
                "warning",
                resolved=resolved,
                cluster="eu-west-1-prod",
                job="kube-state-metrics",
                pod=pod,
                container="model-api",
            )
            a["annotations"] = {
                "summary": f"Pod prod/{pod} has been in a non-ready state for longer than 15 minutes.",
                "description": f"Pod prod/{pod} is not ready; see the runbook and the logs of {pod}.",
            }
            out.append(a)
        return out

    def full(status: str) -> list[Any]:
        return [
            d
            for d in webhook_sink.deliveries
            if d.json["status"] == status
            and len(d.json["alerts"]) == 3000
            and all(a["status"] == status for a in d.json["alerts"])
        ]

    await am.start()
    try:
        # Alertmanager may flush while it still takes the alerts in: wait for the whole group
        await am.post_alerts(storm(resolved=False))
        await webhook_sink.wait_until(lambda: bool(full("firing")), timeout=60)
        await am.post_alerts(storm(resolved=True))
        await webhook_sink.wait_until(lambda: bool(full("resolved")), timeout=60)
    finally:
        am.stop()
    assert len(full("firing")[0].body) > 1024 * 1024  # ours; the body Alertmanager sent is larger
    assert "unexpected status code" not in am.log()
