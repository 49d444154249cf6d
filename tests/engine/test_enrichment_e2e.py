"""Enrichment end to end in-process: a `ModelHighLatencyP95` group posted to the real app reaches
Telegram (real python-telegram-bot client), Slack (bot token) and a real SMTP server with the
deployment's log lines from a fake Loki (a secret redacted) and a graph from a fake Prometheus in
the alert's own thread; fetched once for all destinations, stored, reused by the resolve edit;
with Loki down the messages still go out at once and say why.
"""

from __future__ import annotations

import json
import math
import socket
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from app.config import Config
from app.web.app import create_app
from app.web.state import STATE
from tests.conftest import make_config
from tests.engine.test_delivery import CHAT, Client, eventually, post, resolved
from tests.enrich.png import colour_stats, dimensions
from tests.enrich.prometheus import RealPrometheus, real_prometheus
from tests.fakes.loki import FakeLoki
from tests.fakes.prometheus import FakePrometheus
from tests.fakes.slack import FakeSlack
from tests.fakes.smtp import FakeSMTP
from tests.fakes.telegram import FakeTelegram
from tests.payloads import alert, message

__all__ = ["real_prometheus"]  # the module-scoped fixture

S = 1_000_000_000
PNG = b"\x89PNG\r\n\x1a\n"
SECRET = "hunter2-s3cr3t"
EXPR = "model_latency_p95_seconds > 0.5"
QUERY = '{namespace="{{ labels.namespace }}", app="{{ labels.deployment }}"} |~ "(?i)error|exception|timeout"'


@pytest.fixture
async def fake_prometheus() -> AsyncIterator[FakePrometheus]:
    series = [
        (
            {"namespace": "prod", "pod": f"model-api-{i}"},
            lambda t, i=i: 0.4 + 0.1 * i + 0.1 * math.sin(t / 600),
        )
        for i in range(2)
    ]
    async with FakePrometheus(series) as fake:
        yield fake


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def push_logs(loki: FakeLoki) -> None:
    now = time.time_ns()
    lines = ["ERROR timeout calling feature-store", f"ERROR db login failed password={SECRET}", "INFO ok"]
    loki.push(
        {"namespace": "prod", "app": "model-api"}, [(now - (5 - i) * 60 * S, x) for i, x in enumerate(lines)]
    )


def latency_group() -> dict[str, Any]:
    a = alert("ModelHighLatencyP95", "fp1", deployment="model-api")
    a["generatorURL"] = f"http://prometheus.elsewhere:9090/graph?g0.expr={quote(EXPR, safe='')}&g0.tab=1"
    return message('{}:{alertname="ModelHighLatencyP95"}', [a])


def enrichment_config(
    tmp_path: Path,
    tg: FakeTelegram,
    slack: FakeSlack,
    smtp: FakeSMTP,
    *,
    loki_url: str,
    prometheus_url: str,
) -> Config:
    """Telegram, Slack (bot token), email and a plain file for `oncall`, logs and graphs on."""
    receivers = [
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
            "file_configs": [{"path": str(tmp_path / "plain.log"), "enrich": False}],
        }
    ]
    enrichment = {
        "loki": {"url": loki_url, "timeout": "1s"},
        "prometheus": {"url": prometheus_url, "timeout": "2s"},
        "rules": [
            {
                "matchers": ['namespace=~"prod|staging"', 'deployment!=""'],
                "logs": {"query": QUERY, "before": "15m", "limit": 12},
                "graph": {"range": "1h"},
            }
        ],
    }
    return make_config(tmp_path, receivers, {"receiver": "oncall"}, enrichment=enrichment)


async def start_app(
    aiohttp_client: Any,
    tmp_path: Path,
    tg: FakeTelegram,
    slack: FakeSlack,
    smtp: FakeSMTP,
    *,
    loki_url: str,
    prometheus_url: str,
) -> Client:
    config = enrichment_config(tmp_path, tg, slack, smtp, loki_url=loki_url, prometheus_url=prometheus_url)
    client: Client = await aiohttp_client(create_app(config))
    return client


