"""Telegram: one python-telegram-bot `Bot` per token, messages in HTML parse mode, edits in place.

The token is a secret: it appears in every Bot API URL, so exception texts are scrubbed and
httpx's request log lines are redacted before they reach a handler.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import logging
import re
import time
import warnings
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from jinja2 import Template
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
)
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from app.config import TelegramConfig, secret
from app.core.chatops.message import telegram_keyboard
from app.core.digest import Digest
from app.core.digest import render_telegram as render_digest
from app.core.enrichment import Enrichment
from app.core.enrichment_render import telegram_section
from app.core.errors import DeliveryError, PermanentError, RetryableError
from app.core.render import (
    TELEGRAM_LIMIT,
    TelegramText,
    cut_utf16,
    render_telegram,
    telegram_length,
    telegram_plain,
    utf16_len,
)
from app.sinks.base import (
    BuildContext,
    Capabilities,
    Delivery,
    Integration,
    MessageRef,
    RateLimit,
    is_digest,
)

log = logging.getLogger(__name__)

_TOKEN_RE = re.compile(r"(bot)?(\d+):[A-Za-z0-9_-]{20,}")


def redact_tokens(text: str) -> str:
    """Text with anything shaped like a bot token (`123:AA…`) replaced by `<bot-id>:***`."""
    return _TOKEN_RE.sub(lambda m: f"{m.group(1) or ''}{m.group(2)}:***", text)


class _RedactFilter(logging.Filter):
    """httpx logs every request URL at INFO, and a Bot API URL embeds the token."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_tokens(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


_REDACT = _RedactFilter()


_REDACTED_LOGGERS = (
    "httpx",
    "httpcore",
    "telegram",
    "telegram.Bot",
    "telegram.BaseRequest",
    "telegram.HTTPXRequest",
)
"""Loggers that may print a Bot API URL (a logger's filters apply to its own records only)."""


def _install_redaction() -> None:
    for name in _REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if _REDACT not in logger.filters:
            logger.addFilter(_REDACT)


def bot_id(token: str) -> str:
    """The public part of a token (the number before ':'), or a short hash of a malformed one."""
    head = token.split(":", 1)[0]
    if head.isdigit() and ":" in token:
        return head
    return "h" + hashlib.sha256(token.encode()).hexdigest()[:12]


class TelegramBot:
    """A `telegram.Bot` shared by every destination with the same token and API URL.

    Initialized lazily on first use; shut down when the last sink using it closes.
    """

    def __init__(self, token: str, *, api_url: str, send_timeout: float, pool_size: int = 16) -> None:
        _install_redaction()
        self.id = bot_id(token)
        self._token = token
        api = api_url.rstrip("/")
        request = HTTPXRequest(
            connection_pool_size=pool_size,
            connect_timeout=min(send_timeout, 10.0),
            read_timeout=send_timeout,
            write_timeout=send_timeout,
            pool_timeout=send_timeout,
        )
        self.bot = Bot(token, base_url=f"{api}/bot", base_file_url=f"{api}/file/bot", request=request)
        self._lock = asyncio.Lock()
        self._initialized = False
        self._users = 0

    def scrub(self, text: str) -> str:
        """Text safe to log or store: the token (and anything token-shaped) removed."""
        return redact_tokens(text.replace(self._token, f"{self.id}:***"))

    def acquire(self) -> None:
        self._users += 1

    async def ready(self) -> Bot:
        """The bot, initialized (getMe) on first use."""
        if not self._initialized:
            async with self._lock:
                if not self._initialized:
                    await self.bot.initialize()
                    self._initialized = True
        return self.bot

    async def release(self) -> None:
        self._users -= 1
        if self._users <= 0:
            self._initialized = False
            await self.bot.shutdown()


MAX_CAPTION = 1024
"""Characters of a photo caption."""


class _EditFailed(Exception):
    """The previous message cannot be edited: send a new one instead."""


