"""A Silence tap makes a real Alertmanager silence for exactly that group, and Unsilence expires
it: the real Alertmanager binary notifies the real app, which shows the alert in (fake)
Telegram with its buttons; taps come back by long polling."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from app.engine.clock import ManualClock
from app.web.app import create_app
from app.web.state import STATE
from tests.chatops.test_respond import ALICE, button, labels
from tests.conftest import TOKEN, make_config
from tests.e2e.alertmanager import Alertmanager, am_alert
from tests.e2e.proc import free_port
from tests.fakes.telegram import FakeTelegram

pytestmark = pytest.mark.slow
CHAT = -1009876543210


async def eventually(check: Callable[[], Any], timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not await check():  # noqa: ASYNC110 - polling a real process's HTTP API
            await asyncio.sleep(0.1)


def am_config(port: int) -> dict[str, Any]:
    hook = {
        "url": f"http://127.0.0.1:{port}/webhook/alertmanager",
        "send_resolved": True,
        "http_config": {"authorization": {"type": "Bearer", "credentials": TOKEN}},
    }
    return {
        "route": {
            "receiver": "default",
            "group_by": ["alertname"],
            "group_wait": "0s",
            "group_interval": "1s",
            "repeat_interval": "1h",
            "routes": [{"matchers": ['severity="critical"'], "receiver": "oncall"}],
        },
        "receivers": [{"name": "default"}, {"name": "oncall", "webhook_configs": [hook]}],
    }


def app_config(tmp_path: Path, tg: FakeTelegram, am: Alertmanager) -> Any:
    return make_config(
        tmp_path,
        [
            {
                "name": "oncall",
                "telegram_configs": [{"bot_token": tg.token, "chat_id": CHAT, "api_url": tg.url}],
            }
        ],
        {"receiver": "oncall"},
        chatops={
            "alertmanager": {"url": am.url},
            "telegram": {"bot_token": tg.token, "api_url": tg.url},
            "silence_durations": ["1h", "4h"],
            "permissions": [{"users": [f"telegram:{ALICE}"], "allow": ["silence", "unsilence"]}],
        },
    )


async def test_silence_tap_silences_exactly_the_group_and_unsilence_expires_it(
    fake_telegram: FakeTelegram, aiohttp_client: Any, tmp_path: Path
) -> None:
    port = free_port()
    am = Alertmanager(tmp_path, am_config(port))
    await am.start()
    try:
        config = app_config(tmp_path, fake_telegram, am)
        client: TestClient = await aiohttp_client(create_app(config), server_kwargs={"port": port})  # type: ignore[type-arg]
        await am.post_alerts([am_alert("DiskFull", "critical"), am_alert("DiskFull", "warning")])
        [msg] = await fake_telegram.wait_for_messages(CHAT, 1, timeout=20)
        assert labels(msg) == ["✅ Ack", "🔕 1h", "🔕 4h"]

        fake_telegram.push_update(  # someone without the right: told in the chat, no silence
            fake_telegram.callback_update(msg, button(msg, "🔕 4h"), user_id=333333333, username="eve")
        )

        async def refused() -> bool:
            return any(
                "telegram:333333333 is not in permissions" in m.visible_text
                for m in fake_telegram.messages(CHAT)
            )

        await eventually(refused)
        tapped = datetime.now(UTC)
        fake_telegram.push_update(
            fake_telegram.callback_update(msg, button(msg, "🔕 4h"), user_id=ALICE, username="alice")
        )

        async def shown() -> bool:
            return "silenced by @alice until" in msg.visible_text

        await eventually(shown)
        assert labels(msg) == ["✅ Ack", "🔔 Unsilence"]
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{am.url}/api/v2/silences") as resp:
                [silence] = await resp.json()
            assert silence["status"]["state"] == "active"
            assert silence["createdBy"] == "alice (telegram)"
            assert {(m["name"], m["value"], m["isRegex"]) for m in silence["matchers"]} == {
                ("alertname", "DiskFull", False),
                ("severity", "critical", False),
            }
            ends = datetime.fromisoformat(silence["endsAt"].replace("Z", "+00:00"))
            assert abs((ends - (tapped + timedelta(hours=4))).total_seconds()) < 30

            async def silenced() -> dict[str, list[str]]:
                async with http.get(f"{am.url}/api/v2/alerts") as r:
                    return {a["labels"]["severity"]: a["status"]["silencedBy"] for a in await r.json()}

            async def only_critical() -> bool:
                return await silenced() == {"critical": [silence["id"]], "warning": []}

            await eventually(only_critical)

            fake_telegram.push_update(
                fake_telegram.callback_update(
                    msg, button(msg, "🔔 Unsilence"), user_id=ALICE, username="alice"
                )
            )

            async def restored() -> bool:
                return "🔕 4h" in labels(msg) and "silenced by" not in msg.visible_text

            await eventually(restored)
            async with http.get(f"{am.url}/api/v2/silence/{silence['id']}") as resp:
                assert (await resp.json())["status"]["state"] == "expired"
        audits = await client.app[STATE].store.chat_audits()
        assert [(a.action, a.outcome) for a in audits] == [
            ("unsilence", "done"),
            ("silence", "done"),
            ("silence", "refused"),
        ]
    finally:
        am.stop()


async def test_the_end_of_a_silence_is_shown_on_the_message(
    fake_telegram: FakeTelegram, aiohttp_client: Any, tmp_path: Path
) -> None:
    port = free_port()
    am = Alertmanager(tmp_path, am_config(port))
    await am.start()
    try:
        clock = ManualClock(start=time.time())
        app = create_app(app_config(tmp_path, fake_telegram, am), clock=clock)
        await aiohttp_client(app, server_kwargs={"port": port})
        await am.post_alerts([am_alert("DiskFull", "critical")])
        [msg] = await fake_telegram.wait_for_messages(CHAT, 1, timeout=20)
        fake_telegram.push_update(
            fake_telegram.callback_update(msg, button(msg, "🔕 1h"), user_id=ALICE, username="alice")
        )

        async def silenced() -> bool:
            return "🔕 silenced by @alice until" in msg.visible_text

        async def tick_until_silenced() -> bool:
            await clock.advance(1)  # the edit waits for the chat's rate limit on this clock
            return await silenced()

        await eventually(tick_until_silenced)
        await clock.advance(3601)  # no resolve comes from Alertmanager: our timer shows the end

        async def ended() -> bool:
            return "🔔 silence by @alice ended" in msg.visible_text and "🔕 1h" in labels(msg)

        await eventually(ended)

        fake_telegram.push_update(  # the command, as a reply to the alert, with a comment
            fake_telegram.text_update(
                CHAT, "/silence 2h planned migration", user_id=ALICE, username="alice", reply_to=msg
            )
        )

        async def commented() -> bool:
            async with aiohttp.ClientSession() as http, http.get(f"{am.url}/api/v2/silences") as resp:
                return "planned migration" in [s["comment"] for s in await resp.json()]

        async def tick_until_commented() -> bool:
            await clock.advance(1)
            return await commented()

        await eventually(tick_until_commented)
    finally:
        am.stop()
