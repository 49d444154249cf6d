"""Time intervals through the real app: a muted notification is logged and counted, makes no job,
and the other destinations of the same alerts still get theirs. The instant is the app's clock."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from app.engine.clock import ManualClock
from app.web.app import create_app
from app.web.state import STATE
from tests.conftest import TOKEN, make_config
from tests.fakes.webhook import WebhookSink
from tests.payloads import alert, message

Client = TestClient  # type: ignore[type-arg]

NIGHT = [
    {
        "name": "night",
        "time_intervals": [
            {"times": [{"start_time": "00:00", "end_time": "08:00"}], "location": "Europe/Berlin"}
        ],
    }
]
ROUTE = {
    "receiver": "team",
    "routes": [
        {
            "matchers": ['namespace="staging"'],
            "receiver": "pager",
            "mute_time_intervals": ["night"],
            "continue": True,
        },
        {"matchers": ['severity="critical"'], "receiver": "team"},
    ],
}
STAGING = message('{}:{alertname="A"}', [alert("A", "f1", namespace="staging", severity="critical")])


async def start(
    aiohttp_client: Any, tmp_path: Path, sink: WebhookSink, at: str
) -> tuple[Client, ManualClock]:
    receivers = [
        {"name": "pager", "webhook_configs": [{"url": sink.url_for("/pager")}]},
        {"name": "team", "webhook_configs": [{"url": sink.url_for("/team")}]},
    ]
    config = make_config(tmp_path, receivers, ROUTE, time_intervals=NIGHT)
    clock = ManualClock(start=datetime.fromisoformat(at).timestamp())
    client: Client = await aiohttp_client(create_app(config, clock=clock))
    return client, clock


async def post(client: Client) -> dict[str, Any]:
    resp = await client.post(
        "/webhook/alertmanager", json=STAGING, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert resp.status == 200, await resp.text()
    out: dict[str, Any] = await resp.json()
    return out


async def test_at_night_the_muted_destination_is_logged_counted_and_gets_no_job(
    aiohttp_client: Any, tmp_path: Path, webhook_sink: WebhookSink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="alertmedic.ingest")
    client, clock = await start(aiohttp_client, tmp_path, webhook_sink, "2026-11-28T03:00:00+01:00")
    assert (await post(client))["notifications"] == 1  # team's only: no job for the pager
    [delivery] = await webhook_sink.wait_for(1)
    assert delivery.path == "/team"
    [line] = [r for r in caplog.records if r.getMessage() == "muted by time interval"]
    assert line.levelno == logging.INFO
    assert (line.group_key, line.receiver, line.route) == (STAGING["groupKey"], "pager", "route.routes[0]")  # type: ignore[attr-defined]
    assert line.time_intervals == ["night"]  # type: ignore[attr-defined]
    assert line.destinations == ["pager/webhook[0]"]  # type: ignore[attr-defined]
    text = await (await client.get("/metrics")).text()
    assert (
        'alertmedic_notifications_total{integration="webhook",outcome="muted",receiver="pager"} 1.0' in text
    )
    assert (
        'alertmedic_notifications_total{integration="webhook",outcome="enqueued",receiver="team"} 1.0' in text
    )
    assert 'outcome="enqueued",receiver="pager"' not in text
    store = client.app[STATE].store
    for _ in range(500):  # team's is recorded as delivered; nothing is left for the pager
        if await store.pending_count() == 0:
            break
        await asyncio.sleep(0.01)
    assert await store.pending_count() == 0
    assert [d.path for d in webhook_sink.deliveries] == ["/team"]
    # Alertmanager's next notification of the group, after the night: the pager gets it.
    await clock.advance(5 * 3600)
    assert (await post(client))["notifications"] == 2
    deliveries = await webhook_sink.wait_for(3)
    assert sorted(d.path for d in deliveries[1:]) == ["/pager", "/team"]


async def test_by_day_both_destinations_get_the_notification(
    aiohttp_client: Any, tmp_path: Path, webhook_sink: WebhookSink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="alertmedic.ingest")
    client, _ = await start(aiohttp_client, tmp_path, webhook_sink, "2026-11-28T13:00:00+01:00")
    assert (await post(client))["notifications"] == 2
    deliveries = await webhook_sink.wait_for(2)
    assert sorted(d.path for d in deliveries) == ["/pager", "/team"]
    assert not [r for r in caplog.records if r.getMessage() == "muted by time interval"]
    assert 'outcome="muted"' not in await (await client.get("/metrics")).text()
