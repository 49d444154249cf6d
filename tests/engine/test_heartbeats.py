"""The dead-man's switch through the real app on a ManualClock (minutes of clock time in
milliseconds): a missing Watchdog raises one alarm to the heartbeat's receiver, its return one
recovery (an edit of the alarm where the provider edits); never seen, it alarms `timeout` after
the first start; a restart neither loses nor repeats the alarm; two app instances on one
database raise it once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from app.config import Config
from app.engine.clock import ManualClock
from app.web.app import create_app
from app.web.state import STATE
from tests.conftest import make_config
from tests.engine.test_delivery import eventually, post
from tests.fakes.telegram import FakeTelegram
from tests.fakes.webhook import WebhookSink
from tests.payloads import alert, message

Client = TestClient  # type: ignore[type-arg]
ALARM = "no heartbeat from prometheus-prod for 5m: Prometheus or Alertmanager may be down"
WATCHDOG = message(
    '{}/{heartbeat="true"}:{alertname="Watchdog"}',
    [alert("Watchdog", "wd", severity="none", heartbeat="true", prometheus="monitoring/k8s")],
)
HEARTBEAT = {
    "name": "prometheus-prod",
    "matchers": ['alertname="Watchdog"', 'prometheus="monitoring/k8s"'],
    "timeout": "5m",
    "receiver": "oncall",
}
ROUTE = {"receiver": "oncall", "routes": [{"matchers": ['heartbeat="true"'], "receiver": "heartbeat"}]}


def hook_config(tmp_path: Path, sink: WebhookSink, **extra: Any) -> Config:
    receivers = [
        {"name": "oncall", "webhook_configs": [{"url": sink.url_for("/oncall")}]},
        {"name": "heartbeat"},  # takes the Watchdog: it pages nobody
    ]
    return make_config(tmp_path, receivers, ROUTE, heartbeats=[HEARTBEAT], **extra)


def summaries(sink: WebhookSink) -> list[tuple[str, str]]:
    """(status, summary) of each message the oncall receiver got."""
    return [
        (d.json["status"], d.json["alerts"][0]["annotations"]["summary"])
        for d in sink.deliveries
        if d.path == "/oncall"
    ]


async def start(aiohttp_client: Any, config: Config, clock: ManualClock) -> Client:
    client: Client = await aiohttp_client(create_app(config, clock=clock))
    return client


async def waiting_until(clock: ManualClock, at: float) -> None:
    """Until the heartbeat's lane sleeps towards `at` (its timer claimed)."""
    await eventually(lambda: at in clock.deadlines())


async def drained(client: Client, *, timers: int) -> None:
    """Until only the heartbeat's `timers` are pending (every delivery recorded): a clock jump
    past the lanes' leases with a delivery in flight would let the other instance take the
    lane over and send it again (the documented at-least-once window, which real time does not
    open)."""
    store = client.app[STATE].store
    for _ in range(250):
        if await store.pending_count() == timers:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("deliveries still pending")


async def settle(clock: ManualClock, minutes: int) -> None:
    for _ in range(minutes):
        await clock.advance(60)
    await asyncio.sleep(0.2)


