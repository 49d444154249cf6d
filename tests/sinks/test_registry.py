"""build_sinks / close_sinks: destination ids, secrets from files, one Bot per token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from app.sinks.email import EmailSink
from app.sinks.factory import build_sinks, close_sinks
from app.sinks.slack import SlackSink
from app.sinks.telegram import TelegramSink
from app.sinks.webhook import WebhookSink
from tests.conftest import make_config
from tests.fakes.slack import FakeSlack
from tests.fakes.telegram import FakeTelegram
from tests.fakes.webhook import WebhookSink as FakeWebhook
from tests.sinks.groups import delivery, firing


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def test_builds_every_integration_and_shares_bots(
    tmp_path: Path,
    session: aiohttp.ClientSession,
    fake_telegram: FakeTelegram,
    fake_slack: FakeSlack,
    webhook_sink: FakeWebhook,
) -> None:
    token_file = tmp_path / "tg-token"
    token_file.write_text(fake_telegram.token + "\n")
    hook = fake_slack.add_webhook("#alerts")
    config = make_config(
        tmp_path,
        receivers=[
            {
                "name": "oncall",
                "telegram_configs": [
                    {"bot_token": fake_telegram.token, "chat_id": 1, "api_url": fake_telegram.url},
                    {"bot_token_file": str(token_file), "chat_id": 2, "api_url": fake_telegram.url},
                ],
                "slack_configs": [
                    {"app_token": fake_slack.token, "channel": "#oncall", "app_url": f"{fake_slack.url}/api"},
                    {"api_url": hook},
                ],
                "email_configs": [
                    {
                        "to": "a@example.org",
                        "from": "b@example.org",
                        "smarthost": "127.0.0.1:2525",
                        "require_tls": False,
                    }
                ],
                "webhook_configs": [{"url": webhook_sink.url_for("/in")}],
            },
            {
                "name": "team.b",
                "webhook_configs": [{"url": webhook_sink.url_for("/b")}],
                "file_configs": [{"path": str(tmp_path / "out" / "notifications.log")}],
            },
        ],
        route={"receiver": "oncall"},
    )
    sinks = build_sinks(config, session=session, send_timeout=5.0)
    try:
        assert list(sinks) == [
            "oncall/telegram[0]",
            "oncall/telegram[1]",
            "oncall/slack[0]",
            "oncall/slack[1]",
            "oncall/email[0]",
            "oncall/webhook[0]",
            "team.b/webhook[0]",
            "team.b/file[0]",
        ]
        assert isinstance(sinks["oncall/telegram[1]"], TelegramSink)
        assert isinstance(sinks["oncall/slack[1]"], SlackSink)
        assert isinstance(sinks["oncall/email[0]"], EmailSink)
        assert isinstance(sinks["team.b/webhook[0]"], WebhookSink)
        assert {s.integration for s in sinks.values()} == {"telegram", "slack", "email", "webhook", "file"}
        # The two Telegram destinations use one Bot: one getMe, one per-bot bucket.
        await sinks["oncall/telegram[0]"].send(delivery(firing(1)))
        await sinks["oncall/telegram[1]"].send(delivery(firing(1)))
        assert fake_telegram.calls["getMe"] == 1
        assert len(fake_telegram.messages(1)) == len(fake_telegram.messages(2)) == 1
        buckets = [
            r.key
            for name in ("oncall/telegram[0]", "oncall/telegram[1]")
            for r in sinks[name].rate_limits()
            if r.key.startswith("telegram:bot:")
        ]
        assert len(set(buckets)) == 1
        await sinks["oncall/slack[0]"].send(delivery(firing(1)))
        await sinks["oncall/slack[1]"].send(delivery(firing(1)))
        await sinks["team.b/webhook[0]"].send(delivery(firing(1)))
        assert len(fake_slack.messages()) == 2
        assert [d.path for d in await webhook_sink.wait_for(1)] == ["/b"]
        await sinks["team.b/file[0]"].send(delivery(firing(1)))
        assert "[FIRING:1] ModelLatencyHigh (prod)" in (tmp_path / "out" / "notifications.log").read_text()
    finally:
        await close_sinks(sinks)


async def test_unreadable_secret_names_the_destination(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    secret = tmp_path / "url"
    secret.write_text("http://127.0.0.1:9/hook")
    config = make_config(
        tmp_path,
        receivers=[{"name": "r", "webhook_configs": [{"url_file": str(secret)}]}],
        route={"receiver": "r"},
    )
    secret.unlink()
    with pytest.raises(ValueError, match=r"^r/webhook\[0\]: No such file or directory"):
        build_sinks(config, session=session, send_timeout=1.0)


async def test_bad_template_names_the_destination(tmp_path: Path, session: aiohttp.ClientSession) -> None:
    config = make_config(
        tmp_path,
        receivers=[{"name": "r", "telegram_configs": [{"bot_token": "1:x", "chat_id": 1}]}],
        route={"receiver": "r"},
    )
    # model_copy skips validation: the factory's own check, should config load not catch it.
    receiver = config.receivers[0]
    bad = receiver.telegram_configs[0].model_copy(update={"message": "{{ oops }}"})
    receiver = receiver.model_copy(update={"telegram_configs": [bad]})
    config = config.model_copy(update={"receivers": [receiver]})
    with pytest.raises(ValueError, match=r"^r/telegram\[0\]: unknown template variable"):
        build_sinks(config, session=session, send_timeout=1.0)
