"""Responding from chat through the real app: buttons on the Telegram and Slack copies of an
alert, taps from Telegram (long polling and webhook) and clicks from Slack (signed), ack and
unack edit every copy, refusals change nothing and are told, and every action is audited.

Real python-telegram-bot and aiohttp clients, fake Telegram and Slack servers, a SQLite file.
"""

from __future__ import annotations

import asyncio
import io
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from app.config import Config
from app.web.app import create_app
from app.web.state import STATE
from tests.conftest import TOKEN, make_config
from tests.fakes.slack import FakeSlack, SlackMessage, block_actions_request
from tests.fakes.telegram import FakeTelegram, TgMessage
from tests.payloads import alert, message

CHAT = -1001234567890
ALICE, BOB, EVE = 111111111, 222222222, 333333333
SLACK_ALICE = "U024BE7LH"
SIGNING = "8f742231b10e8888abcd99yyyzzz85a5"
Client = TestClient  # type: ignore[type-arg]
Start = Callable[..., Awaitable[Client]]

CRIT = message('{}/{severity="critical"}:{alertname="ApiDown"}', [alert("ApiDown", "fp1", deployment="api")])


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def start(fake_telegram: FakeTelegram, fake_slack: FakeSlack, aiohttp_client: Any, tmp_path: Path) -> Start:
    """The app on the fakes (which start first and stop last: a long poll ends with the app)."""

    async def go(*, mode: str = "polling", port: int | None = None, **chatops: Any) -> Client:
        telegram: dict[str, Any] = {
            "bot_token": fake_telegram.token,
            "api_url": fake_telegram.url,
            "mode": mode,
        }
        if mode == "webhook":
            telegram["webhook_url"] = f"http://127.0.0.1:{port}/chatops/telegram"
            telegram["secret_token"] = "webhook-secret-1"
        config: Config = make_config(
            tmp_path,
            [
                {
                    "name": "oncall",
                    "telegram_configs": [
                        {"bot_token": fake_telegram.token, "chat_id": CHAT, "api_url": fake_telegram.url}
                    ],
                    "slack_configs": [
                        {
                            "app_token": fake_slack.token,
                            "channel": "#oncall",
                            "app_url": f"{fake_slack.url}/api",
                        }
                    ],
                }
            ],
            {"receiver": "oncall", "routes": [{"matchers": ['severity="critical"'], "receiver": "oncall"}]},
            chatops={
                "telegram": telegram,
                "slack": {
                    "signing_secret": SIGNING,
                    "app_token": fake_slack.token,
                    "app_url": f"{fake_slack.url}/api",
                },
                "permissions": [
                    {"users": [f"telegram:{ALICE}", f"slack:{SLACK_ALICE}"], "allow": ["ack", "unack"]},
                    {"users": [f"telegram:{BOB}"], "allow": ["ack"], "matchers": ['namespace="staging"']},
                ],
                **chatops,
            },
        )
        kwargs = {"server_kwargs": {"port": port}} if port else {}
        client: Client = await aiohttp_client(create_app(config), **kwargs)
        return client

    return go


