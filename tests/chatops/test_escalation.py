"""Escalation through the real app on a ManualClock: an unacknowledged critical reaches the next
receiver of its policy after `after` (10 minutes in milliseconds), through the job queue's
timers; an ack stops it; a restart neither loses nor repeats a step."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from app.engine.clock import ManualClock
from app.web.app import create_app
from app.web.state import STATE
from tests.chatops.test_respond import ALICE, CRIT, button, eventually, post
from tests.conftest import make_config
from tests.fakes.telegram import FakeTelegram

PRIMARY, SECONDARY, LEAD = -1001, -1002, -1003
Client = TestClient  # type: ignore[type-arg]


def config(tmp_path: Path, tg: FakeTelegram) -> Any:
    def receiver(name: str, chat: int) -> dict[str, Any]:
        return {
            "name": name,
            "telegram_configs": [{"bot_token": tg.token, "chat_id": chat, "api_url": tg.url}],
        }

    return make_config(
        tmp_path,
        [receiver("oncall", PRIMARY), receiver("oncall-secondary", SECONDARY), receiver("team-lead", LEAD)],
        {
            "receiver": "team-lead",
            "routes": [
                {"matchers": ['severity="critical"'], "receiver": "oncall", "escalation": "critical-oncall"}
            ],
        },
        chatops={
            "telegram": {"bot_token": tg.token, "api_url": tg.url},
            "permissions": [{"users": [f"telegram:{ALICE}"], "allow": ["ack"]}],
        },
        escalation_policies=[
            {
                "name": "critical-oncall",
                "steps": [
                    {"after": "10m", "receiver": "oncall-secondary"},
                    {"after": "30m", "receiver": "team-lead"},
                ],
            }
        ],
    )


async def test_unacknowledged_critical_escalates_step_by_step_once(
    fake_telegram: FakeTelegram, aiohttp_client: Any, tmp_path: Path
) -> None:
    clock = ManualClock()
    client: Client = await aiohttp_client(create_app(config(tmp_path, fake_telegram), clock=clock))
    await post(client, CRIT)
    [first] = await fake_telegram.wait_for_messages(PRIMARY, 1)
    await clock.advance(9 * 60)
    await clock.advance(50)
    assert fake_telegram.messages(SECONDARY) == []
    await clock.advance(10)
    [escalated] = await fake_telegram.wait_for_messages(SECONDARY, 1)
    assert (
        "ApiDown" in escalated.visible_text and "⏫ escalated to oncall-secondary" in escalated.visible_text
    )
    await eventually(lambda: "⏫ escalated to oncall-secondary" in first.visible_text)
    assert fake_telegram.messages(LEAD) == []
    await clock.advance(20 * 60)
    await fake_telegram.wait_for_messages(LEAD, 1)
    await clock.advance(3600)
    for _ in range(20):
        await clock.advance(60)
    assert len(fake_telegram.messages(SECONDARY)) == 1 and len(fake_telegram.messages(LEAD)) == 1


async def test_an_ack_stops_escalation(
    fake_telegram: FakeTelegram, aiohttp_client: Any, tmp_path: Path
) -> None:
    clock = ManualClock()
    client: Client = await aiohttp_client(create_app(config(tmp_path, fake_telegram), clock=clock))
    await post(client, CRIT)
    [first] = await fake_telegram.wait_for_messages(PRIMARY, 1)
    await clock.advance(5 * 60)
    fake_telegram.push_update(
        fake_telegram.callback_update(first, button(first, "✅ Ack"), user_id=ALICE, username="alice")
    )
    await eventually(lambda: "acknowledged by @alice" in first.visible_text)
    for _ in range(60):
        await clock.advance(60)
    assert fake_telegram.messages(SECONDARY) == [] and fake_telegram.messages(LEAD) == []


async def test_escalation_timers_survive_a_restart_and_fire_once(
    fake_telegram: FakeTelegram, aiohttp_client: Any, tmp_path: Path
) -> None:
    clock = ManualClock()
    cfg = config(tmp_path, fake_telegram)
    client: Client = await aiohttp_client(create_app(cfg, clock=clock))
    await post(client, CRIT)
    await fake_telegram.wait_for_messages(PRIMARY, 1)
    await client.close()
    again = ManualClock(start=clock.now() + 15 * 60)  # down 15 minutes: the 10-minute step is overdue
    await aiohttp_client(create_app(cfg, clock=again))
    await fake_telegram.wait_for_messages(SECONDARY, 1)
    await again.advance(14 * 60)
    assert fake_telegram.messages(LEAD) == []
    await again.advance(60)
    await fake_telegram.wait_for_messages(LEAD, 1)
    for _ in range(30):
        await again.advance(60)
    assert len(fake_telegram.messages(SECONDARY)) == 1 and len(fake_telegram.messages(LEAD)) == 1


async def test_two_replicas_escalate_once_whichever_works_the_timer(
    fake_telegram: FakeTelegram, aiohttp_client: Any, tmp_path: Path
) -> None:
    """Two replicas on one store (one clock): the group posted to both (an Alertmanager HA pair)
    is notified once, its timer armed once, and each step reaches its receiver once."""
    clock = ManualClock()
    cfg = config(tmp_path, fake_telegram)
    a: Client = await aiohttp_client(create_app(cfg, clock=clock))
    b: Client = await aiohttp_client(create_app(cfg, clock=clock))
    await asyncio.gather(post(a, CRIT), post(b, CRIT))
    await fake_telegram.wait_for_messages(PRIMARY, 1)

    start = clock.now()

    async def run_to(at: float) -> None:
        """Move the clock to `at` 2 s at a time (renewals keep up), then let the replicas work
        with the clock still: a send takes milliseconds, not minutes."""
        while clock.now() + 2 < at:
            await clock.advance(2)
            await asyncio.sleep(0.003)
        await clock.advance(at - clock.now())

    await run_to(start + 300)
    # both replicas stall for 6 s, more than a lease (4 s): the lease of the replica holding the
    # timer lapses and the other one claims the lane too; the timer still fires once
    await clock.advance(6)
    await run_to(start + 600.5)
    await fake_telegram.wait_for_messages(SECONDARY, 1)
    await run_to(start + 1800.5)
    await fake_telegram.wait_for_messages(LEAD, 1)
    for _ in range(30):
        await clock.advance(1)
        await asyncio.sleep(0.01)
    assert len(fake_telegram.messages(PRIMARY)) == 1
    assert len(fake_telegram.messages(SECONDARY)) == 1 and len(fake_telegram.messages(LEAD)) == 1
    group = (await a.app[STATE].store.chat_open_groups(PRIMARY))[0]
    assert [r for r, _ in group.escalations] == ["oncall-secondary", "team-lead"]
