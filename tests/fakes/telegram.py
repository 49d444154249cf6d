"""FakeTelegram: a local Telegram Bot API server for python-telegram-bot.

Point a real bot at it::

    bot = telegram.Bot(fake.token, base_url=f"{fake.url}/bot",
                       base_file_url=f"{fake.url}/file/bot")

Routes ``POST|GET /bot{token}/{method}`` (method names are case-insensitive, bodies may be
urlencoded, multipart or JSON) and ``GET /file/bot{token}/{file_path}``. Implemented
methods: getMe, sendMessage, editMessageText, editMessageReplyMarkup, answerCallbackQuery,
sendPhoto, sendDocument, getFile, setWebhook, deleteWebhook, getUpdates.

Updates: :meth:`FakeTelegram.push_update` queues an update for ``getUpdates`` (long polling: a
call with ``timeout`` waits up to that many seconds for one; ``offset`` confirms earlier ones);
:meth:`FakeTelegram.callback_update` and :meth:`FakeTelegram.text_update` build the JSON of a
button tap / a message as Telegram sends it (to queue, or to POST to a webhook with
``webhook_secret`` in ``X-Telegram-Bot-Api-Secret-Token``: :meth:`FakeTelegram.deliver_webhook`
does that like Telegram, with the right, a wrong or no secret). While a webhook is set,
``getUpdates`` answers 409 like the real server. Replies are ``{"ok": true, "result": ...}`` or
``{"ok": false, "error_code": N, "description": "..."[, "parameters": {...}]}`` with the
same HTTP status, like api.telegram.org.

Validation mirrors the real server: unknown token → 401 ``Unauthorized``; unknown method
→ 404 ``Not Found``; empty / too long (> 4096, > 1024 for captions, measured on the
visible text after HTML parsing and whitespace trimming) text; HTML parse errors (see
:mod:`tests.fakes.telegram_html`); edits of unknown messages or with identical content.
sendDocument takes a multipart upload (the part's file name kept, empty files and files over 50 MB
refused) and, like the real server, refuses a ``reply_parameters.message_id`` that is not in the
chat (``message to be replied not found``) unless ``allow_sending_without_reply`` is true.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import aiohttp
from telegram import Bot

from tests.fakes.base import FakeHTTPServer, Injection, RecordedRequest, Reply
from tests.fakes.telegram_html import EntityParseError, ParsedText, parse_telegram_html, utf16_len

__all__ = [
    "DEFAULT_TOKEN",
    "FakeTelegram",
    "TelegramError",
    "TgEdit",
    "TgMessage",
    "make_bot",
    "parse_telegram_html",
]

DEFAULT_TOKEN = "123456789:AAFakeTelegramTokenForTests_0123456789"
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_UPLOAD = 50 * 1024 * 1024
"""Bytes of a file a bot may upload."""
MAX_CALLBACK_TEXT = 200
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply "
    "markup are exactly the same as a current content and reply markup of the message"
)
ChatId = int | str
_ROUTE = re.compile(r"^/bot(?P<token>[^/]+)/(?P<method>[A-Za-z]+)/?$")
_FILE_ROUTE = re.compile(r"^/file/bot(?P<token>[^/]+)/(?P<path>.+)$")


class TelegramError(Exception):
    """An API error reply (status, description, optional ``parameters``)."""

    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


def _bad(description: str) -> TelegramError:
    return TelegramError(400, f"Bad Request: {description}")


@dataclass
class BotInfo:
    token: str
    id: int
    username: str
    first_name: str

    def user(self) -> dict[str, Any]:
        return {"id": self.id, "is_bot": True, "first_name": self.first_name, "username": self.username}


@dataclass
class TgEdit:
    """A previous version of a message, kept in :attr:`TgMessage.history`."""

    text: str
    visible_text: str
    parse_mode: str | None
    entities: list[dict[str, Any]]
    reply_markup: dict[str, Any] | None
    date: int


@dataclass
class TgMessage:
    """A message the fake holds; ``text`` is exactly what the client sent (raw HTML)."""

    message_id: int
    chat_id: int
    token: str
    text: str
    """Raw ``text`` (or ``caption`` for photos) as sent, before entity parsing."""
    visible_text: str
    """What a user sees: after HTML parsing and trimming."""
    parse_mode: str | None
    entities: list[dict[str, Any]]
    reply_markup: dict[str, Any] | None
    date: int
    kind: str = "text"
    """``"text"``, ``"photo"`` or ``"document"``."""
    photo: bytes | str | None = None
    """Uploaded bytes, or the file_id/URL string sent instead."""
    document: bytes | None = None
    """The uploaded document's bytes (kind ``"document"``)."""
    file_name: str | None = None
    """The uploaded document's file name, as the multipart part gave it."""
    reply_to: int | None = None
    """The message id this one replies to (``reply_parameters``), if any."""
    params: dict[str, Any] = field(default_factory=dict)
    """All request parameters of the send (decoded)."""
    edit_date: int | None = None
    history: list[TgEdit] = field(default_factory=list)
    """Earlier versions, oldest first; empty if never edited."""

    @property
    def edited(self) -> bool:
        return bool(self.history)


