"""FakeTelegram driven by the real python-telegram-bot client."""

from __future__ import annotations

import asyncio
import datetime as dtm
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters
from telegram.error import (
    BadRequest,
    ChatMigrated,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.warnings import PTBDeprecationWarning

from tests.fakes.telegram import FakeTelegram, make_bot

CHAT = 4242


@pytest.fixture
async def bot(fake_telegram: FakeTelegram) -> AsyncIterator[Bot]:
    async with make_bot(fake_telegram) as b:  # initialize() calls getMe
        yield b


async def test_get_me_and_send(fake_telegram: FakeTelegram, bot: Bot) -> None:
    assert bot.username == fake_telegram.bots[fake_telegram.token].username
    msg = await bot.send_message(CHAT, "<b>FIRING</b> disk &amp; <i>cpu</i> 🔥", parse_mode="HTML")
    assert msg.message_id == 1 and msg.chat.id == CHAT and msg.chat.type == "private"
    assert msg.text == "FIRING disk & cpu 🔥"
    assert [(e.type, e.offset, e.length) for e in msg.entities] == [("bold", 0, 6), ("italic", 14, 3)]
    assert msg.from_user is not None and msg.from_user.is_bot
    [stored] = fake_telegram.messages(CHAT)
    assert stored.text == "<b>FIRING</b> disk &amp; <i>cpu</i> 🔥"  # raw, as sent
    assert stored.visible_text == msg.text and stored.parse_mode == "HTML"
    assert fake_telegram.calls["getMe"] == 1 and fake_telegram.calls["sendMessage"] == 1
    # PTB sends urlencoded forms, every non-string value JSON-encoded
    rec = fake_telegram.requests[-1]
    assert rec.content_type == "application/x-www-form-urlencoded"
    assert rec.form["chat_id"] == str(CHAT)


async def test_json_body_and_case_insensitive_method(fake_telegram: FakeTelegram) -> None:
    url = f"{fake_telegram.url}/bot{fake_telegram.token}/sendmessage"
    markup = {"inline_keyboard": [[{"text": "Ack", "callback_data": "ack:1"}]]}
    async with aiohttp.ClientSession() as http:
        resp = await http.post(url, json={"chat_id": -100123, "text": "hi", "reply_markup": markup})
        body = await resp.json()
    assert resp.status == 200 and body["ok"] is True
    assert body["result"]["chat"] == {"id": -100123, "type": "supergroup", "title": "Test supergroup -100123"}
    assert body["result"]["reply_markup"] == markup
    assert fake_telegram.messages(-100123)[0].reply_markup == markup


async def test_edit_history_and_not_modified(fake_telegram: FakeTelegram, bot: Bot) -> None:
    kb = InlineKeyboardMarkup([[InlineKeyboardButton("Ack", callback_data="ack")]])
    msg = await bot.send_message(CHAT, "firing", reply_markup=kb)
    edited = await bot.edit_message_text("resolved", CHAT, msg.message_id, reply_markup=kb)
    assert not isinstance(edited, bool) and edited.text == "resolved"
    assert edited.edit_date is not None
    stored = fake_telegram.messages(CHAT)[0]
    assert stored.text == "resolved" and [h.text for h in stored.history] == ["firing"]
    with pytest.raises(BadRequest, match=r"^Message is not modified: specified new message"):
        await bot.edit_message_text("resolved", CHAT, msg.message_id, reply_markup=kb)
    # dropping the keyboard is a modification (Telegram removes it when omitted)
    await bot.edit_message_text("resolved", CHAT, msg.message_id)
    assert stored.reply_markup is None and len(stored.history) == 2
    with pytest.raises(BadRequest, match=r"^Message to edit not found$"):
        await bot.edit_message_text("x", CHAT, 999)
    with pytest.raises(BadRequest, match=r"^Message_too_long$"):
        await bot.edit_message_text("x" * 4097, CHAT, msg.message_id)


async def test_retry_after(fake_telegram: FakeTelegram, bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    # PTB >= 22.2 reads RetryAfter.retry_after inside RetryAfter.__init__, which emits a
    # PTBDeprecationWarning unless PTB_TIMEDELTA is set; with filterwarnings=error that
    # warning would replace the RetryAfter exception itself.
    monkeypatch.delenv("PTB_TIMEDELTA", raising=False)
    fake_telegram.fail_next(1, status=429, retry_after=3, method="sendMessage")
    with pytest.raises(RetryAfter), pytest.warns(PTBDeprecationWarning):
        await bot.send_message(CHAT, "x")
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    fake_telegram.fail_next(1, status=429, retry_after=3, method="sendMessage")
    with pytest.raises(RetryAfter) as info:
        await bot.send_message(CHAT, "x")
    assert info.value.retry_after == dtm.timedelta(seconds=3)
    assert fake_telegram.messages(CHAT) == []
    body = fake_telegram.requests[-1].response
    assert body == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3},
    }
    await bot.send_message(CHAT, "x")  # the script is consumed
    assert len(fake_telegram.messages(CHAT)) == 1


