"""The silences client against the real Alertmanager binary: a silence made from a group that
Alertmanager itself delivered covers exactly that group; it is listed, then expired; errors are
Alertmanager's own words, translated into retry / permanent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from app.chatops.silences import SilencesClient
from app.config.chatops import ChatAlertmanagerConfig
from app.core.chatops.silences import SilenceMatcher, SilenceRequest, group_silence
from app.core.errors import PermanentError, RetryableError
from tests.e2e.alertmanager import Alertmanager, am_alert
from tests.e2e.proc import free_port
from tests.fakes.webhook import WebhookSink

pytestmark = pytest.mark.slow


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def eventually(check: Callable[[], Any], timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not await check():  # noqa: ASYNC110 - polling a real process's HTTP API
            await asyncio.sleep(0.1)


def am_config(sink: WebhookSink) -> dict[str, Any]:
    hook = {"webhook_configs": [{"url": sink.url_for("/hook"), "send_resolved": True}]}
    return {
        "route": {
            "receiver": "default",
            "group_by": ["alertname"],
            "group_wait": "0s",
            "group_interval": "1s",
            "repeat_interval": "1h",
            "routes": [{"matchers": ['severity="critical"'], "receiver": "oncall"}],
        },
        "receivers": [{"name": "default", **hook}, {"name": "oncall", **hook}],
    }


async def alert_states(http: aiohttp.ClientSession, am: Alertmanager) -> dict[str, list[str]]:
    """severity -> ids of the silences muting that DiskFull alert."""
    async with http.get(f"{am.url}/api/v2/alerts") as resp:
        alerts = await resp.json()
    return {a["labels"]["severity"]: a["status"]["silencedBy"] for a in alerts}


async def test_silence_covers_exactly_the_group_then_expires(
    tmp_path: Path, webhook_sink: WebhookSink, http: aiohttp.ClientSession
) -> None:
    am = Alertmanager(tmp_path, am_config(webhook_sink))
    await am.start()
    try:
        # same alertname on two routes: two groups with the same group labels
        await am.post_alerts([am_alert("DiskFull", "critical"), am_alert("DiskFull", "warning")])
        deliveries = await webhook_sink.wait_for(2, timeout=20)
        group = next(d.json for d in deliveries if d.json["receiver"] == "oncall")
        assert group["groupLabels"] == {"alertname": "DiskFull"}
        assert group["groupKey"] == '{}/{severity="critical"}:{alertname="DiskFull"}'

        client = SilencesClient.from_config(http, ChatAlertmanagerConfig(url=am.url))  # type: ignore[arg-type]
        now = datetime.now(UTC)
        request = group_silence(
            group["groupLabels"],
            group["groupKey"],
            now=now,
            duration=timedelta(hours=4),
            created_by="alice (telegram)",
            comment="planned migration",
            alert_name="DiskFull",
        )
        silence_id = await client.create(request)

        [listed] = await client.list()
        assert listed.id == silence_id and listed.state == "active"
        assert set(listed.matchers) == {
            SilenceMatcher("alertname", "DiskFull"),
            SilenceMatcher("severity", "critical"),
        }
        assert listed.created_by == "alice (telegram)" and listed.comment == "planned migration"
        assert abs((listed.ends_at - (now + timedelta(hours=4))).total_seconds()) < 1
        assert (await client.get(silence_id)).id == silence_id
        assert [s.id for s in await client.list(filters=['severity="critical"'])] == [silence_id]

        async def only_critical_silenced() -> bool:
            return await alert_states(http, am) == {"critical": [silence_id], "warning": []}

        await eventually(only_critical_silenced)

        await client.expire(silence_id)
        assert (await client.get(silence_id)).state == "expired"
        await client.expire(silence_id)  # again: still fine (a repeated Unsilence tap)

        async def none_silenced() -> bool:
            return await alert_states(http, am) == {"critical": [], "warning": []}

        await eventually(none_silenced)
    finally:
        am.stop()


async def test_alertmanager_errors_are_translated(
    tmp_path: Path, webhook_sink: WebhookSink, http: aiohttp.ClientSession
) -> None:
    am = Alertmanager(tmp_path, am_config(webhook_sink))
    await am.start()
    try:
        client = SilencesClient(http, am.url)
        now = datetime.now(UTC)
        backwards = SilenceRequest(
            (SilenceMatcher("alertname", "X"),), now, now - timedelta(hours=1), "a (slack)", "c"
        )
        with pytest.raises(PermanentError) as info:
            await client.create(backwards)
        assert info.value.reason == "bad_request"
        message = str(info.value)
        assert (
            message.startswith("Alertmanager refused creating the silence: 400 ") and "end" in message.lower()
        )

        with pytest.raises(PermanentError) as missing:
            await client.expire("00000000-0000-0000-0000-000000000000")
        assert missing.value.reason == "not_found", str(missing.value)
        with pytest.raises(PermanentError) as unknown:
            await client.get("00000000-0000-0000-0000-000000000000")
        assert unknown.value.reason == "not_found"
        with pytest.raises(PermanentError) as malformed:
            await client.expire("nonsense")
        assert malformed.value.reason == "bad_request" and "must be of type uuid" in str(malformed.value)
        no_matchers = SilenceRequest((), now, now + timedelta(hours=1), "a (slack)", "c")
        with pytest.raises(PermanentError, match="at least 1 items"):
            await client.create(no_matchers)
    finally:
        am.stop()

    down = SilencesClient(http, f"http://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(RetryableError) as unreachable:
        await down.list()
    assert unreachable.value.reason == "unreachable"