def make_bot(fake: FakeTelegram, token: str | None = None) -> Bot:
    """A real ``telegram.Bot`` aimed at ``fake`` (not initialized; use ``async with``)."""
    return Bot(token or fake.token, base_url=f"{fake.url}/bot", base_file_url=f"{fake.url}/file/bot")


class FakeTelegram(FakeHTTPServer):
    """Telegram Bot API fake. See the module docstring for the wire behaviour."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        strict_chats: bool = False,
        enforce_rate_limits: bool = False,
        strict_html_entities: bool = True,
    ) -> None:
        super().__init__()
        self.bots: dict[str, BotInfo] = {}
        self.chats: dict[int, list[TgMessage]] = {}
        """chat id → messages in send order (only delivered ones)."""
        self.sent: list[TgMessage] = []
        """Every delivered message of every chat, in send order."""
        self.known_chats: dict[int, dict[str, Any]] = {}
        self.blocked_chats: set[ChatId] = set()
        """Chats answering 403 ``Forbidden: bot was blocked by the user``."""
        self.migrated: dict[int, int] = {}
        self.strict_chats = strict_chats
        """When True only chats registered with :meth:`add_chat` exist (else 400
        ``chat not found``)."""
        self.enforce_rate_limits = enforce_rate_limits
        """When True: > 1 send per ``per_chat_interval`` s in a chat or > ``per_bot_limit``
        sends per second per bot → 429 with ``retry_after``."""
        self.per_chat_interval = 1.0
        self.per_bot_limit = 30
        self.strict_html_entities = strict_html_entities
        """Reject unknown ``&name;`` (real Telegram keeps it literally)."""
        self.calls: Counter[str] = Counter()
        """API method → number of requests received (any outcome)."""
        self.callback_answers: list[dict[str, Any]] = []
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        """``secret_token`` of the last setWebhook (Telegram sends it with every update)."""
        self.updates: list[dict[str, Any]] = []
        """Updates queued for getUpdates and not confirmed yet (by a later ``offset``)."""
        self._next_update_id = 100000001
        self._update_waiters: set[asyncio.Event] = set()
        self.files: dict[str, bytes] = {}
        self._usernames: dict[str, int] = {}
        self._next_id: dict[int, int] = {}
        self._sent_at: dict[tuple[str, int], float] = {}
        self._bot_sends: dict[str, list[float]] = {}
        self._token = token
        self.add_bot(token)

    # -- knobs -------------------------------------------------------------------------
    @property
    def token(self) -> str:
        """Token of the bot registered by the constructor."""
        return self._token

    def add_bot(
        self, token: str, *, username: str | None = None, first_name: str = "Alertmedic Test Bot"
    ) -> BotInfo:
        """Register a valid token; its bot id is the numeric part before ``:``."""
        head = token.split(":", 1)[0]
        bot_id = int(head) if head.isdigit() else int(_digest(token)[:9], 16)
        info = BotInfo(token, bot_id, username or f"fake_{bot_id}_bot", first_name)
        self.bots[token] = info
        return info

    def add_chat(self, chat_id: ChatId, *, type: str | None = None, title: str | None = None) -> int:
        """Register a chat (needed with ``strict_chats``); returns its numeric id."""
        cid = self._resolve(chat_id)
        chat = _chat_object(cid, chat_id if isinstance(chat_id, str) else None)
        if type:
            chat["type"] = type
        if title:
            chat["title"] = title
        self.known_chats[cid] = chat
        return cid

    def block(self, chat_id: ChatId) -> None:
        """The user blocked the bot: sends to ``chat_id`` → 403."""
        self.blocked_chats.add(self._resolve(chat_id))

    def migrate(self, chat_id: ChatId, new_chat_id: int) -> None:
        """Group upgraded to a supergroup: requests to ``chat_id`` → 400 with
        ``parameters.migrate_to_chat_id`` (PTB raises ``ChatMigrated``)."""
        self.migrated[self._resolve(chat_id)] = new_chat_id

    def fail_next(
        self,
        n: int = 1,
        status: int = 429,
        retry_after: int | None = None,
        *,
        description: str | None = None,
        method: str | None = None,
        parameters: dict[str, Any] | None = None,
        delay: float = 0.0,
        disconnect: bool = False,
    ) -> None:
        """Answer the next ``n`` requests (of API ``method`` if given) with an error.

        429 gets ``parameters.retry_after`` (default 1 s) and description ``Too Many
        Requests: retry after S``; other statuses get their standard Bot API description
        unless ``description`` is given. ``disconnect=True`` drops the connection instead.
        """
        if status == 429 and retry_after is None:
            retry_after = 1
        wanted = method.lower() if method else None

        def match(rec: RecordedRequest) -> bool:
            m = _ROUTE.match(rec.path)
            return wanted is None or (m is not None and m["method"].lower() == wanted)

        extra = {"description": description, "parameters": parameters}
        self.inject(Injection(status, retry_after, match, extra, delay, disconnect), n)

    def messages(self, chat_id: ChatId | None = None) -> list[TgMessage]:
        """Delivered messages of one chat, or of all chats in send order."""
        if chat_id is not None:
            return list(self.chats.get(self._resolve(chat_id), []))
        return list(self.sent)

    async def wait_for_messages(self, chat_id: ChatId, n: int = 1, timeout: float = 5.0) -> list[TgMessage]:
        """Wait until ``chat_id`` holds at least ``n`` messages; returns them."""
        cid = self._resolve(chat_id)
        await self.wait_until(
            lambda: len(self.chats.get(cid, [])) >= n,
            timeout,
            f"{n} message(s) in chat {chat_id} (have {len(self.chats.get(cid, []))})",
        )
        return self.messages(cid)

    # -- updates -----------------------------------------------------------------------
    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue ``update`` for getUpdates (its ``update_id`` is assigned if missing)."""
        if "update_id" not in update:
            update = {"update_id": self._next_update_id, **update}
        self._next_update_id = max(self._next_update_id, int(update["update_id"])) + 1
        self.updates.append(update)
        for event in self._update_waiters:
            event.set()
        return update

    def _user(self, user_id: int, username: str | None, first_name: str) -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if username:
            user["username"] = username
        return user

    def callback_update(
        self,
        message: TgMessage,
        data: str,
        *,
        user_id: int,
        username: str | None = None,
        first_name: str = "Alice",
    ) -> dict[str, Any]:
        """The update of a tap on an inline button of ``message`` carrying ``data`` (not queued)."""
        update_id = self._next_update_id
        self._next_update_id += 1
        return {
            "update_id": update_id,
            "callback_query": {
                "id": str(4000000000000000000 + update_id),
                "from": self._user(user_id, username, first_name),
                "message": self._message_json(message, self.bots[message.token]),
                "chat_instance": str(-abs(message.chat_id) * 7),
                "data": data,
            },
        }

    def text_update(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int,
        username: str | None = None,
        first_name: str = "Alice",
        reply_to: TgMessage | None = None,
    ) -> dict[str, Any]:
        """The update of a person's text message (a command) in ``chat_id`` (not queued)."""
        update_id = self._next_update_id
        self._next_update_id += 1
        message_id = self._next_id.get(chat_id, 1)
        self._next_id[chat_id] = message_id + 1
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": self._user(user_id, username, first_name),
            "chat": self.known_chats.get(chat_id) or _chat_object(chat_id, None),
            "date": int(time.time()),
            "text": text,
        }
        if text.startswith("/"):
            length = len(text.split()[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        if reply_to is not None:
            message["reply_to_message"] = self._message_json(reply_to, self.bots[reply_to.token])
        return {"update_id": update_id, "message": message}

    async def deliver_webhook(self, update: dict[str, Any], *, secret: str | bool | None = True) -> int:
        """POST ``update`` to the webhook set by setWebhook, as Telegram does; the HTTP status.

        ``secret=True`` sends the ``secret_token`` given to setWebhook (if any) in
        ``X-Telegram-Bot-Api-Secret-Token``; a string sends that instead; None or False none."""
        if not self.webhook_url:
            raise RuntimeError("no webhook is set (setWebhook was not called)")
        token = self.webhook_secret if secret is True else secret or None
        headers = {"X-Telegram-Bot-Api-Secret-Token": token} if token else {}
        async with (
            aiohttp.ClientSession() as http,
            http.post(self.webhook_url, json=update, headers=headers) as r,
        ):
            return r.status

    # -- wire ------------------------------------------------------------------------
    async def _before_handle(self, rec: RecordedRequest) -> None:
        m = _ROUTE.match(rec.path)
        if m is None or m["method"].lower() != "getupdates" or self.webhook_url:
            return
        params = _decode_params(rec)
        timeout = min(float(params.get("timeout") or 0), 60.0)
        offset = int(params.get("offset") or 0)
        if timeout <= 0 or any(u["update_id"] >= offset for u in self.updates):
            return
        event = asyncio.Event()
        self._update_waiters.add(event)
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            self._update_waiters.discard(event)

    def _on_received(self, rec: RecordedRequest) -> None:
        m = _ROUTE.match(rec.path)
        if m:
            self.calls[_METHODS.get(m["method"].lower(), m["method"])] += 1

    def _render_injection(self, rec: RecordedRequest, inj: Injection) -> Reply:
        params = dict(inj.extra.get("parameters") or {})
        if inj.retry_after is not None:
            params["retry_after"] = int(inj.retry_after)
        description = inj.extra.get("description") or _default_description(inj.status, inj.retry_after)
        return _error_reply(TelegramError(inj.status, description, params or None))

    def _handle(self, rec: RecordedRequest) -> Reply:
        try:
            if m := _FILE_ROUTE.match(rec.path):
                return self._download(m["token"], m["path"])
            m = _ROUTE.match(rec.path)
            if m is None:
                raise TelegramError(404, "Not Found")
            bot = self.bots.get(m["token"])
            if bot is None:
                raise TelegramError(401, "Unauthorized")
            name = _METHODS.get(m["method"].lower())
            if name is None:
                raise TelegramError(404, "Not Found")
            api: Callable[[BotInfo, dict[str, Any]], Reply] = getattr(self, f"_api_{name}")
            return api(bot, _decode_params(rec))
        except TelegramError as exc:
            return _error_reply(exc)

    # -- API methods (synchronous: state change + undo) -------------------------------
    def _api_getMe(self, bot: BotInfo, p: dict[str, Any]) -> Reply:
        user = bot.user() | {
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        return _ok(user)

    def _api_setWebhook(self, bot: BotInfo, p: dict[str, Any]) -> Reply:
        old = self.webhook_url, self.webhook_secret
        self.webhook_url = str(p.get("url") or "") or None
        self.webhook_secret = str(p.get("secret_token") or "") or None

        def undo() -> None:
            self.webhook_url, self.webhook_secret = old

        return _ok(True, "Webhook was set", undo=undo)

    def _api_getUpdates(self, bot: BotInfo, p: dict[str, Any]) -> Reply:
        if self.webhook_url:
            raise TelegramError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to "
                "delete the webhook first",
            )
        offset = int(p.get("offset") or 0)
        limit = max(1, min(int(p.get("limit") or 100), 100))
        # An offset confirms every update before it: they are never sent again.
        self.updates = [u for u in self.updates if u["update_id"] >= offset]
        return _ok(self.updates[:limit])

    def _api_editMessageReplyMarkup(self, bot: BotInfo, p: dict[str, Any]) -> Reply:
        cid = self._check_chat(p)
        msg = self._find(cid, p.get("message_id"))
        if msg is None:
            raise _bad("message to edit not found")
        if msg.token != bot.token:
            raise _bad("message can't be edited")
        markup = _json_field(p.get("reply_markup"))
        if markup == msg.reply_markup:
            raise TelegramError(400, NOT_MODIFIED)
        old = TgEdit(
            msg.text,
            msg.visible_text,
            msg.parse_mode,
            msg.entities,
            msg.reply_markup,
            msg.edit_date or msg.date,
        )
        old_edit_date = msg.edit_date
        msg.history.append(old)
        msg.reply_markup, msg.edit_date = markup, int(time.time())

        def undo() -> None:
            msg.history.pop()
            msg.reply_markup, msg.edit_date = old.reply_markup, old_edit_date

        return _ok(self._message_json(msg, bot), undo=undo)

    def _api_deleteWebhook(self, bot: BotInfo, p: dict[str, Any]) -> Reply:
        old, self.webhook_url = self.webhook_url, None
        if str(p.get("drop_pending_updates") or "").lower() == "true":
            self.updates.clear()
        text = "Webhook was deleted" if old else "Webhook is already deleted"
        return _ok(True, text, undo=lambda: setattr(self, "webhook_url", old))

    def _api_answerCallbackQuery(self, bot: BotInfo, p: dict[str, Any]) -> Reply:
        if not p.get("callback_query_id"):
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        if len(str(p.get("text") or "")) > MAX_CALLBACK_TEXT:
            raise _bad("MESSAGE_TOO_LONG")
        self.callback_answers.append(p)
        return _ok(True, undo=lambda: self.callback_answers.remove(p))

    def _api_getFile(self, bot: BotInfo, p: dict[str, Any]) -> Reply:
        file_id = str(p.get("file_id") or "")
        if file_id not in self.files:
            raise _bad("invalid file_id")
        return _ok(
            {
                "file_id": file_id,
                "file_unique_id": _digest(file_id)[:16],
                "file_size": len(self.files[file_id]),
                "file_path": f"photos/{file_id}.jpg",
            }
        )

    def _api_sendMessage(self, bot: BotInfo, p: dict[str, Any]) -> Reply:
        cid = self._check_chat(p)
        parsed = self._parse_text(
            p.get("text"), p.get("parse_mode"), MAX_TEXT, "message text is empty", "message is too long"
        )
        self._check_rate(bot, cid)
        msg = self._new_message(bot, cid, p, str(p.get("text")), parsed)
        return self._store(msg)

    def _api_sendPhoto(self, bot: BotInfo, p: dict[str, Any]) -> Reply:
        cid = self._check_chat(p)
        photo = p.get("photo")
        if not photo:
            raise _bad("there is no photo in the request")
        caption = str(p.get("caption") or "")
        parsed = (
            self._parse_text(caption, p.get("parse_mode"), MAX_CAPTION, None, "message caption is too long")
            if caption
            else ParsedText("")
        )
        self._check_rate(bot, cid)
        msg = self._new_message(bot, cid, p, caption, parsed)
        msg.kind, msg.photo = "photo", photo
        return self._store(msg)

    def _api_sendDocument(self, bot: BotInfo, p: dict[str, Any]) -> Reply:
        cid = self._check_chat(p)
        document = p.get("document")
        if document is None or document == "":
            raise _bad("there is no document in the request")
        if not isinstance(document, bytes):
            raise _bad("wrong remote file identifier specified: can't unserialize it")
        if not document:
            raise _bad("file must be non-empty")
        if len(document) > MAX_UPLOAD:
            raise TelegramError(413, "Request Entity Too Large")
        reply_to = self._check_reply(cid, p)
        caption = str(p.get("caption") or "")
        parsed = (
            self._parse_text(caption, p.get("parse_mode"), MAX_CAPTION, None, "message caption is too long")
            if caption
            else ParsedText("")
        )
        self._check_rate(bot, cid)
        msg = self._new_message(bot, cid, p, caption, parsed)
        msg.kind, msg.document, msg.reply_to = "document", document, reply_to
        msg.file_name = p.get(FILE_NAMES, {}).get("document") or "document"
        return self._store(msg)

    def _check_reply(self, cid: int, p: dict[str, Any]) -> int | None:
        """The message a send replies to; 400 when it is not in the chat (unless the sender allows
        sending without it)."""
        raw = _json_field(p.get("reply_parameters"))
        target = raw.get("message_id") if raw else p.get("reply_to_message_id")
        if target in (None, ""):
            return None
        if self._find(cid, target) is None:
            allowed = raw.get("allow_sending_without_reply") if raw else p.get("allow_sending_without_reply")
            if allowed in (True, "true", "True"):
                return None
            raise _bad("message to be replied not found")
        return int(target)

    def _api_editMessageText(self, bot: BotInfo, p: dict[str, Any]) -> Reply:
        if p.get("inline_message_id"):
            self._parse_text(
                p.get("text"), p.get("parse_mode"), MAX_TEXT, "message text is empty", "MESSAGE_TOO_LONG"
            )
            return _ok(True)
        cid = self._check_chat(p)
        msg = self._find(cid, p.get("message_id"))
        if msg is None:
            raise _bad("message to edit not found")
        if msg.token != bot.token:
            raise _bad("message can't be edited")
        if msg.kind != "text":
            raise _bad("there is no text in the message to edit")
        parsed = self._parse_text(
            p.get("text"), p.get("parse_mode"), MAX_TEXT, "message text is empty", "MESSAGE_TOO_LONG"
        )
        markup = _json_field(p.get("reply_markup"))
        if (parsed.text, parsed.entities, markup) == (msg.visible_text, msg.entities, msg.reply_markup):
            raise TelegramError(400, NOT_MODIFIED)
        old = TgEdit(
            msg.text,
            msg.visible_text,
            msg.parse_mode,
            msg.entities,
            msg.reply_markup,
            msg.edit_date or msg.date,
        )
        old_edit_date = msg.edit_date
        msg.history.append(old)
        msg.text, msg.visible_text, msg.entities = str(p.get("text")), parsed.text, parsed.entities
        msg.parse_mode, msg.reply_markup = _str_or_none(p.get("parse_mode")), markup
        msg.edit_date = int(time.time())

        def undo() -> None:
            msg.history.pop()
            msg.text, msg.visible_text, msg.entities = old.text, old.visible_text, old.entities
            msg.parse_mode, msg.reply_markup, msg.edit_date = (
                old.parse_mode,
                old.reply_markup,
                old_edit_date,
            )

        return _ok(self._message_json(msg, bot), undo=undo)

    # -- helpers ---------------------------------------------------------------------
    def _resolve(self, chat_id: ChatId | None) -> int:
        if isinstance(chat_id, int):
            return chat_id
        text = str(chat_id or "").strip()
        if re.fullmatch(r"-?\d+", text):
            return int(text)
        name = text.lstrip("@").lower()
        return self._usernames.setdefault(name, -1000000000000 - int(_digest(name)[:8], 16))

    def _check_chat(self, p: dict[str, Any]) -> int:
        raw = p.get("chat_id")
        if raw in (None, ""):
            raise _bad("chat_id is empty")
        cid = self._resolve(raw)
        if cid in self.migrated:
            raise TelegramError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": self.migrated[cid]},
            )
        if self.strict_chats and cid not in self.known_chats:
            raise _bad("chat not found")
        if cid in {self._resolve(c) for c in self.blocked_chats}:
            raise TelegramError(403, "Forbidden: bot was blocked by the user")
        if cid not in self.known_chats:
            self.known_chats[cid] = _chat_object(
                cid, raw if isinstance(raw, str) and raw.startswith("@") else None
            )
        return cid

    def _parse_text(
        self, text: Any, parse_mode: Any, limit: int, empty: str | None, too_long: str
    ) -> ParsedText:
        raw = "" if text is None else str(text)
        if str(parse_mode or "").upper() == "HTML":
            try:
                parsed = parse_telegram_html(raw, strict_entities=self.strict_html_entities)
            except EntityParseError as exc:
                raise _bad(f"can't parse entities: {exc}") from None
        else:
            parsed = ParsedText(raw)
        parsed = _trim(parsed)
        if not parsed.text and empty:
            raise _bad(empty)
        if len(parsed.text) > limit:
            raise _bad(too_long)
        return parsed

    def _check_rate(self, bot: BotInfo, cid: int) -> None:
        if not self.enforce_rate_limits:
            return
        now = time.monotonic()
        recent = [t for t in self._bot_sends.get(bot.token, []) if now - t < 1.0]
        last = self._sent_at.get((bot.token, cid))
        wait = 0.0
        if last is not None and now - last < self.per_chat_interval:
            wait = self.per_chat_interval - (now - last)
        if len(recent) >= self.per_bot_limit:
            wait = max(wait, 1.0 - (now - recent[0]))
        if wait > 0:
            retry = max(1, int(wait + 0.999))
            raise TelegramError(429, f"Too Many Requests: retry after {retry}", {"retry_after": retry})
        recent.append(now)
        self._bot_sends[bot.token] = recent
        self._sent_at[(bot.token, cid)] = now

    def _new_message(
        self, bot: BotInfo, cid: int, p: dict[str, Any], text: str, parsed: ParsedText
    ) -> TgMessage:
        next_id = self._next_id.get(cid, 1)
        self._next_id[cid] = next_id + 1
        return TgMessage(
            next_id,
            cid,
            bot.token,
            text,
            parsed.text,
            _str_or_none(p.get("parse_mode")),
            parsed.entities,
            _json_field(p.get("reply_markup")),
            int(time.time()),
            params=p,
        )

    def _store(self, msg: TgMessage) -> Reply:
        if isinstance(msg.photo, bytes):
            self.files[_file_id(msg)] = msg.photo
        self.chats.setdefault(msg.chat_id, []).append(msg)
        self.sent.append(msg)

        def undo() -> None:
            self.chats[msg.chat_id].remove(msg)
            self.sent.remove(msg)

        return _ok(self._message_json(msg, self.bots[msg.token]), undo=undo)

    def _find(self, cid: int, message_id: Any) -> TgMessage | None:
        for msg in self.chats.get(cid, []):
            if str(msg.message_id) == str(message_id):
                return msg
        return None

    def _message_json(self, msg: TgMessage, bot: BotInfo) -> dict[str, Any]:
        out: dict[str, Any] = {
            "message_id": msg.message_id,
            "date": msg.date,
            "chat": self.known_chats.get(msg.chat_id) or _chat_object(msg.chat_id, None),
            "from": bot.user(),
        }
        if msg.kind == "photo":
            size = len(msg.photo) if isinstance(msg.photo, bytes) else 0
            file_id = _file_id(msg)
            out["photo"] = [
                {
                    "file_id": file_id,
                    "file_unique_id": _digest(file_id)[:16],
                    "width": 320,
                    "height": 240,
                    "file_size": size,
                }
            ]
            if msg.visible_text:
                out["caption"] = msg.visible_text
                if msg.entities:
                    out["caption_entities"] = msg.entities
        elif msg.kind == "document":
            file_id = _file_id(msg)
            out["document"] = {
                "file_id": file_id,
                "file_unique_id": _digest(file_id)[:16],
                "file_name": msg.file_name,
                "file_size": len(msg.document or b""),
            }
            if msg.visible_text:
                out["caption"] = msg.visible_text
        else:
            out["text"] = msg.visible_text
            if msg.entities:
                out["entities"] = msg.entities
        if msg.edit_date:
            out["edit_date"] = msg.edit_date
        if msg.reply_to is not None and (replied := self._find(msg.chat_id, msg.reply_to)) is not None:
            out["reply_to_message"] = self._message_json(replied, self.bots[replied.token])
        if msg.reply_markup and "inline_keyboard" in msg.reply_markup:
            out["reply_markup"] = {"inline_keyboard": msg.reply_markup["inline_keyboard"]}
        return out

    def _download(self, token: str, path: str) -> Reply:
        if token not in self.bots:
            raise TelegramError(401, "Unauthorized")
        file_id = path.rsplit("/", 1)[-1].split(".", 1)[0]
        if file_id not in self.files:
            raise TelegramError(404, "Not Found")
        return Reply(200, self.files[file_id], content_type="image/jpeg")


_METHODS = {
    name.lower(): name
    for name in (
        "getMe",
        "sendMessage",
        "editMessageText",
        "answerCallbackQuery",
        "sendPhoto",
        "sendDocument",
        "getFile",
        "setWebhook",
        "deleteWebhook",
        "getUpdates",
        "editMessageReplyMarkup",
    )
}


def _ok(result: Any, description: str | None = None, undo: Callable[[], None] | None = None) -> Reply:
    body: dict[str, Any] = {"ok": True, "result": result}
    if description:
        body["description"] = description
    return Reply(200, body, undo=undo)


def _error_reply(exc: TelegramError) -> Reply:
    body: dict[str, Any] = {"ok": False, "error_code": exc.status, "description": exc.description}
    if exc.parameters:
        body["parameters"] = exc.parameters
    return Reply(exc.status, body)


def _default_description(status: int, retry_after: float | None) -> str:
    if status == 429:
        return f"Too Many Requests: retry after {int(retry_after or 1)}"
    known = {
        400: "Bad Request",
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not Found",
        409: "Conflict: terminated by other getUpdates request; make sure that only one "
        "bot instance is running",
    }
    if status in known:
        return known[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"Error {status}"


FILE_NAMES = "_file_names"
"""The key under which decoded parameters keep the file name of each uploaded part."""


def _decode_params(rec: RecordedRequest) -> dict[str, Any]:
    """Request parameters; uploaded files become their bytes (their names under FILE_NAMES)."""
    params = rec.params()
    for name, upload in rec.files.items():
        params[name] = upload.data
    if rec.files:
        params[FILE_NAMES] = {name: upload.filename for name, upload in rec.files.items()}
    return params


def _json_field(value: Any) -> dict[str, Any] | None:
    """``reply_markup`` arrives JSON-encoded in form bodies and as an object in JSON ones."""
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise _bad("can't parse reply keyboard markup JSON object") from None
    return value if isinstance(value, dict) else None


def _str_or_none(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _file_id(msg: TgMessage) -> str:
    return f"AgACAgFake{msg.chat_id & 0xFFFFFF:06x}{msg.message_id:06d}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _chat_object(cid: int, username: str | None) -> dict[str, Any]:
    if username:
        return {"id": cid, "type": "channel", "title": username.lstrip("@"), "username": username.lstrip("@")}
    if cid > 0:
        return {"id": cid, "type": "private", "first_name": "Test User"}
    kind = "supergroup" if str(cid).startswith("-100") else "group"
    return {"id": cid, "type": kind, "title": f"Test {kind} {cid}"}


def _trim(parsed: ParsedText) -> ParsedText:
    """Telegram strips leading/trailing whitespace; entities are shifted and clipped."""
    text = parsed.text
    stripped = text.strip()
    if stripped == text:
        return parsed
    head = utf16_len(text[: len(text) - len(text.lstrip())])
    total = utf16_len(stripped)
    entities = []
    for ent in parsed.entities:
        start = max(0, ent["offset"] - head)
        end = min(total, ent["offset"] + ent["length"] - head)
        if end > start:
            entities.append(ent | {"offset": start, "length": end - start})
    return ParsedText(stripped, entities)