@pytest.mark.parametrize("storage_url", ["sqlite", "postgres"], indirect=True)
async def test_a_missing_watchdog_raises_one_alarm_and_its_return_one_recovery(
    aiohttp_client: Any, tmp_path: Path, storage_url: str, webhook_sink: WebhookSink
) -> None:
    clock = ManualClock()
    t0 = clock.now()
    config = hook_config(tmp_path, webhook_sink, storage={"url": storage_url})
    client = await start(aiohttp_client, config, clock)
    await waiting_until(clock, t0 + 300)
    await clock.advance(120)
    await post(client, WATCHDOG)  # seen at +120: the deadline moves to +420
    metrics = client.app[STATE].metrics
    assert metrics.heartbeat_last_seen.labels("prometheus-prod")._value.get() == t0 + 120
    await clock.advance(181)  # +301: the first timer runs, finds the heartbeat seen, re-arms
    await waiting_until(clock, t0 + 420)
    assert summaries(webhook_sink) == []
    await clock.advance(118)  # +419
    await asyncio.sleep(0.1)
    assert summaries(webhook_sink) == []
    await clock.advance(2)
    await webhook_sink.wait_until(lambda: len(summaries(webhook_sink)) == 1, timeout=5)
    assert summaries(webhook_sink) == [("firing", ALARM)]
    alarm = webhook_sink.deliveries[0].json
    assert alarm["receiver"] == "oncall" and alarm["alerts"][0]["labels"]["heartbeat"] == "prometheus-prod"
    await settle(clock, 30)  # half an hour without a Watchdog: still one alarm
    assert len(summaries(webhook_sink)) == 1
    await post(client, WATCHDOG)
    await webhook_sink.wait_until(lambda: len(summaries(webhook_sink)) == 2, timeout=5)
    status, text = summaries(webhook_sink)[1]
    assert (status, text) == (
        "resolved",
        "heartbeat from prometheus-prod is back (the alarm was raised 30m1s ago)",
    )
    for _ in range(6):  # every 4 minutes: alive, nothing more is said
        await settle(clock, 4)
        await post(client, WATCHDOG)
    assert len(summaries(webhook_sink)) == 2
    alarms = metrics.heartbeat_alarms
    assert alarms.labels("prometheus-prod", "alarmed")._value.get() == 1
    assert alarms.labels("prometheus-prod", "recovered")._value.get() == 1
    for outcome in ("enqueued", "delivered"):
        assert metrics.notifications.labels("oncall", "webhook", outcome)._value.get() == 2
    # then it goes missing again: a second alarm
    await settle(clock, 6)
    await webhook_sink.wait_until(lambda: len(summaries(webhook_sink)) == 3, timeout=5)
    assert summaries(webhook_sink)[2] == ("firing", ALARM)


async def test_never_seen_it_alarms_timeout_after_the_first_start(
    aiohttp_client: Any, tmp_path: Path, webhook_sink: WebhookSink
) -> None:
    clock = ManualClock()
    t0 = clock.now()
    await start(aiohttp_client, hook_config(tmp_path, webhook_sink), clock)
    await waiting_until(clock, t0 + 300)
    await clock.advance(299)
    await asyncio.sleep(0.1)
    assert summaries(webhook_sink) == []
    await clock.advance(1)
    await webhook_sink.wait_until(lambda: len(summaries(webhook_sink)) == 1, timeout=5)
    assert summaries(webhook_sink) == [("firing", ALARM)]
    body = webhook_sink.deliveries[0].json["alerts"][0]["annotations"]["description"]
    assert "none since alertmedic started" in body


async def test_a_deduplicated_repeat_counts_as_seen(
    aiohttp_client: Any, tmp_path: Path, webhook_sink: WebhookSink
) -> None:
    """Routed to a receiver that sends it (unlike the deployed configs), the repeat within the
    dedup window is not sent again, yet it keeps the heartbeat alive."""
    clock = ManualClock()
    t0 = clock.now()
    route = {"receiver": "oncall", "routes": [{"matchers": ['heartbeat="true"'], "receiver": "watch"}]}
    receivers = [
        {"name": "oncall", "webhook_configs": [{"url": webhook_sink.url_for("/oncall")}]},
        {"name": "watch", "webhook_configs": [{"url": webhook_sink.url_for("/watch")}]},
    ]
    config = make_config(tmp_path, receivers, route, heartbeats=[HEARTBEAT], delivery={"dedup_window": "10m"})
    client = await start(aiohttp_client, config, clock)
    await waiting_until(clock, t0 + 300)
    first = await post(client, WATCHDOG)
    await clock.advance(240)
    repeat = await post(client, WATCHDOG)
    assert first["notifications"] == 1 and repeat["duplicates"] == 1, (first, repeat)
    await settle(clock, 4)  # +8 min: past the first Watchdog's deadline (+5), not the repeat's (+9)
    assert summaries(webhook_sink) == []
    await settle(clock, 1)
    await webhook_sink.wait_until(lambda: len(summaries(webhook_sink)) == 1, timeout=5)
    assert [d.path for d in webhook_sink.deliveries].count("/watch") == 1


@pytest.mark.parametrize("storage_url", ["sqlite", "postgres"], indirect=True)
async def test_a_restart_neither_loses_nor_repeats_the_alarm(
    aiohttp_client: Any, tmp_path: Path, storage_url: str, webhook_sink: WebhookSink
) -> None:
    config = hook_config(tmp_path, webhook_sink, storage={"url": storage_url})
    clock = ManualClock()
    t0 = clock.now()
    first = await start(aiohttp_client, config, clock)
    await waiting_until(clock, t0 + 300)
    await clock.advance(200)
    await first.close()  # down from +200 to +250: the timer waits in the database
    clock = ManualClock(start=t0 + 250)
    await start(aiohttp_client, config, clock)
    await waiting_until(clock, t0 + 300)
    await clock.advance(49)
    await asyncio.sleep(0.1)
    assert summaries(webhook_sink) == []
    await clock.advance(1)
    await webhook_sink.wait_until(lambda: len(summaries(webhook_sink)) == 1, timeout=5)
    # restarted again after the alarm (and once more long after): nothing is repeated
    await settle(clock, 10)
    for later in (20, 120):
        again = ManualClock(start=t0 + later * 60)
        client = await start(aiohttp_client, config, again)
        await settle(again, 10)
        await client.close()
    assert summaries(webhook_sink) == [("firing", ALARM)]