async def test_fail_next_filters_by_method_and_other_statuses(fake_telegram: FakeTelegram, bot: Bot) -> None:
    fake_telegram.fail_next(1, status=500, method="editMessageText")
    fake_telegram.fail_next(1, status=502)
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.send_message(CHAT, "a")  # the 500 waits for an edit
    msg = await bot.send_message(CHAT, "b")
    with pytest.raises(NetworkError, match="Internal Server Error"):
        await bot.edit_message_text("c", CHAT, msg.message_id)


async def test_forbidden_migrated_chat_not_found(fake_telegram: FakeTelegram, bot: Bot) -> None:
    fake_telegram.block(CHAT)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(CHAT, "x")
    fake_telegram.migrate(-555, -1001555)
    with pytest.raises(ChatMigrated) as info:
        await bot.send_message(-555, "x")
    assert info.value.new_chat_id == -1001555
    fake_telegram.strict_chats = True
    with pytest.raises(BadRequest, match=r"^Chat not found$"):
        await bot.send_message(777, "x")
    fake_telegram.add_chat(777, title="oncall")
    await bot.send_message(777, "x")
    assert fake_telegram.messages() and fake_telegram.messages(777)[0].text == "x"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("<b>open", 'Can\'t find end tag corresponding to start tag "b"'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("<blink>x</blink>", 'Unsupported start tag "blink" at byte offset 0'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("a</b>", "Unexpected end tag at byte offset 1"),
        ("&nbsp;x", 'Unsupported HTML entity "&nbsp;" at byte offset 0'),
    ],
)
async def test_parse_errors(fake_telegram: FakeTelegram, bot: Bot, text: str, error: str) -> None:
    with pytest.raises(BadRequest) as info:
        await bot.send_message(CHAT, text, parse_mode="HTML")
    description = f"Bad Request: can't parse entities: {error}"
    assert fake_telegram.requests[-1].response["description"] == description
    # PTB strips "Bad Request: " and then str.capitalize()s: the rest becomes lower case
    assert info.value.message == f"can't parse entities: {error}".capitalize()


async def test_text_limits(fake_telegram: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"^Message text is empty$"):
        await bot.send_message(CHAT, "<b> </b>\n", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"^Message is too long$"):
        await bot.send_message(CHAT, "y" * 4097)
    # the limit is on the visible text: markup does not count
    await bot.send_message(CHAT, "<b>" + "y" * 4096 + "</b>", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"^Message caption is too long$"):
        await bot.send_photo(CHAT, b"img", caption="c" * 1025)
    assert len(fake_telegram.messages(CHAT)) == 1


async def test_send_photo_multipart_and_file_download(fake_telegram: FakeTelegram, bot: Bot) -> None:
    msg = await bot.send_photo(CHAT, b"\x89PNG-bytes", caption="<b>graph</b>", parse_mode="HTML")
    assert msg.caption == "graph" and msg.photo
    rec = fake_telegram.requests[-1]
    assert rec.content_type == "multipart/form-data" and rec.files["photo"].data == b"\x89PNG-bytes"
    stored = fake_telegram.messages(CHAT)[0]
    assert stored.kind == "photo" and stored.photo == b"\x89PNG-bytes"
    tg_file = await bot.get_file(msg.photo[-1].file_id)
    assert bytes(await tg_file.download_as_bytearray()) == b"\x89PNG-bytes"
    with pytest.raises(BadRequest, match="no text in the message to edit"):
        await bot.edit_message_text("x", CHAT, msg.message_id)


async def test_callback_webhook_and_unknown(fake_telegram: FakeTelegram, bot: Bot) -> None:
    assert await bot.answer_callback_query("cbq-1", text="acked") is True
    assert fake_telegram.callback_answers[0]["callback_query_id"] == "cbq-1"
    assert await bot.set_webhook("https://alertmedic.example/tg") is True
    assert fake_telegram.webhook_url == "https://alertmedic.example/tg"
    assert await bot.delete_webhook() is True and fake_telegram.webhook_url is None
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("noSuchMethod")


async def test_unknown_token(fake_telegram: FakeTelegram) -> None:
    with pytest.raises(InvalidToken, match="was rejected by the server"):
        async with make_bot(fake_telegram, token="999:unknown"):  # shuts down on failure
            pass
    assert fake_telegram.requests[-1].response == {
        "ok": False,
        "error_code": 401,
        "description": "Unauthorized",
    }


async def test_second_bot(fake_telegram: FakeTelegram) -> None:
    fake_telegram.add_bot("555:other")
    async with make_bot(fake_telegram, "555:other") as other:
        msg = await other.send_message(CHAT, "from other")
    assert fake_telegram.messages(CHAT)[0].token == "555:other"
    async with make_bot(fake_telegram) as first:
        with pytest.raises(BadRequest, match="can't be edited"):
            await first.edit_message_text("x", CHAT, msg.message_id)


