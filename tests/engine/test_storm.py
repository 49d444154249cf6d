"""Storms end to end in-process: a Telegram group chat's backlog becomes digests, within
Telegram's real limits (the fake enforces 20 messages in any 60 s per group, 1/s per chat, 30/s
per bot, on the test's ManualClock), every group represented, later updates threaded onto the
digest, one message per group again once the backlog is gone."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from app.engine.clock import ManualClock
from app.web.app import create_app
from tests.conftest import make_config
from tests.engine.test_delivery import CHAT, eventually, post
from tests.fakes.base import Injection
from tests.fakes.telegram import FakeTelegram, TgMessage
from tests.payloads import alert, message

Client = TestClient  # type: ignore[type-arg]
HEAD = re.compile(r"Alert storm: (\d+) alert groups? \((\d+) firing, (\d+) resolved\)")


def group(i: int, *, status: str = "firing", severity: str = "warning") -> dict[str, Any]:
    name = f"Storm{i:03d}"
    alerts = [alert(name, f"fp{i}-{j}", status=status, severity=severity, pod=f"p{j}") for j in range(3)]
    return message(f'{{}}:{{alertname="{name}"}}', alerts)


async def start(
    aiohttp_client: Any, tmp_path: Path, telegram: FakeTelegram, clock: ManualClock, **extra: Any
) -> Client:
    telegram.enforce_rate_limits = True
    telegram.clock = clock.now
    receivers = [
        {
            "name": "oncall",
            "telegram_configs": [{"bot_token": telegram.token, "chat_id": CHAT, "api_url": telegram.url}],
        }
    ]
    config = make_config(tmp_path, receivers, {"receiver": "oncall"}, **extra)
    client: Client = await aiohttp_client(create_app(config, clock=clock))
    return client


async def run(clock: ManualClock, seconds: float, *, step: float = 1.0) -> None:
    """Let `seconds` of clock time pass in steps, each with a moment of real time for the I/O."""
    for _ in range(int(seconds / step)):
        await clock.advance(step)
        await asyncio.sleep(0.03)


def digests(telegram: FakeTelegram) -> list[TgMessage]:
    return [m for m in telegram.messages(CHAT) if HEAD.search(m.visible_text)]


def represented(telegram: FakeTelegram) -> int:
    """Groups a person reading the chat has seen: one per own message, the headline's count
    of each digest."""
    own = [m for m in telegram.messages(CHAT) if not HEAD.search(m.visible_text)]
    counted = 0
    for d in digests(telegram):
        found = HEAD.search(d.visible_text)
        assert found is not None
        counted += int(found.group(1))
    return len(own) + counted


@pytest.mark.parametrize("storage_url", ["sqlite", "postgres"], indirect=True)
async def test_a_storm_becomes_digests_within_the_group_chat_limit(
    aiohttp_client: Any, tmp_path: Path, storage_url: str, fake_telegram: FakeTelegram
) -> None:
    clock = ManualClock()
    client = await start(aiohttp_client, tmp_path, fake_telegram, clock, storage={"url": storage_url})
    total = 200
    for i in range(total):  # two of them critical: a digest names those first
        await post(client, group(i, severity="critical" if i in (150, 170) else "warning"))
    await run(clock, 30)
    # Within `storm.after` every group is in the chat: its own message, or counted in a digest.
    assert represented(fake_telegram) == total
    assert fake_telegram.rate_limited == 0
    sent = fake_telegram.messages(CHAT)
    assert len(sent) <= 12  # not 200 messages draining for 10 minutes
    [digest] = digests(fake_telegram)
    text = digest.visible_text
    assert "more than this chat can take one by one within 30s" in text.lower()
    assert "/alerts" in text and "alertmedic incidents list" in text
    lines = [line for line in text.splitlines() if "Storm" in line]
    assert len(lines) == 10  # storm.top named, the rest counted
    assert "Storm150" in lines[0] and "Storm170" in lines[1]  # critical first
    found = re.search(r"and (\d+) more groups \((\d+) firing, (\d+) resolved\)", text)
    assert found is not None and int(found.group(1)) == int(HEAD.search(text).group(1)) - 10  # type: ignore[union-attr]

    metrics = await (await client.get("/metrics")).text()
    digested = re.search(r'alertmedic_notifications_total\{[^}]*outcome="digested"[^}]*\} ([\d.]+)', metrics)
    delivered = re.search(
        r'alertmedic_notifications_total\{[^}]*outcome="delivered"[^}]*\} ([\d.]+)', metrics
    )
    assert digested is not None and delivered is not None
    assert float(digested.group(1)) + float(delivered.group(1)) == total
    assert 'alertmedic_digest_messages_total{integration="telegram",receiver="oncall"} 1.0' in metrics

    # A group's later resolve finds its thread: a reply to the digest, which is never edited.
    await post(client, group(150, status="resolved", severity="critical"))
    await run(clock, 5)
    resolve = fake_telegram.messages(CHAT)[-1]
    assert "RESOLVED" in resolve.visible_text and "Storm150" in resolve.visible_text
    assert json.loads(resolve.params["reply_parameters"])["message_id"] == digest.message_id
    assert not digest.edited

    # The backlog is gone: one message per group again.
    before = len(fake_telegram.messages(CHAT))
    for i in range(500, 503):
        await post(client, group(i))
    await run(clock, 12)
    new = fake_telegram.messages(CHAT)[before:]
    assert [f"Storm{i}" in m.visible_text for i, m in zip(range(500, 503), new, strict=True)] == [True] * 3
    assert not digests(fake_telegram)[1:]
    # ... and the resolve of the group that got its own message edits that message in place.
    await post(client, group(150, severity="critical"))  # fires again: its own message now
    await run(clock, 5)
    own = fake_telegram.messages(CHAT)[-1]
    await post(client, group(150, status="resolved", severity="critical"))
    await run(clock, 5)
    assert fake_telegram.messages(CHAT)[-1] is own and own.edited
    assert fake_telegram.rate_limited == 0


@pytest.mark.slow
async def test_a_long_storm_sends_several_digests_and_never_exceeds_the_limit(
    aiohttp_client: Any, tmp_path: Path, fake_telegram: FakeTelegram
) -> None:
    """Groups keep coming for three minutes: digests follow each other at the chat's pace,
    every group is represented, no 429."""
    clock = ManualClock()
    client = await start(aiohttp_client, tmp_path, fake_telegram, clock)
    n = 0
    for _ in range(180):
        for _ in range(5):
            await post(client, group(n))
            n += 1
        await run(clock, 1)
    await run(clock, 40)
    assert represented(fake_telegram) == n == 900
    assert fake_telegram.rate_limited == 0
    times = [m.at for m in fake_telegram.messages(CHAT)]
    assert all(sum(1 for t in times if s <= t < s + 60) <= 20 for s in times)
    assert len(digests(fake_telegram)) >= 2


async def test_storms_off(aiohttp_client: Any, tmp_path: Path, fake_telegram: FakeTelegram) -> None:
    """`delivery.storm.after: 0`: one message per group, however long it takes."""
    clock = ManualClock()
    client = await start(aiohttp_client, tmp_path, fake_telegram, clock, delivery={"storm": {"after": "0"}})
    for i in range(15):
        await post(client, group(i))
    await run(clock, 50)
    assert digests(fake_telegram) == [] and len(fake_telegram.messages(CHAT)) == 15
    assert fake_telegram.rate_limited == 0


@pytest.mark.parametrize("after", ["30s", "1m"])
async def test_a_backlog_within_the_limit_is_not_a_storm(
    aiohttp_client: Any, tmp_path: Path, fake_telegram: FakeTelegram, after: str
) -> None:
    """10 groups in a group chat (20/min: 10 within 30 s) go one by one."""
    clock = ManualClock()
    client = await start(aiohttp_client, tmp_path, fake_telegram, clock, delivery={"storm": {"after": after}})
    for i in range(10):
        await post(client, group(i))
    await eventually(lambda: len(fake_telegram.messages(CHAT)) >= 1)
    await run(clock, 40)
    assert digests(fake_telegram) == [] and len(fake_telegram.messages(CHAT)) == 10


async def test_a_digest_told_to_wait_is_retried_after_retry_after(
    aiohttp_client: Any, tmp_path: Path, fake_telegram: FakeTelegram
) -> None:
    clock = ManualClock()
    client = await start(aiohttp_client, tmp_path, fake_telegram, clock)
    storm = Injection(429, 20, lambda rec: "Alert storm" in str(rec.form.get("text", "")))
    fake_telegram.inject(storm)  # the first digest's attempt is told to wait 20 s
    began = clock.now()
    for i in range(30):
        await post(client, group(i))
    await run(clock, 15)
    own = [m for m in fake_telegram.messages(CHAT) if not HEAD.search(m.visible_text)]
    assert digests(fake_telegram) == [] and 0 < len(own) <= 5
    assert any("Alert storm" in str(r.form.get("text", "")) for r in fake_telegram.requests)
    await run(clock, 30)
    [digest] = digests(fake_telegram)
    assert digest.at >= began + 20  # the refused attempt came after start: retry_after held
    assert represented(fake_telegram) == 30 and fake_telegram.rate_limited == 0
    metrics = await (await client.get("/metrics")).text()
    labels = 'integration="telegram",reason="rate_limited",receiver="oncall"'
    assert f"alertmedic_delivery_retries_total{{{labels}}} 1.0" in metrics
    assert "Alert storm: " in digest.visible_text
