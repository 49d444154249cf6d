"""Enrichment end to end behind the real Alertmanager: a firing alert posted to Alertmanager,
routed by it to alertmedic's webhook, reaches fake Telegram (real python-telegram-bot client) with
the deployment's log lines and a photo replying to it, fake Slack (bot token) with the graph in
the alert's thread, and a real SMTP server on loopback with an inline image; with Loki not
answering within its timeout, or answering 503, the same alert still arrives within that
timeout + 2 s of alertmedic accepting it, and says the logs are unavailable and why."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from app.web.app import create_app
from tests.conftest import TOKEN
from tests.e2e.alertmanager import Alertmanager, am_alert, to_alertmedic
from tests.e2e.proc import free_port
from tests.engine.test_delivery import CHAT, eventually
from tests.engine.test_enrichment_e2e import EXPR, PNG, SECRET, enrichment_config, fake_prometheus, push_logs
from tests.fakes.loki import FakeLoki
from tests.fakes.prometheus import FakePrometheus
from tests.fakes.slack import FakeSlack
from tests.fakes.smtp import FakeSMTP
from tests.fakes.telegram import FakeTelegram

__all__ = ["fake_prometheus"]  # the fixture

pytestmark = pytest.mark.slow

LOKI_TIMEOUT = 1.0
"""`enrichment.loki.timeout` of enrichment_config."""


@pytest.fixture
async def routed(
    aiohttp_server: Any,
    tmp_path: Path,
    fake_telegram: FakeTelegram,
    fake_slack: FakeSlack,
    smtp_server: FakeSMTP,
    fake_loki: FakeLoki,
    fake_prometheus: FakePrometheus,
) -> AsyncIterator[Alertmanager]:
    """alertmedic with enrichment on, and the real Alertmanager sending every alert to it."""
    config = enrichment_config(
        tmp_path,
        fake_telegram,
        fake_slack,
        smtp_server,
        loki_url=fake_loki.url,
        prometheus_url=fake_prometheus.url,
    )
    port = free_port()
    await aiohttp_server(create_app(config), host="127.0.0.1", port=port)
    (tmp_path / "token").write_text(TOKEN + "\n")
    am = Alertmanager(tmp_path, to_alertmedic(port, tmp_path / "token", group_by=["alertname", "namespace"]))
    await am.start()
    try:
        yield am
    finally:
        am.stop()


def latency_alert() -> dict[str, Any]:
    a = am_alert("ModelHighLatencyP95", "critical", deployment="model-api")
    a["generatorURL"] = f"http://prometheus.elsewhere:9090/graph?g0.expr={quote(EXPR, safe='')}&g0.tab=1"
    return a


def accepted_at(tmp_path: Path) -> float:
    """When alertmedic accepted Alertmanager's webhook (the Telegram notification's job)."""
    conn = sqlite3.connect(tmp_path / "state.db")
    try:
        rows = conn.execute("SELECT accepted_at FROM jobs WHERE lane LIKE 'oncall/telegram%'").fetchall()
    finally:
        conn.close()
    assert len(rows) == 1, rows
    return float(rows[0][0])


async def test_logs_and_graph_reach_telegram_slack_and_email_through_alertmanager(
    routed: Alertmanager,
    fake_telegram: FakeTelegram,
    fake_slack: FakeSlack,
    smtp_server: FakeSMTP,
    fake_loki: FakeLoki,
    fake_prometheus: FakePrometheus,
) -> None:
    push_logs(fake_loki)
    await routed.post_alerts([latency_alert()])

    text, photo = await fake_telegram.wait_for_messages(CHAT, 2, timeout=30)
    assert text.kind == "text" and "<pre>" in text.text
    assert "ERROR timeout calling feature-store" in text.visible_text and SECRET not in text.text
    assert photo.kind == "photo" and isinstance(photo.photo, bytes) and photo.photo.startswith(PNG)
    assert json.loads(photo.params["reply_parameters"])["message_id"] == text.message_id

    await eventually(lambda: any(f.thread_ts for f in fake_slack.files.values()), timeout=30)
    msg = fake_slack.messages("#oncall")[0]
    (file,) = fake_slack.files.values()
    assert (file.channel, file.thread_ts, file.data) == (msg.channel, msg.ts, photo.photo)
    assert "ERROR timeout calling feature-store" in json.dumps(msg.attachments)

    mail = (await smtp_server.wait_for_messages(1, timeout=30))[0]
    html = mail.message.get_body(("html",))
    assert html is not None and "ERROR timeout calling feature-store" in html.get_content()
    images = [p for p in mail.message.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 1 and images[0].get_payload(decode=True) == photo.photo
    assert f'src="cid:{images[0]["Content-ID"].strip("<>")}"' in html.get_content()

    # The query Alertmanager's alert produced, and the graph from the configured Prometheus only.
    assert [q.text for q in fake_loki.queries] == [
        '{namespace="prod", app="model-api"} |~ "(?i)error|exception|timeout"'
    ]
    assert [r.params()["query"] for r in fake_prometheus.requests] == [EXPR]


@pytest.mark.parametrize(
    ("failure", "why"),
    [("slow", f"Loki did not answer within {LOKI_TIMEOUT:g}s"), ("503", "Loki answered 503")],
)
async def test_with_loki_failing_the_alert_arrives_within_its_timeout_and_says_so(
    routed: Alertmanager,
    tmp_path: Path,
    fake_telegram: FakeTelegram,
    fake_slack: FakeSlack,
    smtp_server: FakeSMTP,
    fake_loki: FakeLoki,
    failure: str,
    why: str,
) -> None:
    push_logs(fake_loki)
    if failure == "slow":
        fake_loki.answer_slowly(LOKI_TIMEOUT + 4, n=5)
    else:
        fake_loki.fail_next(5, status=503)
    await routed.post_alerts([latency_alert()])

    text = (await fake_telegram.wait_for_messages(CHAT, 1, timeout=30))[0]
    sent = [r.received_at for r in fake_telegram.requests if r.path.endswith("/sendMessage")]
    delay = sent[0] - accepted_at(tmp_path)
    assert 0 <= delay < LOKI_TIMEOUT + 2, delay
    assert f"logs unavailable: {why}" in text.visible_text and "feature-store" not in text.visible_text
    assert len(fake_loki.requests) == 1  # asked once for three destinations, not once each
    await fake_slack.wait_for_messages(1, channel="#oncall", timeout=10)
    assert "logs unavailable" in json.dumps(fake_slack.messages("#oncall")[0].attachments)
    mail = (await smtp_server.wait_for_messages(1, timeout=10))[0]
    assert "logs unavailable" in mail.data.decode()