_SERVER_ERROR = re.compile(
    r"\(5\d\d\)|internal server error|bad gateway|service unavailable|gateway timeout", re.IGNORECASE
)
_PARSE_ERROR = "can't parse entities"
_NOT_MODIFIED = "message is not modified"
_CANNOT_EDIT = (
    "message to edit not found",
    "message can't be edited",
    "there is no text in the message to edit",
    "message_id_invalid",
)


class TelegramSink:
    """Sends alert groups to one chat (optionally a forum topic)."""

    integration = "telegram"

    def __init__(
        self, config: TelegramConfig, *, bot: TelegramBot, clock: Callable[[], float] = time.time
    ) -> None:
        """`clock` gives the render time ("firing for 17m") as Unix seconds."""
        self._config = config
        self.clock = clock
        self._bot = bot
        self._chat_id: int = config.chat_id
        self._template: Template | None = config.message.compiled if config.message else None
        bot.acquire()

    @property
    def chat_id(self) -> int:
        """The chat sent to: the configured one, or where it migrated to."""
        return self._chat_id

    def rate_limits(self) -> list[RateLimit]:
        limits = [
            RateLimit(f"telegram:chat:{self._bot.id}:{self._chat_id}", 1.0, 1),
            RateLimit(f"telegram:bot:{self._bot.id}", 30.0, 30),
        ]
        # A group's limit without a burst: Telegram counts "20 messages per minute in a group" in
        # any 60 s, and a bucket of 20 refilling one every 3 s lets 39 through in a minute.
        if self._chat_id < 0:  # groups and channels: about 20 messages per minute
            limits.append(RateLimit(f"telegram:group:{self._bot.id}:{self._chat_id}", 20 / 60, 1))
        return limits

    async def send(self, delivery: Delivery) -> MessageRef | None:
        now = datetime.fromtimestamp(self.clock(), UTC)
        footer, markup = "", None
        if delivery.chat is not None:
            footer = "\n".join(delivery.chat.state.lines)
            markup = telegram_keyboard(delivery.chat.state, key=delivery.chat.key)
        limit = TELEGRAM_LIMIT - (utf16_len(footer) + 2 if footer else 0)
        text = render_telegram(
            delivery.group, kind=delivery.kind, template=self._template, now=now, limit=limit
        )
        if text.template_error:
            log.warning(
                "%s: message template failed, sent the default: %s", delivery.destination, text.template_error
            )
        enrichment = delivery.enrichment
        if enrichment is not None and text.parse_mode == "HTML":
            # The alerts keep priority: the log lines get the room the message left.
            room = limit - telegram_length(text.text)
            text = replace(text, text=text.text + telegram_section(enrichment, room))
        if footer:  # the chat state (ack, silence, escalation) last, where a person looks
            shown = html.escape(footer, quote=False) if text.parse_mode == "HTML" else footer
            text = replace(text, text=f"{text.text}\n\n{shown}")
        previous = delivery.previous
        digest = is_digest(previous)
        if delivery.kind == "update" and previous and previous.get("message_id") is not None and not digest:
            try:
                return await self._deliver(delivery.destination, text, previous=previous, markup=markup)
            except _EditFailed:
                log.info("%s: previous message cannot be edited, sending a new one", delivery.destination)
        # A storm digest stands for many groups: never edited, replied to by the group's message.
        reply_to = previous if digest and delivery.kind == "update" else None
        ref = await self._deliver(delivery.destination, text, previous=None, markup=markup, reply_to=reply_to)
        if enrichment is not None and enrichment.graphs and ref is not None:
            await self._send_graphs(delivery, enrichment, ref)
        return ref

    async def _send_graphs(self, delivery: Delivery, enrichment: Enrichment, ref: MessageRef) -> None:
        """Each graph as a photo replying to the alert's message, each paced by the chat's rate
        limits. The message is already out: a failure here is logged, never retried (a retry
        would send the alert twice)."""
        bot = await self._bot.ready()
        for graph in enrichment.graphs:
            await delivery.pace()  # a photo is a message of this chat: it waits for its token
            try:
                await bot.send_photo(
                    ref["chat_id"],
                    graph.png,
                    caption=cut_utf16(graph.caption, MAX_CAPTION),
                    reply_parameters=ReplyParameters(
                        int(ref["message_id"]), allow_sending_without_reply=True
                    ),
                    message_thread_id=self._config.message_thread_id,
                    disable_notification=True,
                    filename="graph.png",
                )
            except TelegramError as exc:
                log.warning(
                    "%s: graph not sent: %s", delivery.destination, self._bot.scrub(str(self._translate(exc)))
                )

    async def aclose(self) -> None:
        await self._bot.release()

    async def reply(self, destination: str, text: str, previous: MessageRef | None) -> None:
        """A plain-text reply to the thread's message (a plain message when there is none)."""
        try:
            bot = await self._bot.ready()
            chat_id = previous.get("chat_id", self._chat_id) if previous else self._chat_id
            message_id = previous.get("message_id") if previous else None
            await bot.send_message(
                chat_id,
                cut_utf16(text, TELEGRAM_LIMIT),
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                message_thread_id=self._config.message_thread_id,
                disable_notification=self._config.disable_notifications,
                reply_parameters=ReplyParameters(int(message_id), allow_sending_without_reply=True)
                if message_id is not None
                else None,
            )
        except TelegramError as exc:
            raise self._translate(exc) from None

    async def send_digest(self, destination: str, digest: Digest) -> MessageRef | None:
        """A storm digest as one HTML message in the chat (app.core.digest)."""
        text = TelegramText(render_digest(digest), "HTML", shown=len(digest.named), more=0)
        return await self._deliver(destination, text, previous=None, markup=None)

    async def _deliver(
        self,
        destination: str,
        rendered: TelegramText,
        *,
        previous: MessageRef | None,
        markup: dict[str, Any] | None,
        reply_to: MessageRef | None = None,
    ) -> MessageRef | None:
        try:
            bot = await self._bot.ready()
        except TelegramError as exc:
            raise self._translate(exc) from None
        text, parse_mode = rendered.text, rendered.parse_mode
        keyboard = _keyboard(markup)
        chat_id: int | str = previous.get("chat_id", self._chat_id) if previous else self._chat_id
        message_id = previous.get("message_id") if previous else None
        migrated_to: int | None = None
        plain_retried = False
        while True:
            sent: Message | None
            try:
                if message_id is None:
                    sent = await bot.send_message(
                        chat_id,
                        text,
                        parse_mode=parse_mode,
                        link_preview_options=LinkPreviewOptions(is_disabled=True),
                        message_thread_id=self._config.message_thread_id,
                        disable_notification=self._config.disable_notifications,
                        reply_markup=keyboard,
                        reply_parameters=_replying(reply_to, chat_id),
                    )
                else:
                    result = await bot.edit_message_text(
                        text,
                        chat_id=chat_id,
                        message_id=int(message_id),
                        parse_mode=parse_mode,
                        link_preview_options=LinkPreviewOptions(is_disabled=True),
                        reply_markup=keyboard,
                    )
                    sent = result if isinstance(result, Message) else None
            except ChatMigrated as exc:
                if migrated_to is not None:
                    raise PermanentError("chat migrated twice", reason="chat_migrated") from None
                migrated_to = exc.new_chat_id
                log.warning(
                    "%s: Telegram chat %s became supergroup %s; update chat_id in the configuration",
                    destination,
                    chat_id,
                    migrated_to,
                )
                if chat_id == self._chat_id:
                    self._chat_id = migrated_to
                # A message in the old group cannot be edited from the new one: send anew.
                chat_id, message_id = migrated_to, None
                continue
            except BadRequest as exc:
                description = exc.message.lower()
                if _PARSE_ERROR in description and parse_mode is not None and not plain_retried:
                    log.warning(
                        "%s: Telegram rejected the HTML (%s); resending as plain text",
                        destination,
                        self._bot.scrub(exc.message),
                    )
                    plain_retried = True
                    text = cut_utf16(telegram_plain(text), TELEGRAM_LIMIT)
                    parse_mode = None
                    continue
                if message_id is not None and _NOT_MODIFIED in description:
                    return previous
                if message_id is not None and any(s in description for s in _CANNOT_EDIT):
                    raise _EditFailed from None
                raise self._translate(exc) from None
            except TelegramError as exc:
                raise self._translate(exc) from None
            ref: dict[str, Any] = {
                "chat_id": chat_id,
                "message_id": sent.message_id if sent is not None else message_id,
            }
            if migrated_to is not None:
                ref["migrated_to"] = migrated_to
            return ref

    def _translate(self, exc: TelegramError) -> DeliveryError:
        """A provider error as RetryableError / PermanentError, without the token."""
        message = self._bot.scrub(f"telegram: {exc.message}")
        if isinstance(exc, RetryAfter):
            with warnings.catch_warnings():  # PTB 22 warns that the type becomes timedelta
                warnings.simplefilter("ignore", PTBDeprecationWarning)
                after = exc.retry_after
            seconds = after.total_seconds() if isinstance(after, timedelta) else float(after)
            return RetryableError(message, reason="rate_limited", retry_after=seconds)
        if isinstance(exc, InvalidToken | EndPointNotFound):
            return PermanentError(message, reason="unauthorized")
        if isinstance(exc, Forbidden):
            return PermanentError(message, reason="forbidden")
        if isinstance(exc, BadRequest):
            reason = "parse_error" if _PARSE_ERROR in exc.message.lower() else "bad_request"
            if "chat not found" in exc.message.lower():
                reason = "not_found"
            return PermanentError(message, reason=reason)
        if isinstance(exc, TimedOut):
            return RetryableError(message, reason="timeout")
        if isinstance(exc, Conflict):
            return RetryableError(message, reason="conflict")
        if isinstance(exc, NetworkError):
            # PTB raises NetworkError for 5xx answers as well as for transport failures.
            server = _SERVER_ERROR.search(exc.message) is not None
            return RetryableError(message, reason="server_error" if server else "network")
        return RetryableError(message, reason="error")