async def test_held_request_whose_client_gives_up_is_not_delivered(
    fake_telegram: FakeTelegram, bot: Bot
) -> None:
    fake_telegram.hold()
    with pytest.raises(TimedOut):
        await bot.send_message(CHAT, "slow", read_timeout=0.3)
    await fake_telegram.wait_until(lambda: fake_telegram.requests[-1].aborted, 2, "abort")
    fake_telegram.release()
    assert fake_telegram.messages(CHAT) == [] and not fake_telegram.requests[-1].completed
    # a held request that survives is delivered once released
    fake_telegram.hold()
    task = asyncio.create_task(bot.send_message(CHAT, "patient"))
    await fake_telegram.wait_held(1)
    assert fake_telegram.messages(CHAT) == []
    fake_telegram.release()
    msg = await task
    assert [m.text for m in await fake_telegram.wait_for_messages(CHAT, 1)] == ["patient"]
    assert msg.message_id == 1


async def test_disconnect_injection(fake_telegram: FakeTelegram, bot: Bot) -> None:
    fake_telegram.fail_next(1, disconnect=True)
    with pytest.raises(Exception):  # noqa: B017 - PTB maps it to NetworkError subclasses
        await bot.send_message(CHAT, "x")
    assert fake_telegram.messages(CHAT) == [] and fake_telegram.requests[-1].aborted


async def test_rate_limit_enforcer(
    fake_telegram: FakeTelegram, bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # see test_retry_after
    fake_telegram.enforce_rate_limits = True
    await bot.send_message(CHAT, "1")
    with pytest.raises(RetryAfter):
        await bot.send_message(CHAT, "2")
    await bot.send_message(CHAT + 1, "other chat is fine")
    fake_telegram.per_chat_interval = 0.0
    fake_telegram.per_bot_limit = 3
    await bot.send_message(CHAT + 2, "3rd in this second")
    with pytest.raises(RetryAfter):
        await bot.send_message(CHAT + 3, "4th")


async def test_wait_for_messages_times_out(fake_telegram: FakeTelegram) -> None:
    with pytest.raises(TimeoutError, match="1 message"):
        await fake_telegram.wait_for_messages(CHAT, 1, timeout=0.05)


async def test_send_photo_as_a_reply_keeps_the_reply_reference(fake_telegram: FakeTelegram, bot: Bot) -> None:
    alert = await bot.send_message(CHAT, "alert")
    photo = await bot.send_photo(
        CHAT,
        b"\x89PNG",
        caption="graph",
        reply_parameters=ReplyParameters(alert.message_id),
        filename="graph.png",
    )
    rec = fake_telegram.requests[-1]
    assert json.loads(rec.form["reply_parameters"])["message_id"] == alert.message_id
    assert rec.files["photo"].filename == "graph.png"
    stored = fake_telegram.messages(CHAT)[-1]
    assert stored.message_id == photo.message_id and stored.kind == "photo"


async def test_send_document_multipart_as_a_reply(fake_telegram: FakeTelegram, bot: Bot) -> None:
    alert = await bot.send_message(CHAT, "alert")
    sent = await bot.send_document(
        CHAT,
        b"# Post-mortem\n",
        filename="postmortem-abc.md",
        caption="📝 post-mortem draft",
        reply_parameters=ReplyParameters(alert.message_id),
    )
    assert sent.document is not None
    assert sent.document.file_name == "postmortem-abc.md" and sent.document.file_size == 14
    assert sent.caption == "📝 post-mortem draft"
    assert sent.reply_to_message is not None and sent.reply_to_message.message_id == alert.message_id
    rec = fake_telegram.requests[-1]
    assert rec.content_type == "multipart/form-data"
    assert rec.files["document"].data == b"# Post-mortem\n"
    stored = fake_telegram.messages(CHAT)[-1]
    assert (stored.kind, stored.document, stored.file_name, stored.reply_to) == (
        "document",
        b"# Post-mortem\n",
        "postmortem-abc.md",
        alert.message_id,
    )


async def test_send_document_refusals(fake_telegram: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"^Message to be replied not found$"):
        await bot.send_document(CHAT, b"x", filename="a.md", reply_parameters=ReplyParameters(999))
    lenient = await bot.send_document(
        CHAT, b"x", filename="a.md", reply_parameters=ReplyParameters(999, allow_sending_without_reply=True)
    )
    assert lenient.reply_to_message is None
    with pytest.raises(BadRequest, match=r"^File must be non-empty$"):
        await bot.send_document(CHAT, b"", filename="empty.md")
    with pytest.raises(BadRequest, match=r"^Message caption is too long$"):
        await bot.send_document(CHAT, b"x", filename="a.md", caption="c" * 1025)
    assert [m.kind for m in fake_telegram.messages(CHAT)] == ["document"]
