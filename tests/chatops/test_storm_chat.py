"""Groups a storm digest covered are known to chat as if each had its own message: `/alerts`
lists them; a command replying to the digest names no group. Real clock (a digest waits for the
group chat's next token, at most 3 s)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from app.web.app import create_app
from tests.chatops.test_respond import ALICE, CHAT, eventually, post
from tests.conftest import make_config
from tests.fakes.telegram import FakeTelegram
from tests.payloads import alert, message

Client = TestClient  # type: ignore[type-arg]


@pytest.mark.slow
async def test_alerts_lists_the_groups_a_digest_covered(
    fake_telegram: FakeTelegram, aiohttp_client: Any, tmp_path: Path
) -> None:
    config = make_config(
        tmp_path,
        [
            {
                "name": "oncall",
                "telegram_configs": [
                    {"bot_token": fake_telegram.token, "chat_id": CHAT, "api_url": fake_telegram.url}
                ],
            }
        ],
        {"receiver": "oncall"},
        chatops={
            "telegram": {"bot_token": fake_telegram.token, "api_url": fake_telegram.url, "mode": "polling"},
            "permissions": [{"users": [f"telegram:{ALICE}"], "allow": ["ack", "unack"]}],
        },
    )
    client: Client = await aiohttp_client(create_app(config))
    names = [f"Storm{i:02d}" for i in range(25)]
    for name in names:
        await post(client, message(f'{{}}:{{alertname="{name}"}}', [alert(name, f"fp-{name}")]))

    def digest() -> Any:
        return next((m for m in fake_telegram.messages(CHAT) if "Alert storm:" in m.visible_text), None)

    await eventually(lambda: digest() is not None, timeout=15)
    covered = int(re.search(r"Alert storm: (\d+)", digest().visible_text).group(1))  # type: ignore[union-attr]
    own = [m for m in fake_telegram.messages(CHAT) if m.visible_text.startswith("🔥 [FIRING:1] Storm")]
    assert covered > 10 and covered + len(own) == 25  # a few may go on their own first

    for _ in range(100):  # the digest is recorded (its groups' threads) just after it is sent
        if "alertmedic_outbox_depth 0.0" in await (await client.get("/metrics")).text():
            break
        await asyncio.sleep(0.05)
    fake_telegram.push_update(fake_telegram.text_update(CHAT, "/alerts", user_id=ALICE))
    await eventually(lambda: any(m.visible_text.startswith("Storm") for m in fake_telegram.messages(CHAT)))
    [listing] = [m for m in fake_telegram.messages(CHAT) if m.visible_text.startswith("Storm")]
    assert [line.split(":")[0] for line in listing.visible_text.splitlines()] == names

    fake_telegram.push_update(fake_telegram.text_update(CHAT, "/ack", user_id=ALICE, reply_to=digest()))
    await eventually(
        lambda: any("reply to an alert message" in m.visible_text for m in fake_telegram.messages(CHAT))
    )
    assert not digest().edited
