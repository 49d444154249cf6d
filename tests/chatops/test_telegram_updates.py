"""Telegram updates: the webhook secret header check, and updates read through PTB's
Update.de_json into taps and text messages (from the fake's real wire JSON)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from telegram import Bot

from app.chatops.telegram_updates import (
    CallbackTap,
    TextMessage,
    parse_update,
    read_update,
    secret_token_ok,
)
from app.config.chatops import secret_token_problem
from app.core.chatops.actions import Provider
from app.core.chatops.commands import Name, parse_command
from tests.fakes.telegram import FakeTelegram, make_bot

CHAT = -1001234567890


@pytest.fixture
async def bot(fake_telegram: FakeTelegram) -> AsyncIterator[Bot]:
    async with make_bot(fake_telegram) as b:
        yield b


@pytest.mark.parametrize(
    ("header", "ok"),
    [("s3cret", True), ("s3cre", False), ("s3cret ", False), ("", False), (None, False), ("ś3cret", False)],
)
def test_secret_header(header: str | None, ok: bool) -> None:
    assert secret_token_ok("s3cret", header) is ok


def test_an_empty_configured_secret_never_matches() -> None:
    assert not secret_token_ok("", "")


def test_secret_tokens_telegram_would_refuse() -> None:
    assert secret_token_problem("Abc_09-" * 36) is None  # 252 characters
    for bad in ("", "x" * 257, "has space", "s3cret!", "ünï"):
        problem = secret_token_problem(bad)
        assert problem is not None and "1-256 characters" in problem and (not bad or bad not in problem)


async def test_a_tap_is_read(fake_telegram: FakeTelegram, bot: Bot) -> None:
    await bot.send_message(CHAT, "firing")
    alert = fake_telegram.messages(CHAT)[0]
    data = fake_telegram.callback_update(alert, "a.g1.AAAA", user_id=111111111, username="alice")
    tap = parse_update(data, bot)
    assert isinstance(tap, CallbackTap)
    assert tap.data == "a.g1.AAAA" and tap.chat_id == CHAT and tap.message_id == alert.message_id
    assert tap.actor.key == "telegram:111111111" and tap.actor.name == "@alice"
    assert tap.actor.created_by == "alice (telegram)"
    assert tap.query_id == data["callback_query"]["id"]


async def test_a_command_reply_is_read(fake_telegram: FakeTelegram, bot: Bot) -> None:
    await bot.send_message(CHAT, "firing")
    alert = fake_telegram.messages(CHAT)[0]
    data = fake_telegram.text_update(
        CHAT, "/silence@fake_bot 2h migration", user_id=222, first_name="Bob", reply_to=alert
    )
    msg = parse_update(data, bot)
    assert isinstance(msg, TextMessage)
    assert msg.actor.provider is Provider.TELEGRAM and msg.actor.name == "Bob"  # no username
    assert msg.reply_to_message_id == alert.message_id and msg.chat_id == CHAT
    command = parse_command(msg.text, bot_username="fake_bot")
    assert command is not None and command.name is Name.SILENCE and command.duration == 7200


async def test_polled_updates_read_the_same(fake_telegram: FakeTelegram, bot: Bot) -> None:
    fake_telegram.push_update(fake_telegram.text_update(CHAT, "/whoami", user_id=333, username="carol"))
    [update] = await bot.get_updates(timeout=0)
    msg = read_update(update)
    assert isinstance(msg, TextMessage) and msg.actor.key == "telegram:333" and msg.text == "/whoami"


async def test_other_updates_are_ignored_and_garbage_refused(fake_telegram: FakeTelegram, bot: Bot) -> None:
    bot_message = fake_telegram.text_update(CHAT, "/ack", user_id=999)
    bot_message["message"]["from"]["is_bot"] = True
    assert parse_update(bot_message, bot) is None
    assert parse_update({"update_id": 5, "edited_message": bot_message["message"]}, bot) is None
    with pytest.raises(ValueError, match="update_id is missing"):
        parse_update({"message": {}}, bot)
    with pytest.raises(ValueError, match="not a Telegram update"):
        parse_update({"update_id": 6, "message": {"text": "x"}}, bot)
