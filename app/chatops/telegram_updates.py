"""Telegram updates, from the webhook (after the secret header check) or from getUpdates: read
with python-telegram-bot's `Update.de_json` into a `CallbackTap` or a `TextMessage`.

Only PTB's own `start_webhook` checks `X-Telegram-Bot-Api-Secret-Token`; embedded in our server,
`secret_token_ok` must be called on every update (403 otherwise). What Telegram accepts as a
secret token is checked by app.config.chatops.secret_token_problem.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from telegram import Bot, Update, User

from app.core.chatops.actions import Actor, Provider

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name


def secret_token_ok(expected: str, header: str | None) -> bool:
    """Whether the update's secret header equals the configured secret (constant time)."""
    if not expected or header is None:
        return False
    return hmac.compare_digest(expected.encode(), header.encode(errors="replace"))


def actor_of(user: User) -> Actor:
    """The acting person: `@username` when they have one, else their first name."""
    name = f"@{user.username}" if user.username else user.first_name
    return Actor(Provider.TELEGRAM, str(user.id), name)


@dataclass(frozen=True)
class CallbackTap:
    """A tap on an inline button: answer `query_id` (answerCallbackQuery) whatever happens."""

    update_id: int
    query_id: str
    actor: Actor
    data: str
    chat_id: int | None
    message_id: int | None


@dataclass(frozen=True)
class TextMessage:
    """A text message (possibly a command) and the message it replies to, if any."""

    update_id: int
    actor: Actor
    chat_id: int
    message_id: int
    text: str
    reply_to_message_id: int | None


ChatUpdate = CallbackTap | TextMessage


def read_update(update: Update) -> ChatUpdate | None:
    """What an update asks of us; None for kinds we do not handle (edits, joins, bots)."""
    query = update.callback_query
    if query is not None:
        message = query.message
        return CallbackTap(
            update.update_id,
            query.id,
            actor_of(query.from_user),
            query.data or "",
            message.chat.id if message is not None else None,
            message.message_id if message is not None else None,
        )
    msg = update.message
    if msg is None or msg.text is None or msg.from_user is None or msg.from_user.is_bot:
        return None
    reply = msg.reply_to_message
    return TextMessage(
        update.update_id,
        actor_of(msg.from_user),
        msg.chat.id,
        msg.message_id,
        msg.text,
        reply.message_id if reply is not None else None,
    )


def parse_update(data: Any, bot: Bot) -> ChatUpdate | None:
    """An update posted to the webhook (its JSON), read by PTB. Raises ValueError if malformed."""
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        raise ValueError("not a Telegram update: update_id is missing")
    try:
        update = Update.de_json(data, bot)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a Telegram update: {type(exc).__name__}: {exc}") from None
    return read_update(update)