async def test_down_past_the_deadline_the_alarm_comes_at_the_restart(
    aiohttp_client: Any, tmp_path: Path, webhook_sink: WebhookSink
) -> None:
    config = hook_config(tmp_path, webhook_sink)
    clock = ManualClock()
    first = await start(aiohttp_client, config, clock)
    await waiting_until(clock, clock.now() + 300)
    await first.close()
    later = ManualClock(start=clock.now() + 3600)  # an hour later, nothing was seen
    await start(aiohttp_client, config, later)
    await webhook_sink.wait_until(lambda: len(summaries(webhook_sink)) == 1, timeout=5)
    await settle(later, 20)
    assert summaries(webhook_sink) == [("firing", ALARM)]


@pytest.mark.parametrize("storage_url", ["sqlite", "postgres"], indirect=True)
async def test_two_instances_on_one_database_alarm_once(
    aiohttp_client: Any, tmp_path: Path, storage_url: str, webhook_sink: WebhookSink
) -> None:
    config = hook_config(tmp_path, webhook_sink, storage={"url": storage_url})
    clock = ManualClock()
    t0 = clock.now()
    a = await start(aiohttp_client, config, clock)
    b = await start(aiohttp_client, config, clock)
    assert a.app[STATE].dispatcher.owner != b.app[STATE].dispatcher.owner
    await waiting_until(clock, t0 + 300)
    await settle(clock, 4)
    await post(b, WATCHDOG)  # b sees it at +4 min; the timer may be a's
    await settle(clock, 4)
    assert summaries(webhook_sink) == [], [d.json for d in webhook_sink.deliveries]
    # +9 min: missing since +4 min for 5 min. Second by second: a claim made at a clock time the
    # jump then left far behind would lease the lane until a time already past (in real time a
    # claim's `now` is milliseconds old, not a minute), letting both instances send the alarm.
    for _ in range(60):
        await clock.advance(1)
        await asyncio.sleep(0.01)
    await webhook_sink.wait_until(lambda: len(summaries(webhook_sink)) == 1, timeout=5)
    await drained(a, timers=0)  # alarmed: no timer until it is seen again; the jumps are safe
    await settle(clock, 20)
    await asyncio.sleep(0.5)
    assert summaries(webhook_sink) == [("firing", ALARM)]
    await asyncio.gather(post(a, WATCHDOG), post(b, WATCHDOG))
    await webhook_sink.wait_until(lambda: len(summaries(webhook_sink)) == 2, timeout=5)
    await asyncio.sleep(0.5)
    assert [s for s, _ in summaries(webhook_sink)] == ["firing", "resolved"]


@pytest.mark.parametrize("storage_url", ["sqlite", "postgres"], indirect=True)
async def test_the_recovery_edits_the_alarm_in_telegram(
    aiohttp_client: Any, tmp_path: Path, storage_url: str, fake_telegram: FakeTelegram
) -> None:
    chat = -1001
    receivers = [
        {
            "name": "oncall",
            "telegram_configs": [
                {"bot_token": fake_telegram.token, "chat_id": chat, "api_url": fake_telegram.url}
            ],
        },
        {"name": "heartbeat"},
    ]
    clock = ManualClock()
    client = await start(
        aiohttp_client,
        make_config(tmp_path, receivers, ROUTE, heartbeats=[HEARTBEAT], storage={"url": storage_url}),
        clock,
    )
    await waiting_until(clock, clock.now() + 300)
    await clock.advance(300)
    [msg] = await fake_telegram.wait_for_messages(chat, 1)
    assert ALARM in msg.visible_text
    await post(client, WATCHDOG)
    for _ in range(50):  # the chat's rate limit (1 message/s) spaces the edit on the clock
        if msg.edited:
            break
        await clock.advance(0.5)
        await asyncio.sleep(0.02)
    assert "is back" in msg.visible_text and len(fake_telegram.messages(chat)) == 1
