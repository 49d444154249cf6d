"""Heartbeats on reload (`POST /-/reload`, real app, ManualClock): an added heartbeat is armed at
once, another receiver or other matchers apply at once, a removed one's timer ends without an
alarm, a changed timeout is named as needing a restart (the running one stays)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import yaml
from aiohttp.test_utils import TestClient

from app.config import load_config
from app.engine.clock import ManualClock
from app.web.app import create_app
from app.web.state import STATE
from tests.conftest import TOKEN, raw_config
from tests.engine.test_delivery import eventually
from tests.engine.test_heartbeats import ALARM, HEARTBEAT, WATCHDOG, settle
from tests.fakes.webhook import WebhookSink

Client = TestClient  # type: ignore[type-arg]
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ROUTE = {"receiver": "oncall", "routes": [{"matchers": ['heartbeat="true"'], "receiver": "heartbeat"}]}


def write(path: Path, sink: WebhookSink, *heartbeats: dict[str, Any]) -> None:
    receivers = [
        {"name": "oncall", "webhook_configs": [{"url": sink.url_for("/oncall")}]},
        {"name": "team", "webhook_configs": [{"url": sink.url_for("/team")}]},
        {"name": "heartbeat"},
    ]
    raw = raw_config(path.parent, receivers, ROUTE, heartbeats=list(heartbeats))
    path.write_text(yaml.safe_dump(raw))


async def reload(client: Client) -> dict[str, Any]:
    resp = await client.post("/-/reload", headers=AUTH)
    body: dict[str, Any] = await resp.json()
    assert resp.status == 200, body
    return body


def got(sink: WebhookSink) -> list[tuple[str, str, str]]:
    return [
        (d.path, d.json["status"], d.json["alerts"][0]["annotations"]["summary"])
        for d in sink.deliveries
        if d.path in ("/oncall", "/team")
    ]


async def test_heartbeats_follow_reloads(
    aiohttp_client: Any, tmp_path: Path, webhook_sink: WebhookSink
) -> None:
    path = tmp_path / "alertmedic.yml"
    write(path, webhook_sink)
    clock = ManualClock()
    client: Client = await aiohttp_client(create_app(load_config(path).config, clock=clock, config_path=path))
    store = client.app[STATE].store
    assert await store.heartbeats() == []

    write(path, webhook_sink, HEARTBEAT)
    assert (await reload(client))["restart_required"] == []
    [row] = await store.heartbeats()
    assert (row.name, row.deadline) == ("prometheus-prod", clock.now() + 300)
    await eventually(lambda: row.deadline in clock.deadlines())
    await clock.advance(300)
    await webhook_sink.wait_until(lambda: len(got(webhook_sink)) == 1, timeout=5)
    assert got(webhook_sink) == [("/oncall", "firing", ALARM)]

    # another receiver and other matchers: the recovery goes to the new receiver, and only a
    # Watchdog matching the new matchers counts
    moved = {**HEARTBEAT, "receiver": "team", "matchers": ['alertname="Watchdog"', 'prometheus="other"']}
    write(path, webhook_sink, moved)
    assert (await reload(client))["restart_required"] == []
    await client.post("/webhook/alertmanager", json=WATCHDOG, headers=AUTH)
    await asyncio.sleep(0.2)
    assert len(got(webhook_sink)) == 1
    write(path, webhook_sink, {**moved, "matchers": ['alertname="Watchdog"']})
    await reload(client)
    await client.post("/webhook/alertmanager", json=WATCHDOG, headers=AUTH)
    await webhook_sink.wait_until(lambda: len(got(webhook_sink)) == 2, timeout=5)
    assert got(webhook_sink)[1][:2] == ("/team", "resolved")

    # a changed timeout is for the next start: named, and the 5-minute timeout stays
    write(path, webhook_sink, {**moved, "matchers": ['alertname="Watchdog"'], "timeout": "1m"})
    assert (await reload(client))["restart_required"] == ["heartbeats.prometheus-prod.timeout"]
    await settle(clock, 2)
    assert len(got(webhook_sink)) == 2

    # removed: its timer ends when it runs, nothing is sent, and its gauge goes
    write(path, webhook_sink)
    assert (await reload(client))["restart_required"] == []
    await settle(clock, 30)
    assert len(got(webhook_sink)) == 2
    text = await (await client.get("/metrics")).text()
    assert "alertmedic_heartbeat_last_seen_timestamp_seconds{" not in text
    assert await store.pending_count() == 0


async def test_a_heartbeat_whose_arming_failed_is_armed_by_its_next_webhook(
    aiohttp_client: Any, tmp_path: Path, webhook_sink: WebhookSink
) -> None:
    """A reload whose store refused to arm an added heartbeat (its row is missing): the next
    matching webhook arms it, and it alarms a timeout later."""
    path = tmp_path / "alertmedic.yml"
    write(path, webhook_sink, HEARTBEAT)
    clock = ManualClock()
    client: Client = await aiohttp_client(create_app(load_config(path).config, clock=clock, config_path=path))
    with sqlite3.connect(tmp_path / "state.db") as db:
        db.execute("DELETE FROM heartbeats")
        db.execute("UPDATE jobs SET state = 'done' WHERE type = 'heartbeat'")
    await clock.advance(60)
    await client.post("/webhook/alertmanager", json=WATCHDOG, headers=AUTH)
    [row] = await client.app[STATE].store.heartbeats()
    assert (row.first_start, row.deadline) == (clock.now(), clock.now() + 300)
    await settle(clock, 6)
    await webhook_sink.wait_until(lambda: len(got(webhook_sink)) == 1, timeout=5)
