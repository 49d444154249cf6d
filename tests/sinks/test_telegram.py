"""TelegramSink driving the real python-telegram-bot client against FakeTelegram."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from pydantic import SecretStr
from telegram.warnings import PTBDeprecationWarning

from app.config import TelegramConfig
from app.core.errors import PermanentError, RetryableError
from app.core.render import TELEGRAM_LIMIT, telegram_plain
from app.sinks.telegram import TelegramBot, TelegramSink, bot_id, redact_tokens
from tests.fakes.telegram import FakeTelegram
from tests.sinks.groups import delivery, firing, make_alert, make_group, resolved

CHAT = -1001234567890
OTHER_TOKEN = "987654321:AAOtherTokenTheFakeDoesNotKnow_abcdefgh"

SinkFactory = Callable[..., TelegramSink]


@pytest.fixture(autouse=True)
def _ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    # PTB 22 warns (a DeprecationWarning, an error here) while building RetryAfter unless it is
    # told to use timedelta already; the sink handles both forms (see test_retry_after_legacy).
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
async def make_sink(fake_telegram: FakeTelegram) -> AsyncIterator[SinkFactory]:
    sinks: list[TelegramSink] = []

    def factory(token: str | None = None, **config: Any) -> TelegramSink:
        cfg = TelegramConfig(
            bot_token=SecretStr(token or fake_telegram.token), chat_id=config.pop("chat_id", CHAT), **config
        )
        bot = TelegramBot(token or fake_telegram.token, api_url=fake_telegram.url, send_timeout=5.0)
        sink = TelegramSink(cfg, bot=bot)
        sinks.append(sink)
        return sink

    yield factory
    for sink in sinks:
        await sink.aclose()


async def test_send_new_message(fake_telegram: FakeTelegram, make_sink: SinkFactory) -> None:
    sink = make_sink(message_thread_id=7, disable_notifications=True)
    ref = await sink.send(delivery(firing(2)))
    [msg] = fake_telegram.messages(CHAT)
    assert ref == {"chat_id": CHAT, "message_id": msg.message_id}
    assert msg.parse_mode == "HTML"
    assert msg.visible_text.startswith("🔥 [FIRING:2] ModelLatencyHigh (prod)")
    assert str(msg.params["message_thread_id"]) == "7"
    assert str(msg.params["disable_notification"]).lower() == "true"
    assert "is_disabled" in str(msg.params["link_preview_options"])
    assert fake_telegram.calls["getMe"] == 1


async def test_update_edits_in_place(fake_telegram: FakeTelegram, make_sink: SinkFactory) -> None:
    sink = make_sink()
    ref = await sink.send(delivery(firing(1)))
    ref2 = await sink.send(delivery(resolved(1), kind="update", previous=ref))
    assert ref2 == ref
    [msg] = fake_telegram.messages(CHAT)
    assert msg.edited and msg.visible_text.startswith("✅ [RESOLVED] ModelLatencyHigh")
    assert fake_telegram.calls["editMessageText"] == 1


async def test_update_not_modified_is_success(fake_telegram: FakeTelegram, make_sink: SinkFactory) -> None:
    sink = make_sink()
    ref = await sink.send(delivery(firing(1)))
    again = await sink.send(delivery(firing(1), kind="update", previous=ref))
    assert again == ref
    assert not fake_telegram.messages(CHAT)[0].edited


async def test_update_of_missing_message_sends_new(
    fake_telegram: FakeTelegram, make_sink: SinkFactory
) -> None:
    sink = make_sink()
    ref = await sink.send(delivery(resolved(1), kind="update", previous={"chat_id": CHAT, "message_id": 999}))
    [msg] = fake_telegram.messages(CHAT)
    assert ref == {"chat_id": CHAT, "message_id": msg.message_id}
    assert fake_telegram.calls["editMessageText"] == 1
    assert fake_telegram.calls["sendMessage"] == 1


async def test_update_without_previous_sends_new(fake_telegram: FakeTelegram, make_sink: SinkFactory) -> None:
    ref = await make_sink().send(delivery(resolved(1), kind="update"))
    assert ref is not None and len(fake_telegram.messages(CHAT)) == 1


async def test_message_of_another_bot_cannot_be_edited(
    fake_telegram: FakeTelegram, make_sink: SinkFactory
) -> None:
    other = "555:AAAnotherValidTokenForTheFake_0123456789"
    fake_telegram.add_bot(other)
    ref = await make_sink(token=other).send(delivery(firing(1)))
    ref2 = await make_sink().send(delivery(resolved(1), kind="update", previous=ref))
    assert ref2 is not None and ref2["message_id"] != ref["message_id"]  # type: ignore[index]


async def test_parse_error_is_retried_once_as_plain_text(
    fake_telegram: FakeTelegram, make_sink: SinkFactory
) -> None:
    sink = make_sink(message="<blink>{{ title }}</blink> &nbsp;")
    ref = await sink.send(delivery(firing(1)))
    assert ref is not None
    [msg] = fake_telegram.messages(CHAT)
    assert msg.parse_mode is None
    assert msg.visible_text.startswith("[FIRING:1] ModelLatencyHigh (prod)")
    assert fake_telegram.calls["sendMessage"] == 2


async def test_parse_error_twice_is_permanent(fake_telegram: FakeTelegram, make_sink: SinkFactory) -> None:
    fake_telegram.fail_next(
        2, status=400, method="sendMessage", description="Bad Request: can't parse entities: boom"
    )
    with pytest.raises(PermanentError) as info:
        await make_sink().send(delivery(firing(1)))
    assert info.value.reason == "parse_error"
    assert fake_telegram.calls["sendMessage"] == 2


async def test_retry_after_is_carried(fake_telegram: FakeTelegram, make_sink: SinkFactory) -> None:
    fake_telegram.fail_next(status=429, retry_after=7, method="sendMessage")
    with pytest.raises(RetryableError) as info:
        await make_sink().send(delivery(firing(1)))
    assert info.value.retry_after == 7.0 and info.value.reason == "rate_limited"


async def test_retry_after_legacy_int(
    fake_telegram: FakeTelegram, make_sink: SinkFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PTB_TIMEDELTA")
    fake_telegram.fail_next(status=429, retry_after=3, method="sendMessage")
    with pytest.raises(RetryableError) as info, pytest.warns(PTBDeprecationWarning):
        await make_sink().send(delivery(firing(1)))
    assert info.value.retry_after == 3.0


async def test_server_error_is_retryable(fake_telegram: FakeTelegram, make_sink: SinkFactory) -> None:
    fake_telegram.fail_next(status=502, method="sendMessage")
    with pytest.raises(RetryableError) as info:
        await make_sink().send(delivery(firing(1)))
    assert info.value.reason == "server_error"
    assert fake_telegram.token not in str(info.value)


async def test_invalid_token_is_permanent_and_scrubbed(
    fake_telegram: FakeTelegram, make_sink: SinkFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(PermanentError) as info:
        await make_sink(token=OTHER_TOKEN).send(delivery(firing(1)))
    assert info.value.reason == "unauthorized"
    secret = OTHER_TOKEN.split(":", 1)[1]
    assert secret not in str(info.value) and "987654321:***" in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert secret not in caplog.text


async def test_forbidden_is_permanent(fake_telegram: FakeTelegram, make_sink: SinkFactory) -> None:
    fake_telegram.block(CHAT)
    with pytest.raises(PermanentError) as info:
        await make_sink().send(delivery(firing(1)))
    assert info.value.reason == "forbidden"
    assert fake_telegram.token not in str(info.value)


async def test_not_found_is_permanent(fake_telegram: FakeTelegram, make_sink: SinkFactory) -> None:
    fake_telegram.fail_next(status=404, method="sendMessage")
    with pytest.raises(PermanentError) as info:
        await make_sink().send(delivery(firing(1)))
    assert info.value.reason == "unauthorized"


async def test_other_bad_request_is_permanent(fake_telegram: FakeTelegram, make_sink: SinkFactory) -> None:
    fake_telegram.strict_chats = True
    with pytest.raises(PermanentError) as info:
        await make_sink().send(delivery(firing(1)))
    assert info.value.reason == "not_found" and "chat not found" in str(info.value).lower()


async def test_chat_migration_resends_to_the_new_chat(
    fake_telegram: FakeTelegram, make_sink: SinkFactory, caplog: pytest.LogCaptureFixture
) -> None:
    old, new = -4242, -1009999
    fake_telegram.migrate(old, new)
    sink = make_sink(chat_id=old)
    ref = await sink.send(delivery(firing(1)))
    [msg] = fake_telegram.messages(new)
    assert ref == {"chat_id": new, "message_id": msg.message_id, "migrated_to": new}
    assert "became supergroup" in caplog.text
    assert sink.chat_id == new
    assert f"telegram:chat:{bot_id(fake_telegram.token)}:{new}" in [r.key for r in sink.rate_limits()]
    # Later sends go straight to the new chat.
    await sink.send(delivery(firing(2)))
    assert len(fake_telegram.messages(new)) == 2 and fake_telegram.calls["sendMessage"] == 3


async def test_network_error_is_retryable_and_scrubbed(
    fake_telegram: FakeTelegram, make_sink: SinkFactory
) -> None:
    sink = make_sink()
    await sink.send(delivery(firing(1)))  # initialized
    fake_telegram.fail_next(disconnect=True, method="sendMessage")
    with pytest.raises(RetryableError) as info:
        await sink.send(delivery(firing(1)))
    assert info.value.reason == "network"
    assert fake_telegram.token not in str(info.value)


async def test_connection_refused_is_retryable(fake_telegram: FakeTelegram, make_sink: SinkFactory) -> None:
    sink = make_sink()
    await fake_telegram.stop()
    with pytest.raises(RetryableError) as info:
        await sink.send(delivery(firing(1)))
    assert info.value.reason == "network"
    assert fake_telegram.token.split(":")[1] not in str(info.value)


async def test_timeout_is_retryable(fake_telegram: FakeTelegram) -> None:
    cfg = TelegramConfig(bot_token=SecretStr(fake_telegram.token), chat_id=CHAT)
    bot = TelegramBot(fake_telegram.token, api_url=fake_telegram.url, send_timeout=0.3)
    sink = TelegramSink(cfg, bot=bot)
    try:
        await sink.send(delivery(firing(1)))
        fake_telegram.fail_next(delay=1.0, method="sendMessage")
        with pytest.raises(RetryableError) as info:
            await sink.send(delivery(firing(1)))
        assert info.value.reason == "timeout"
    finally:
        await sink.aclose()


async def test_many_alerts_fit_in_one_message(fake_telegram: FakeTelegram, make_sink: SinkFactory) -> None:
    alerts = [make_alert(i, annotations={"description": "🔥 slow " * 40}) for i in range(80)]
    await make_sink().send(delivery(make_group(alerts)))
    [msg] = fake_telegram.messages(CHAT)
    assert len(msg.visible_text) <= TELEGRAM_LIMIT
    assert msg.visible_text.endswith("more")


async def test_huge_label_is_sent_as_plain_text(fake_telegram: FakeTelegram, make_sink: SinkFactory) -> None:
    # Values are cut to LABEL_LIMIT each: a template showing ten of them still overflows.
    group = firing(1)
    huge = {f"l{i}": "<&>" * 3000 for i in range(10)}
    group = group.model_copy(
        update={"commonLabels": {**group.commonLabels, "namespace": "<&>" * 3000, **huge}}
    )
    message = "{{ status | status_emoji }} <b>{{ title }}</b> {{ common_labels.values() | join(' ') }}"
    await make_sink(message=message).send(delivery(group))
    [msg] = fake_telegram.messages(CHAT)
    assert msg.parse_mode is None and msg.visible_text.startswith("🔥 [FIRING:1]")


def test_rate_limits_name_the_bot_not_the_token(fake_telegram: FakeTelegram, make_sink: SinkFactory) -> None:
    limits = make_sink().rate_limits()
    head = fake_telegram.token.split(":")[0]
    assert {(r.key, r.per_second, r.burst) for r in limits} == {
        (f"telegram:chat:{head}:{CHAT}", 1.0, 1),
        (f"telegram:bot:{head}", 30.0, 30),
        (f"telegram:group:{head}:{CHAT}", 20 / 60, 1),
    }
    assert all(fake_telegram.token not in r.key for r in limits)
    assert [r.key for r in make_sink(chat_id=42).rate_limits()] == [
        f"telegram:chat:{head}:42",
        f"telegram:bot:{head}",
    ]


def test_bot_id_never_exposes_a_malformed_token() -> None:
    assert bot_id("123:abc") == "123"
    assert bot_id("not-a-token") != "not-a-token" and len(bot_id("not-a-token")) == 13
    assert redact_tokens("POST https://x/bot123456:AAbbbbbbbbbbbbbbbbbbbbbbbbbbbb/sendMessage") == (
        "POST https://x/bot123456:***/sendMessage"
    )


async def test_plain_fallback_text_is_what_telegram_shows() -> None:
    assert telegram_plain("<b>a&amp;b</b>") == "a&b"