async def test_every_destination_shows_the_same_logs_and_graph_in_the_alert_s_thread(
    aiohttp_client: Any,
    tmp_path: Path,
    fake_telegram: FakeTelegram,
    fake_slack: FakeSlack,
    smtp_server: FakeSMTP,
    fake_loki: FakeLoki,
    fake_prometheus: FakePrometheus,
) -> None:
    push_logs(fake_loki)
    client = await start_app(
        aiohttp_client,
        tmp_path,
        fake_telegram,
        fake_slack,
        smtp_server,
        loki_url=fake_loki.url,
        prometheus_url=fake_prometheus.url,
    )
    assert (await post(client, latency_group()))["notifications"] == 4
    tg = await fake_telegram.wait_for_messages(CHAT, 2)
    await fake_slack.wait_for_messages(1, channel="#oncall")
    mail = (await smtp_server.wait_for_messages(1))[0]
    await eventually(lambda: any(f.thread_ts for f in fake_slack.files.values()))

    # Fetched once for four destinations (not per destination), from the configured Prometheus.
    assert len(fake_loki.queries) == 1
    assert fake_loki.queries[0].text == (
        '{namespace="prod", app="model-api"} |~ "(?i)error|exception|timeout"'
    )
    assert [r.params()["query"] for r in fake_prometheus.requests] == [EXPR]

    # Telegram: the log lines in the message (HTML <pre>), the graph as a photo replying to it.
    text, photo = tg
    assert (
        text.kind == "text"
        and "<pre>" in text.text
        and "ERROR timeout calling feature-store" in text.visible_text
    )
    assert "«redacted»" in text.visible_text and len(text.visible_text) <= 4096
    assert photo.kind == "photo" and isinstance(photo.photo, bytes) and photo.photo.startswith(PNG)
    assert json.loads(photo.params["reply_parameters"])["message_id"] == text.message_id
    assert EXPR in photo.visible_text

    # Slack: a code block with the lines; the PNG uploaded into the alert's thread.
    msg = fake_slack.messages("#oncall")[0]
    blocks = msg.attachments[0]["blocks"]  # type: ignore[index]
    logs = [b["text"]["text"] for b in blocks if b["type"] == "section" and "```" in b["text"]["text"]]
    assert len(logs) == 1 and "ERROR timeout calling feature-store" in logs[0]
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in blocks)
    (file,) = fake_slack.files.values()
    assert (file.channel, file.thread_ts) == (msg.channel, msg.ts) and file.data and file.data.startswith(PNG)

    # Email: the lines in both bodies, the graph inline (multipart/related, cid:).
    body_text = mail.message.get_body(("plain",))
    body_html = mail.message.get_body(("html",))
    assert body_text is not None and body_html is not None
    assert "ERROR timeout calling feature-store" in body_text.get_content()
    html = body_html.get_content()
    images = [p for p in mail.message.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 1 and images[0].get_payload(decode=True).startswith(PNG)
    assert f'src="cid:{images[0]["Content-ID"].strip("<>")}"' in html

    # enrich: false keeps a destination plain.
    assert "feature-store" not in (tmp_path / "plain.log").read_text()

    # The secret left nowhere: not a provider, not the store.
    everything = [text.text, photo.text, str(blocks), mail.data.decode(errors="replace")]
    assert not any(SECRET in x for x in everything)
    conn = sqlite3.connect(tmp_path / "state.db")
    stored = [r[0] for r in conn.execute("SELECT result FROM enrichments")]
    conn.close()
    assert len(stored) == 1 and "feature-store" in stored[0] and SECRET not in stored[0]

    metrics = (await (await client.get("/metrics")).text()).splitlines()
    assert 'alertmedic_enrichment_total{outcome="ok",source="loki"} 1.0' in metrics
    assert 'alertmedic_enrichment_total{outcome="ok",source="prometheus"} 1.0' in metrics
    assert "alertmedic_enrichment_redactions_total 1.0" in metrics

    # The resolve edits the Telegram message in place, keeps the log section, fetches nothing.
    await post(client, resolved(latency_group()))
    await eventually(lambda: fake_telegram.messages(CHAT)[0].edited)
    edited = fake_telegram.messages(CHAT)[0]
    assert "ERROR timeout calling feature-store" in edited.visible_text
    assert len(fake_loki.queries) == 1 and len(fake_prometheus.requests) == 1
    assert len(fake_telegram.messages(CHAT)) == 2  # no second photo


async def test_with_loki_down_the_alert_goes_out_at_once_and_says_so(
    aiohttp_client: Any,
    tmp_path: Path,
    fake_telegram: FakeTelegram,
    fake_slack: FakeSlack,
    smtp_server: FakeSMTP,
    fake_prometheus: FakePrometheus,
) -> None:
    client = await start_app(
        aiohttp_client,
        tmp_path,
        fake_telegram,
        fake_slack,
        smtp_server,
        loki_url=closed_port_url(),
        prometheus_url=fake_prometheus.url,
    )
    began = time.monotonic()
    await post(client, latency_group())
    text = (await fake_telegram.wait_for_messages(CHAT, 1, timeout=5))[0]
    assert time.monotonic() - began < 1 + 2 + 2  # Loki's timeout + the render allowance + slack
    assert "logs unavailable" in text.visible_text
    mail = (await smtp_server.wait_for_messages(1))[0]
    assert "logs unavailable" in mail.data.decode()
    state = client.app[STATE]
    assert state.metrics.enrichment.labels("loki", "error")._value.get() == 1


@pytest.mark.slow
async def test_with_the_real_prometheus_the_graph_replies_to_the_alert_in_telegram_and_slack(
    aiohttp_client: Any,
    tmp_path: Path,
    fake_telegram: FakeTelegram,
    fake_slack: FakeSlack,
    smtp_server: FakeSMTP,
    fake_loki: FakeLoki,
    real_prometheus: RealPrometheus,
) -> None:
    """Prometheus (Debian's binary, backfilled by promtool) draws the alert's own expression."""
    push_logs(fake_loki)
    client = await start_app(
        aiohttp_client,
        tmp_path,
        fake_telegram,
        fake_slack,
        smtp_server,
        loki_url=fake_loki.url,
        prometheus_url=real_prometheus.url,
    )
    await post(client, latency_group())
    text, photo = await fake_telegram.wait_for_messages(CHAT, 2, timeout=30)
    assert json.loads(photo.params["reply_parameters"])["message_id"] == text.message_id
    assert isinstance(photo.photo, bytes) and dimensions(photo.photo) == (800, 300)
    distinct, not_white = colour_stats(photo.photo)
    assert distinct > 20 and not_white > 0.02
    await eventually(lambda: any(f.thread_ts for f in fake_slack.files.values()), timeout=30)
    (file,) = fake_slack.files.values()
    msg = fake_slack.messages("#oncall")[0]
    assert (file.thread_ts, file.data) == (msg.ts, photo.photo)
    assert "ERROR timeout calling feature-store" in text.visible_text


async def test_a_retried_delivery_shows_what_was_first_fetched_without_fetching_again(
    aiohttp_client: Any,
    tmp_path: Path,
    fake_telegram: FakeTelegram,
    fake_slack: FakeSlack,
    smtp_server: FakeSMTP,
    fake_loki: FakeLoki,
    fake_prometheus: FakePrometheus,
) -> None:
    push_logs(fake_loki)
    fake_telegram.fail_next(2, status=502, method="sendMessage")
    client = await start_app(
        aiohttp_client,
        tmp_path,
        fake_telegram,
        fake_slack,
        smtp_server,
        loki_url=fake_loki.url,
        prometheus_url=fake_prometheus.url,
    )
    await post(client, latency_group())
    await fake_slack.wait_for_messages(1, channel="#oncall")
    fake_loki.push({"namespace": "prod", "app": "model-api"}, [(time.time_ns(), "ERROR a newer line")])
    text = (await fake_telegram.wait_for_messages(CHAT, 1, timeout=10))[0]
    assert "ERROR timeout calling feature-store" in text.visible_text
    assert "a newer line" not in text.visible_text  # the stored lines, not a new fetch
    assert len(fake_loki.queries) == 1
    retries = client.app[STATE].metrics.retries.labels("oncall", "telegram", "server_error")._value.get()
    assert retries == 2