def _replying(ref: MessageRef | None, chat_id: int | str) -> ReplyParameters | None:
    """Reply to `ref`'s message when it is in `chat_id` (sent even if it was deleted)."""
    if not ref or ref.get("message_id") is None or ref.get("chat_id", chat_id) != chat_id:
        return None
    return ReplyParameters(int(ref["message_id"]), allow_sending_without_reply=True)


def _keyboard(markup: dict[str, Any] | None) -> InlineKeyboardMarkup | None:
    """PTB's inline keyboard for a `reply_markup` dict (None: no buttons; an edit without a
    keyboard removes the buttons the message had)."""
    if markup is None:
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(b["text"], callback_data=b["callback_data"]) for b in row]
            for row in markup["inline_keyboard"]
        ]
    )


def _build(config: TelegramConfig, context: BuildContext) -> TelegramSink:
    """Destinations with the same token and API URL share one `TelegramBot`: one connection
    pool and one per-bot rate limit."""
    token = secret(config, "bot_token")
    if not token:
        raise ValueError("telegram bot token is empty")
    api_url = str(config.api_url).rstrip("/")
    bot = context.shared.get(("telegram", token, api_url))
    if not isinstance(bot, TelegramBot):
        bot = TelegramBot(token, api_url=api_url, send_timeout=context.send_timeout)
        context.shared[("telegram", token, api_url)] = bot
    return TelegramSink(config, bot=bot)


INTEGRATION = Integration(
    "telegram",
    TelegramConfig,
    Capabilities(edits_in_place=True, threads=True, replies=True, chat_buttons=True, digests=True),
    _build,
)
