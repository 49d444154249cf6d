"""The dead-man's switch with the real Alertmanager: it sends the Watchdog over and over, alertmedic
stays quiet; Alertmanager stops, the on-call gets one alarm; it starts again and sends the
Watchdog, the on-call gets the recovery. Timings shortened (a 3 s timeout, 1 s group interval)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from app.web.app import create_app
from tests.conftest import TOKEN, make_config
from tests.e2e.alertmanager import Alertmanager, am_alert, to_alertmedic
from tests.e2e.proc import free_port
from tests.fakes.webhook import WebhookSink

pytestmark = pytest.mark.slow


def oncall(sink: WebhookSink) -> list[tuple[str, str]]:
    return [
        (d.json["status"], d.json["alerts"][0]["annotations"]["summary"])
        for d in sink.deliveries
        if d.path == "/oncall"
    ]


async def test_alertmanager_down_raises_one_alarm_and_its_return_the_recovery(
    aiohttp_server: Any, tmp_path: Path, webhook_sink: WebhookSink
) -> None:
    receivers = [
        {"name": "oncall", "webhook_configs": [{"url": webhook_sink.url_for("/oncall")}]},
        {"name": "heartbeat"},
    ]
    route = {"receiver": "oncall", "routes": [{"matchers": ['heartbeat="true"'], "receiver": "heartbeat"}]}
    beat = {"name": "am", "matchers": ['alertname="Watchdog"'], "timeout": "3s", "receiver": "oncall"}
    port = free_port()
    await aiohttp_server(
        create_app(make_config(tmp_path, receivers, route, heartbeats=[beat])), host="127.0.0.1", port=port
    )
    (tmp_path / "token").write_text(TOKEN + "\n")
    am_config = to_alertmedic(port, tmp_path / "token", group_by=["alertname"])
    # a heartbeat route repeats below its group interval (every other repeat is skipped otherwise)
    am_config["route"].update({"group_wait": "0s", "group_interval": "1s", "repeat_interval": "900ms"})
    watchdog = am_alert("Watchdog", "none", heartbeat="true")
    am = Alertmanager(tmp_path, am_config)
    await am.start()
    try:
        await am.post_alerts([watchdog])
        await asyncio.sleep(5)  # longer than the timeout: the repeats keep it alive
        assert oncall(webhook_sink) == [], am.log()[-2000:]
        am.stop()  # the pipeline goes down
        await webhook_sink.wait_until(lambda: len(oncall(webhook_sink)) == 1, timeout=10)
        assert oncall(webhook_sink) == [
            ("firing", "no heartbeat from am for 3s: Prometheus or Alertmanager may be down")
        ]
        await asyncio.sleep(3.5)  # a second timeout: still the one alarm
        assert len(oncall(webhook_sink)) == 1
        am = Alertmanager(tmp_path, am_config, port=am.port)
        await am.start()
        await am.post_alerts([watchdog])
        await webhook_sink.wait_until(lambda: len(oncall(webhook_sink)) == 2, timeout=10)
        status, summary = oncall(webhook_sink)[1]
        assert status == "resolved" and summary.startswith("heartbeat from am is back")
    finally:
        am.stop()
