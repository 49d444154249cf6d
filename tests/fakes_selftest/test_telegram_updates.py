"""FakeTelegram's updates side (getUpdates long polling, webhooks, callback answers, keyboard
edits), driven by the real python-telegram-bot client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Conflict

from tests.fakes.telegram import FakeTelegram, make_bot
from tests.fakes.webhook import WebhookSink

CHAT = -1001234567890
ALICE = 111111111


@pytest.fixture
async def bot(fake_telegram: FakeTelegram) -> AsyncIterator[Bot]:
    async with make_bot(fake_telegram) as b:
        yield b


def keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(d, callback_data=d) for d in data]])


async def test_get_updates_delivers_a_button_tap_until_confirmed(
    fake_telegram: FakeTelegram, bot: Bot
) -> None:
    sent = await bot.send_message(CHAT, "firing", reply_markup=keyboard("ack"))
    stored = fake_telegram.messages(CHAT)[0]
    pushed = fake_telegram.push_update(
        fake_telegram.callback_update(stored, "ack", user_id=ALICE, username="alice")
    )
    [update] = await bot.get_updates(timeout=0)
    assert update.update_id == pushed["update_id"]
    query = update.callback_query
    assert query is not None and query.data == "ack" and query.from_user.username == "alice"
    assert query.message is not None and query.message.message_id == sent.message_id
    assert query.message.chat.id == CHAT
    # not confirmed yet: delivered again; confirmed by offset: gone
    assert [u.update_id for u in await bot.get_updates(timeout=0)] == [update.update_id]
    assert await bot.get_updates(offset=update.update_id + 1, timeout=0) == ()
    assert fake_telegram.updates == []


async def test_long_polling_waits_for_an_update(fake_telegram: FakeTelegram, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await fake_telegram.wait_until(lambda: fake_telegram.calls["getUpdates"] == 1)
    await asyncio.sleep(0.05)
    assert not poll.done()  # held: nothing to answer yet
    fake_telegram.push_update(fake_telegram.text_update(CHAT, "/whoami", user_id=ALICE, first_name="Alice"))
    [update] = await asyncio.wait_for(poll, 2)
    assert update.message is not None and update.message.text == "/whoami"
    assert update.message.from_user is not None and update.message.from_user.id == ALICE
    assert [e.type for e in update.message.entities] == ["bot_command"]


async def test_long_polling_times_out_empty(fake_telegram: FakeTelegram, bot: Bot) -> None:
    assert await bot.get_updates(timeout=1) == ()


async def test_command_replying_to_an_alert_message(fake_telegram: FakeTelegram, bot: Bot) -> None:
    await bot.send_message(CHAT, "firing")
    alert = fake_telegram.messages(CHAT)[0]
    data = fake_telegram.text_update(CHAT, "/silence 2h migration", user_id=ALICE, reply_to=alert)
    update = Update.de_json(data, bot)
    assert update.message is not None and update.message.reply_to_message is not None
    assert update.message.reply_to_message.message_id == alert.message_id


async def test_webhook_mode_keeps_the_secret_and_blocks_polling(
    fake_telegram: FakeTelegram, bot: Bot
) -> None:
    assert await bot.set_webhook("https://alertmedic.example.com/chatops/telegram", secret_token="s3cr3t-_")
    assert fake_telegram.webhook_url == "https://alertmedic.example.com/chatops/telegram"
    assert fake_telegram.webhook_secret == "s3cr3t-_"
    with pytest.raises(Conflict, match="can't use getUpdates method while webhook is active"):
        await bot.get_updates(timeout=0)
    fake_telegram.push_update(fake_telegram.text_update(CHAT, "/help", user_id=ALICE))
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert fake_telegram.webhook_url is None and await bot.get_updates(timeout=0) == ()


async def test_updates_are_posted_to_the_webhook_with_its_secret(
    fake_telegram: FakeTelegram, bot: Bot, webhook_sink: WebhookSink
) -> None:
    update = fake_telegram.text_update(CHAT, "/ack", user_id=ALICE)
    with pytest.raises(RuntimeError, match="no webhook is set"):
        await fake_telegram.deliver_webhook(update)
    await bot.set_webhook(webhook_sink.url_for("/chatops/telegram"), secret_token="s3cr3t")
    assert await fake_telegram.deliver_webhook(update) == 200
    assert await fake_telegram.deliver_webhook(update, secret="wrong") == 200
    assert await fake_telegram.deliver_webhook(update, secret=None) == 200
    first, wrong, none = webhook_sink.deliveries
    assert first.path == "/chatops/telegram" and first.json == update
    assert first.headers["X-Telegram-Bot-Api-Secret-Token"] == "s3cr3t"
    assert wrong.headers["X-Telegram-Bot-Api-Secret-Token"] == "wrong"
    assert "X-Telegram-Bot-Api-Secret-Token" not in none.headers
    assert Update.de_json(first.json, bot).message is not None


async def test_answer_callback_query_with_an_alert(fake_telegram: FakeTelegram, bot: Bot) -> None:
    assert await bot.answer_callback_query("4000000001", text="telegram:222 may not silence", show_alert=True)
    [answer] = fake_telegram.callback_answers
    assert answer["callback_query_id"] == "4000000001"
    assert answer["text"] == "telegram:222 may not silence" and answer["show_alert"] == "true"
    with pytest.raises(BadRequest, match=r"(?i)message_too_long"):
        await bot.answer_callback_query("4000000001", text="x" * 201)


async def test_edit_reply_markup(fake_telegram: FakeTelegram, bot: Bot) -> None:
    sent = await bot.send_message(CHAT, "firing", reply_markup=keyboard("ack"))
    edited = await bot.edit_message_reply_markup(CHAT, sent.message_id, reply_markup=keyboard("unack"))
    assert not isinstance(edited, bool) and edited.reply_markup is not None
    assert edited.reply_markup.inline_keyboard[0][0].callback_data == "unack"
    stored = fake_telegram.messages(CHAT)[0]
    assert stored.text == "firing" and [h.reply_markup for h in stored.history] == [keyboard("ack").to_dict()]
    with pytest.raises(BadRequest, match=r"(?i)^message is not modified"):
        await bot.edit_message_reply_markup(CHAT, sent.message_id, reply_markup=keyboard("unack"))
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_reply_markup(CHAT, 999, reply_markup=keyboard("x"))
    await bot.edit_message_reply_markup(CHAT, sent.message_id)  # no markup: the buttons go
    assert stored.reply_markup is None


async def test_a_second_poller_of_the_bot_terminates_the_waiting_one_with_409(
    fake_telegram: FakeTelegram, bot: Bot
) -> None:
    async with make_bot(fake_telegram) as other:
        first = asyncio.create_task(bot.get_updates(timeout=5, read_timeout=10))
        await fake_telegram.wait_until(lambda: fake_telegram.calls["getUpdates"] == 1)
        await asyncio.sleep(0.05)  # the first long poll is waiting
        second = asyncio.create_task(other.get_updates(timeout=5, read_timeout=10))
        with pytest.raises(Conflict, match="terminated by other getUpdates request"):
            await first
        fake_telegram.push_update(fake_telegram.text_update(CHAT, "/alerts", user_id=ALICE))
        assert [u.message.text for u in await second if u.message] == ["/alerts"]
    assert fake_telegram.conflicts == 1
    # one poller after the other, never at once: no conflict
    assert len(await bot.get_updates(timeout=0)) == 1
    assert fake_telegram.conflicts == 1