async def post(client: Client, body: dict[str, Any]) -> None:
    resp = await client.post("/webhook/alertmanager", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status == 200, await resp.text()


async def copies(client: Client, tg: FakeTelegram, slack: FakeSlack) -> tuple[TgMessage, SlackMessage]:
    await post(client, CRIT)
    [tg_msg] = await tg.wait_for_messages(CHAT, 1)
    await eventually(lambda: len(slack.messages()) == 1)
    return tg_msg, slack.messages()[0]


def button(msg: TgMessage, label: str) -> str:
    assert msg.reply_markup is not None
    for row in msg.reply_markup["inline_keyboard"]:
        for b in row:
            if b["text"] == label:
                return str(b["callback_data"])
    raise AssertionError(f"no button {label!r} in {msg.reply_markup}")


def labels(msg: TgMessage) -> list[str]:
    assert msg.reply_markup is not None
    return [b["text"] for row in msg.reply_markup["inline_keyboard"] for b in row]


def slack_button(msg: SlackMessage, action_id: str) -> str:
    for block in msg.blocks or []:
        for element in block.get("elements", []):
            if element.get("action_id") == action_id:
                return str(element["value"])
    raise AssertionError(f"no Slack button {action_id!r}")


def slack_text(msg: SlackMessage) -> str:
    return " ".join(
        e.get("text", "") for b in msg.blocks or [] if b["type"] == "context" for e in b["elements"]
    )


async def test_ack_from_telegram_edits_every_copy_and_unack_restores_the_button(
    start: Start, fake_telegram: FakeTelegram, fake_slack: FakeSlack
) -> None:
    client = await start()
    tg_msg, sl_msg = await copies(client, fake_telegram, fake_slack)
    assert labels(tg_msg) == ["✅ Ack"]  # no Alertmanager configured: no silence buttons
    assert slack_button(sl_msg, "alertmedic_ack")

    fake_telegram.push_update(
        fake_telegram.callback_update(tg_msg, button(tg_msg, "✅ Ack"), user_id=ALICE, username="alice")
    )
    await eventually(
        lambda: "acknowledged by @alice" in tg_msg.visible_text and "acknowledged" in slack_text(sl_msg)
    )
    assert labels(tg_msg) == ["↩ Unack"]
    assert fake_telegram.callback_answers[-1]["text"] == "✅ acknowledged by @alice"
    assert "ApiDown" in tg_msg.visible_text  # the alert itself is still shown
    assert slack_button(sl_msg, "alertmedic_unack")
    assert "✅ acknowledged by @alice" in slack_text(sl_msg)

    fake_telegram.push_update(
        fake_telegram.callback_update(tg_msg, button(tg_msg, "↩ Unack"), user_id=ALICE, username="alice")
    )
    await eventually(lambda: labels(tg_msg) == ["✅ Ack"] and "acknowledged" not in slack_text(sl_msg))
    assert "acknowledged" not in tg_msg.visible_text
    store = client.app[STATE].store
    audits = await store.chat_audits()
    assert [(a.action, a.outcome, a.user_key) for a in audits] == [
        ("unack", "done", f"telegram:{ALICE}"),
        ("ack", "done", f"telegram:{ALICE}"),
    ]
    metrics = (await (await client.get("/metrics")).text()).splitlines()
    assert 'alertmedic_chat_actions_total{action="ack",outcome="done",source="telegram"} 1.0' in metrics
    assert any(line.startswith("alertmedic_time_to_acknowledge_seconds_count") for line in metrics)


async def test_refusals_change_nothing_and_are_told(
    start: Start, fake_telegram: FakeTelegram, fake_slack: FakeSlack
) -> None:
    client = await start()
    tg_msg, sl_msg = await copies(client, fake_telegram, fake_slack)
    ack = button(tg_msg, "✅ Ack")
    forged = ack[:-1] + ("A" if ack[-1] != "A" else "B")
    for data, user in ((ack, EVE), (ack, BOB), (forged, ALICE)):
        fake_telegram.push_update(fake_telegram.callback_update(tg_msg, data, user_id=user, username="x"))
    await eventually(lambda: len(fake_telegram.callback_answers) == 3)
    answers = sorted(a["text"] for a in fake_telegram.callback_answers)
    assert all(str(a.get("show_alert")).lower() == "true" for a in fake_telegram.callback_answers)
    assert any(f"telegram:{EVE} is not in permissions" in a for a in answers), answers
    assert any('only alerts matching {namespace="staging"}' in a for a in answers), answers
    assert any("not issued by this alertmedic" in a for a in answers), answers
    await asyncio.sleep(0.2)
    assert not tg_msg.edited and not sl_msg.edited
    audits = await client.app[STATE].store.chat_audits()
    assert sorted(a.user_key for a in audits) == [f"telegram:{BOB}", f"telegram:{EVE}"]
    assert {a.outcome for a in audits} == {"refused"}


async def test_slack_click_acks_every_copy_once_and_bad_requests_are_refused(
    start: Start, fake_telegram: FakeTelegram, fake_slack: FakeSlack
) -> None:
    client = await start()
    tg_msg, sl_msg = await copies(client, fake_telegram, fake_slack)
    value = slack_button(sl_msg, "alertmedic_ack")

    def click(
        user: str, *, secret: str = SIGNING, timestamp: int | None = None
    ) -> tuple[bytes, dict[str, str]]:
        return block_actions_request(
            secret,
            user_id=user,
            channel_id=sl_msg.channel,
            message_ts=sl_msg.ts,
            action_id="alertmedic_ack",
            value=value,
            response_url=fake_slack.response_url(sl_msg.channel, sl_msg.ts),
            timestamp=timestamp,
        )

    for body, headers in (
        click(SLACK_ALICE, secret="wrong"),
        click(SLACK_ALICE, timestamp=int(time.time()) - 400),
    ):
        resp = await client.post("/chatops/slack", data=body, headers=headers)
        assert resp.status == 401
    resp = await client.post(
        "/chatops/slack", data=io.BytesIO(b"x" * 1_048_577), headers=click(SLACK_ALICE)[1]
    )
    assert resp.status == 413
    await asyncio.sleep(0.1)
    assert not tg_msg.edited

    body, headers = click(SLACK_ALICE)
    resp = await client.post("/chatops/slack", data=body, headers=headers)
    assert resp.status == 200
    await eventually(
        lambda: "acknowledged by alice" in tg_msg.visible_text and "acknowledged" in slack_text(sl_msg)
    )
    replay = await client.post("/chatops/slack", data=body, headers=headers)
    assert replay.status == 401
    assert [a.outcome for a in await client.app[STATE].store.chat_audits()] == ["done"]

    body, headers = click("U0EVE0000")
    resp = await client.post("/chatops/slack", data=body, headers=headers)
    assert resp.status == 200
    await eventually(lambda: len(fake_slack.ephemeral) == 1)
    assert fake_slack.ephemeral[0]["user"] == "U0EVE0000"
    assert "slack:U0EVE0000 is not in permissions" in fake_slack.ephemeral[0]["text"]


async def test_a_new_firing_alert_clears_the_ack_and_says_so(
    start: Start, fake_telegram: FakeTelegram, fake_slack: FakeSlack
) -> None:
    client = await start()
    tg_msg, _ = await copies(client, fake_telegram, fake_slack)
    fake_telegram.push_update(
        fake_telegram.callback_update(tg_msg, button(tg_msg, "✅ Ack"), user_id=ALICE, username="alice")
    )
    await eventually(lambda: "acknowledged by @alice" in tg_msg.visible_text)
    more = message(
        CRIT["groupKey"],
        [alert("ApiDown", "fp1", deployment="api"), alert("ApiDown", "fp2", deployment="web")],
    )
    await post(client, more)
    await eventually(lambda: len(fake_telegram.messages(CHAT)) == 2)
    latest = fake_telegram.messages(CHAT)[-1]
    assert "acknowledgement by @alice cleared" in latest.visible_text
    assert labels(latest) == ["✅ Ack"]


async def test_webhook_mode_sets_the_secret_and_refuses_updates_without_it(
    start: Start, fake_telegram: FakeTelegram, fake_slack: FakeSlack
) -> None:
    port = free_port()
    client = await start(mode="webhook", port=port)
    assert fake_telegram.webhook_url == f"http://127.0.0.1:{port}/chatops/telegram"
    assert fake_telegram.webhook_secret == "webhook-secret-1"
    tg_msg, _ = await copies(client, fake_telegram, fake_slack)
    tap = fake_telegram.callback_update(tg_msg, button(tg_msg, "✅ Ack"), user_id=ALICE, username="alice")
    assert await fake_telegram.deliver_webhook(tap, secret=None) == 403
    assert await fake_telegram.deliver_webhook(tap, secret="webhook-secret-2") == 403
    await asyncio.sleep(0.1)
    assert not tg_msg.edited
    assert await fake_telegram.deliver_webhook(tap) == 200
    await eventually(lambda: "acknowledged by @alice" in tg_msg.visible_text)
    assert fake_telegram.calls["getUpdates"] == 0


async def test_whoami_answers_anyone_ack_as_a_reply_command_and_alerts_lists_the_chat(
    start: Start, fake_telegram: FakeTelegram, fake_slack: FakeSlack
) -> None:
    client = await start()
    tg_msg, _ = await copies(client, fake_telegram, fake_slack)
    fake_telegram.push_update(fake_telegram.text_update(CHAT, "/whoami", user_id=EVE))
    await eventually(lambda: any(f"telegram:{EVE}" in m.visible_text for m in fake_telegram.messages(CHAT)))
    fake_telegram.push_update(
        fake_telegram.text_update(CHAT, "/ack", user_id=ALICE, username="alice", reply_to=tg_msg)
    )
    await eventually(lambda: "acknowledged by @alice" in tg_msg.visible_text)
    fake_telegram.push_update(fake_telegram.text_update(CHAT, "/alerts", user_id=ALICE))
    await eventually(
        lambda: any(
            m.visible_text == "ApiDown: 1 firing (acknowledged by @alice)"
            for m in fake_telegram.messages(CHAT)
        )
    )
    fake_telegram.push_update(fake_telegram.text_update(CHAT, "/alerts", user_id=EVE))
    await eventually(
        lambda: any("is not in permissions" in m.visible_text for m in fake_telegram.messages(CHAT))
    )
