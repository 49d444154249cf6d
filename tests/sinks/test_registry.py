"""The table of integrations: destinations and sinks in one walk, secrets from files, one Bot per token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from app.config import KINDS, ConfigError, ReceiverConfig
from app.sinks.email import EmailSink
from app.sinks.registry import INTEGRATIONS, build, close_sinks
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
    built = build(config, session=session, send_timeout=5.0)
    sinks = built.sinks
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
        # One walk: each destination carries its receiver and kind, and sits in the router.
        assert list(built.destinations) == list(sinks)
        assert {(d.receiver, d.integration) for d in built.destinations.values()} == {
            ("oncall", "telegram"),
            ("oncall", "slack"),
            ("oncall", "email"),
            ("oncall", "webhook"),
            ("team.b", "webhook"),
            ("team.b", "file"),
        }
        assert [d.id for d in built.router.destinations["team.b"]] == ["team.b/webhook[0]", "team.b/file[0]"]
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
        build(config, session=session, send_timeout=1.0)


async def test_templates_are_compiled_once_at_validation(
    tmp_path: Path, session: aiohttp.ClientSession, fake_telegram: FakeTelegram
) -> None:
    """A bad template is refused when the config is loaded, naming its YAML path; a good one is
    compiled there once and the sink renders that same compiled object."""
    receivers = [
        {"name": "r", "telegram_configs": [{"bot_token": "1:x", "chat_id": 1, "message": "{{ oops }}"}]}
    ]
    with pytest.raises(ConfigError) as err:
        make_config(tmp_path, receivers=receivers, route={"receiver": "r"})
    [(path, message)] = err.value.problems
    assert path == "receivers[0].telegram_configs[0].message"
    assert message.startswith("unknown template variable")
    receivers[0]["telegram_configs"][0].update(
        message="<b>{{ group.status }}</b>", bot_token=fake_telegram.token, api_url=fake_telegram.url
    )
    config = make_config(tmp_path, receivers=receivers, route={"receiver": "r"})
    message_template = config.receivers[0].telegram_configs[0].message
    assert message_template == "<b>{{ group.status }}</b>"
    built = build(config, session=session, send_timeout=1.0)
    try:
        sink = built.sinks["r/telegram[0]"]
        assert isinstance(sink, TelegramSink)
        assert sink._template is message_template.compiled
    finally:
        await close_sinks(built.sinks)


def test_every_config_kind_has_one_row_in_the_table() -> None:
    """The config's kinds and the table's rows are the same set, each row with its model."""
    assert set(INTEGRATIONS) == set(KINDS)
    for kind, row in INTEGRATIONS.items():
        assert row.kind == kind
        assert row.config is KINDS[kind]
        assert f"{kind}_configs" in ReceiverConfig.model_fields
