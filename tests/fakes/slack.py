"""FakeSlack: Slack Web API (bot token) and incoming webhooks on one local server.

Web API (``POST {url}/api/{method}``, JSON or urlencoded body; auth by
``Authorization: Bearer xoxb-…`` or a ``token`` field). Application errors are HTTP 200
``{"ok": false, "error": "…"}`` like real Slack:

* ``auth.test`` → ok, url, team, user, team_id, user_id, bot_id;
* ``chat.postMessage`` → ``{"ok", "channel": "C…", "ts", "message"}``; channel names
  (``#oncall`` / ``oncall``) map to stable IDs (``C`` + uppercase hex), IDs are accepted;
  errors ``not_authed``, ``invalid_auth``, ``channel_not_found`` (unknown channel with
  ``strict_channels``), ``is_archived``, ``no_text``, ``msg_too_long`` (> 40 000 chars),
  ``invalid_blocks`` (with ``errors``), ``invalid_blocks_format`` / ``invalid_attachments``;
* ``chat.update`` → needs the channel *ID* and ``ts`` of an existing message:
  ``channel_not_found``, ``message_not_found``, ``cant_update_message`` (posted by another
  token/app or via a webhook); unknown methods → ``unknown_method``.

File upload v2 (``files.upload`` is gone): ``files.getUploadURLExternal`` (form fields
``filename``, ``length``) → ``{"ok", "upload_url", "file_id"}``; ``POST {upload_url}`` with the
bytes (raw or a multipart ``file`` part; no token needed) → ``200 OK - <length>``;
``files.completeUploadExternal`` (``files`` = JSON ``[{"id", "title"}]``, ``channel_id`` — an ID,
not ``#name`` — and ``thread_ts``) shares the file; errors ``invalid_arguments``,
``file_not_found``, ``channel_not_found``, ``file_upload_size_mismatch`` (bytes ≠ ``length``).
Shared files are in :attr:`FakeSlack.files`.

Incoming webhooks (``POST {url}/services/T…/B…/X…``; :meth:`FakeSlack.add_webhook`) answer
``200 ok`` (text) or ``400 invalid_payload`` / ``no_text`` / ``invalid_blocks``,
``403 action_prohibited`` / ``invalid_token``, ``404 no_service`` / ``channel_not_found``,
``410 channel_is_archived``.

* ``chat.postEphemeral`` → ``{"ok", "message_ts"}``; kept in :attr:`FakeSlack.ephemeral`.

Interactivity: :meth:`FakeSlack.response_url` makes an interaction's ``response_url``
(``POST {url}/actions/T…/…``, JSON ``{text, blocks, response_type, replace_original,
delete_original}``; answers ``200 ok``; ``replace_original`` edits the message clicked);
:func:`block_actions_request` builds a correctly signed ``block_actions`` POST as Slack sends it
to an app's interactivity URL. :func:`sign` / :func:`signed_headers` for Slack's request signing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from tests.fakes.base import FakeHTTPServer, Injection, RecordedRequest, Reply

__all__ = [
    "DEFAULT_TOKEN",
    "FakeSlack",
    "SlackFile",
    "SlackMessage",
    "block_actions_request",
    "sign",
    "signed_headers",
    "validate_blocks",
]

DEFAULT_TOKEN = "xoxb-000000000000-000000000000-FakeSlackTokenForTests"
TEAM_ID = "T0FAKE0001"
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_TEXT = 40000
_WEBHOOK_ERRORS = {
    "invalid_payload": 400,
    "no_text": 400,
    "invalid_blocks": 400,
    "action_prohibited": 403,
    "invalid_token": 403,
    "no_service": 404,
    "channel_not_found": 404,
    "channel_is_archived": 410,
}
_BLOCK_TYPES = {
    "section",
    "header",
    "divider",
    "context",
    "actions",
    "image",
    "rich_text",
    "input",
    "file",
    "video",
    "markdown",
}
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{8,}$")


def sign(signing_secret: str, timestamp: str | int, body: str | bytes) -> str:
    """Slack request signature: ``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    raw = body.encode() if isinstance(body, str) else body
    base = f"v0:{timestamp}:".encode() + raw
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(signing_secret: str, body: str | bytes, timestamp: int | None = None) -> dict[str, str]:
    """``X-Slack-Request-Timestamp`` / ``X-Slack-Signature`` headers for ``body`` (now)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sign(signing_secret, ts, body)}


def block_actions_request(
    signing_secret: str,
    *,
    user_id: str,
    channel_id: str,
    message_ts: str,
    action_id: str,
    value: str,
    response_url: str,
    block_id: str = "alertmedic_actions",
    user_name: str = "alice",
    timestamp: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a button click as Slack POSTs it to an interactivity URL: form
    field ``payload`` holding the ``block_actions`` JSON, signed at ``timestamp`` (now)."""
    ts = int(time.time()) if timestamp is None else timestamp
    payload = {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": TEAM_ID},
        "api_app_id": "A0FAKEAPP1",
        "token": "deprecated-verification-token",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        },
        "trigger_id": f"{ts}.{abs(hash(message_ts)) % 10**12}.{secrets.token_hex(16)}",
        "team": {"id": TEAM_ID, "domain": "fake-workspace"},
        "channel": {"id": channel_id, "name": "alerts"},
        "message": {"type": "message", "ts": message_ts},
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": block_id,
                "value": value,
                "action_ts": f"{ts}.000100",
            }
        ],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    headers = signed_headers(signing_secret, body, ts)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    return body, headers


@dataclass
class SlackApp:
    """A registered bot token."""

    token: str
    bot_id: str
    user_id: str
    name: str


@dataclass
class SlackMessage:
    """A delivered message (API post or webhook)."""

    channel: str
    """Channel ID."""
    ts: str
    text: str | None
    blocks: list[Any] | None
    attachments: list[Any] | None
    via: str
    """``"api"`` or ``"webhook"``."""
    token: str | None = None
    """Bot token that posted it (``None`` for webhooks)."""
    webhook: str | None = None
    """Webhook path it came through."""
    thread_ts: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    """The decoded request parameters / webhook JSON body."""
    history: list[dict[str, Any]] = field(default_factory=list)
    """Previous versions ({text, blocks, attachments}) after ``chat.update``."""

    @property
    def edited(self) -> bool:
        return bool(self.history)


@dataclass
class SlackFile:
    """A file uploaded with the v2 flow; ``channel`` / ``thread_ts`` once completed."""

    id: str
    filename: str
    length: int
    data: bytes | None = None
    title: str | None = None
    channel: str | None = None
    thread_ts: str | None = None


class FakeSlack(FakeHTTPServer):
    """Slack Web API + incoming webhook fake. See the module docstring."""

    def __init__(self, token: str = DEFAULT_TOKEN, *, strict_channels: bool = False) -> None:
        super().__init__()
        self.apps: dict[str, SlackApp] = {}
        self.strict_channels = strict_channels
        """When True only channels from :meth:`add_channel` exist (else
        ``channel_not_found``)."""
        self.channels: dict[str, str] = {}
        """Channel name (without ``#``) → ID, filled on first use or by ``add_channel``."""
        self.archived: set[str] = set()
        """Channel IDs answering ``is_archived`` / webhook 410."""
        self.webhooks: dict[str, str] = {}
        """Webhook path → channel ID."""
        self.webhook_errors: dict[str, str] = {}
        """Webhook path → error it answers (see :meth:`break_webhook`)."""
        self.sent: list[SlackMessage] = []
        """Delivered messages in order (webhook and API)."""
        self.ephemeral: list[dict[str, Any]] = []
        """``chat.postEphemeral`` calls: their parameters plus ``message_ts``."""
        self.responses: list[dict[str, Any]] = []
        """JSON bodies POSTed to response URLs, with ``_channel`` / ``_message_ts`` added."""
        self._response_urls: dict[str, tuple[str, str]] = {}
        self.files: dict[str, SlackFile] = {}
        """Files of the upload v2 flow by id, in the order their upload URL was asked for."""
        self._ts_counter = 0
        self._token = token
        self.add_token(token)

    # -- knobs -------------------------------------------------------------------------
    @property
    def token(self) -> str:
        """The bot token registered by the constructor."""
        return self._token

    def add_token(self, token: str, *, name: str = "alertmedic") -> SlackApp:
        """Register a bot token (each token is a separate app for ``chat.update``)."""
        tag = _hex(token, 8)
        app = SlackApp(token, f"B{tag}", f"U{tag}", name)
        self.apps[token] = app
        return app

    def add_channel(self, name: str, *, archived: bool = False) -> str:
        """Register ``name`` (``#x``, ``x`` or an ID); returns its channel ID."""
        cid = self._channel_id(name, create=True)
        assert cid is not None
        if archived:
            self.archived.add(cid)
        return cid

    def channel_id(self, name_or_id: str) -> str:
        """Stable ID the fake uses for ``#name`` (creates it if needed)."""
        cid = self._channel_id(name_or_id, create=True)
        assert cid is not None
        return cid

    def add_webhook(self, channel: str = "#alerts") -> str:
        """Create an incoming webhook posting to ``channel``; returns its full URL."""
        path = f"/services/{TEAM_ID}/B{secrets.token_hex(5).upper()}/{secrets.token_hex(12)}"
        self.webhooks[path] = self.channel_id(channel)
        return f"{self.url}{path}"

    def response_url(self, channel: str, message_ts: str) -> str:
        """A ``response_url`` for an interaction on the message ``message_ts`` of ``channel``."""
        path = f"/actions/{TEAM_ID}/{secrets.randbelow(10**12)}/{secrets.token_hex(12)}"
        self._response_urls[path] = (self.channel_id(channel), message_ts)
        return f"{self.url}{path}"

    def break_webhook(self, url_or_path: str, error: str = "no_service") -> None:
        """Make a webhook answer ``error`` (``action_prohibited`` 403, ``invalid_token``
        403, ``no_service`` 404, ``channel_not_found`` 404, ``channel_is_archived`` 410)."""
        if error not in _WEBHOOK_ERRORS:
            raise ValueError(f"unknown webhook error {error!r}")
        self.webhook_errors[_path_of(url_or_path)] = error

    def fail_next(
        self,
        n: int = 1,
        status: int = 429,
        retry_after: float | None = None,
        *,
        error: str | None = None,
        endpoint: str | None = None,
        delay: float = 0.0,
        disconnect: bool = False,
    ) -> None:
        """Answer the next ``n`` requests (to ``endpoint`` — an API method like
        ``"chat.postMessage"`` or ``"webhook"`` — if given) with ``status``.

        429 carries ``Retry-After`` (default 1 s) and error ``ratelimited`` (API) /
        ``rate_limited`` (webhook). ``status=200`` with ``error`` gives an API-level
        ``{"ok": false, "error": error}``. ``disconnect=True`` drops the connection.
        """
        if status == 429 and retry_after is None:
            retry_after = 1

        def match(rec: RecordedRequest) -> bool:
            if endpoint is None:
                return True
            if endpoint == "webhook":
                return rec.path.startswith("/services/")
            return rec.path == f"/api/{endpoint}"

        self.inject(Injection(status, retry_after, match, {"error": error}, delay, disconnect), n)

    def messages(self, channel: str | None = None) -> list[SlackMessage]:
        """Delivered messages, optionally only those of ``channel`` (name or ID)."""
        if channel is None:
            return list(self.sent)
        cid = self._channel_id(channel, create=False)
        return [m for m in self.sent if m.channel == cid]

    async def wait_for_messages(
        self, n: int = 1, channel: str | None = None, timeout: float = 5.0
    ) -> list[SlackMessage]:
        """Wait until ``n`` messages were delivered (to ``channel`` if given)."""
        await self.wait_until(
            lambda: len(self.messages(channel)) >= n,
            timeout,
            f"{n} Slack message(s) in {channel or 'any channel'}",
        )
        return self.messages(channel)

    # -- wire ------------------------------------------------------------------------
    def _render_injection(self, rec: RecordedRequest, inj: Injection) -> Reply:
        headers = {"Retry-After": str(int(inj.retry_after))} if inj.retry_after else {}
        webhook = rec.path.startswith("/services/")
        error = inj.extra.get("error") or (
            ("rate_limited" if webhook else "ratelimited")
            if inj.status == 429
            else "internal_error"
            if webhook
            else "fatal_error"
        )
        if webhook:
            return Reply(inj.status, error, headers, "text/html")
        return Reply(inj.status, {"ok": False, "error": error}, headers)

    def _handle(self, rec: RecordedRequest) -> Reply:
        if rec.path.startswith("/services/"):
            return self._webhook(rec)
        if rec.path.startswith("/actions/"):
            return self._respond(rec)
        if rec.path.startswith("/upload/"):
            return self._upload_bytes(rec)
        if not rec.path.startswith("/api/"):
            return Reply(404, "Not Found", content_type="text/html")
        method = rec.path.removeprefix("/api/")
        params = rec.params()
        app, error = self._auth(rec, params)
        if app is None:
            return _api_error(error)
        handler = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post,
            "chat.update": self._update,
            "chat.postEphemeral": self._ephemeral,
            "files.getUploadURLExternal": self._upload_url,
            "files.completeUploadExternal": self._complete_upload,
        }.get(method)
        if handler is None:
            return _api_error("unknown_method")
        try:
            return handler(app, params)
        except _SlackError as exc:
            return _api_error(exc.error, exc.errors)

    def _auth(self, rec: RecordedRequest, params: dict[str, Any]) -> tuple[SlackApp | None, str]:
        header = rec.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        token = token or str(params.pop("token", "") or "")
        if not token:
            return None, "not_authed"
        app = self.apps.get(token)
        return app, "" if app else "invalid_auth"

    def _auth_test(self, app: SlackApp, params: dict[str, Any]) -> Reply:
        return Reply(
            200,
            {
                "ok": True,
                "url": "https://fake-workspace.slack.com/",
                "team": "Fake Workspace",
                "user": app.name,
                "team_id": TEAM_ID,
                "user_id": app.user_id,
                "bot_id": app.bot_id,
                "is_enterprise_install": False,
            },
        )

    def _post(self, app: SlackApp, params: dict[str, Any]) -> Reply:
        cid = self._channel_id(str(params.get("channel") or ""), create=not self.strict_channels)
        if cid is None:
            raise _SlackError("channel_not_found")
        if cid in self.archived:
            raise _SlackError("is_archived")
        text, blocks, attachments = _content(params)
        msg = SlackMessage(
            cid,
            self._next_ts(),
            text,
            blocks,
            attachments,
            "api",
            app.token,
            thread_ts=_str_or_none(params.get("thread_ts")),
            payload=params,
        )
        self.sent.append(msg)
        body = {"ok": True, "channel": cid, "ts": msg.ts, "message": _message_json(msg, app)}
        return Reply(200, body, undo=lambda: self.sent.remove(msg))

    def _update(self, app: SlackApp, params: dict[str, Any]) -> Reply:
        channel = str(params.get("channel") or "")
        if not _CHANNEL_ID.match(channel) or channel not in self.channels.values():
            raise _SlackError("channel_not_found")
        ts = str(params.get("ts") or "")
        msg = next((m for m in self.sent if m.channel == channel and m.ts == ts), None)
        if msg is None:
            raise _SlackError("message_not_found")
        if msg.token != app.token:
            raise _SlackError("cant_update_message")
        text, blocks, attachments = _content(params)
        old = msg.text, msg.blocks, msg.attachments
        msg.history.append({"text": old[0], "blocks": old[1], "attachments": old[2]})
        msg.text, msg.blocks, msg.attachments = text, blocks, attachments

        def undo() -> None:
            msg.history.pop()
            msg.text, msg.blocks, msg.attachments = old

        body = {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "text": text or "",
            "message": _message_json(msg, app),
        }
        return Reply(200, body, undo=undo)

    def _ephemeral(self, app: SlackApp, params: dict[str, Any]) -> Reply:
        cid = self._channel_id(str(params.get("channel") or ""), create=not self.strict_channels)
        if cid is None:
            raise _SlackError("channel_not_found")
        if not params.get("user"):
            raise _SlackError("user_not_found")
        _content(params)
        record = {**params, "channel": cid, "message_ts": self._next_ts()}
        self.ephemeral.append(record)
        return Reply(
            200, {"ok": True, "message_ts": record["message_ts"]}, undo=lambda: self.ephemeral.remove(record)
        )

    def _respond(self, rec: RecordedRequest) -> Reply:
        target = self._response_urls.get(rec.path)
        if target is None:
            return Reply(404, "no_service", content_type="text/html")
        body = rec.json
        if not isinstance(body, dict):
            return Reply(400, "invalid_payload", content_type="text/html")
        channel, ts = target
        record = {**body, "_channel": channel, "_message_ts": ts}
        msg = next((m for m in self.sent if m.channel == channel and m.ts == ts), None)
        undo_edit: Any = None
        if body.get("replace_original") and msg is not None:
            try:
                text, blocks, attachments = _content(body)
            except _SlackError as exc:
                return Reply(400, exc.error, content_type="text/html")
            old = msg.text, msg.blocks, msg.attachments
            msg.history.append({"text": old[0], "blocks": old[1], "attachments": old[2]})
            msg.text, msg.blocks, msg.attachments = text, blocks, attachments

            def undo_edit() -> None:
                msg.history.pop()
                msg.text, msg.blocks, msg.attachments = old

        self.responses.append(record)

        def undo() -> None:
            self.responses.remove(record)
            if undo_edit is not None:
                undo_edit()

        return Reply(200, "ok", content_type="text/html", undo=undo)

    def _webhook(self, rec: RecordedRequest) -> Reply:
        def fail(error: str) -> Reply:
            return Reply(_WEBHOOK_ERRORS[error], error, content_type="text/html")

        if rec.path not in self.webhooks:
            return fail("no_service")
        if rec.path in self.webhook_errors:
            return fail(self.webhook_errors[rec.path])
        cid = self.webhooks[rec.path]
        if cid in self.archived:
            return fail("channel_is_archived")
        payload: Any = rec.json
        if "payload" in rec.form:  # legacy form-encoded ``payload=<json>``
            try:
                payload = json.loads(rec.form["payload"])
            except ValueError:
                payload = None
        if not isinstance(payload, dict):
            return fail("invalid_payload")
        try:
            text, blocks, attachments = _content(payload)
        except _SlackError as exc:
            return fail(
                "invalid_blocks"
                if exc.error.startswith("invalid_blocks")
                else "no_text"
                if exc.error == "no_text"
                else "invalid_payload"
            )
        msg = SlackMessage(
            cid,
            self._next_ts(),
            text,
            blocks,
            attachments,
            "webhook",
            webhook=rec.path,
            thread_ts=_str_or_none(payload.get("thread_ts")),
            payload=payload,
        )
        self.sent.append(msg)
        return Reply(200, "ok", content_type="text/html", undo=lambda: self.sent.remove(msg))

    # -- helpers ---------------------------------------------------------------------
    def _channel_id(self, name: str, *, create: bool) -> str | None:
        if _CHANNEL_ID.match(name):
            if name in self.channels.values():
                return name
            if not create:
                return None
            self.channels[name] = name
            return name
        key = name.lstrip("#").lower()
        if not key:
            return None
        if key not in self.channels and create:
            self.channels[key] = "C" + _hex(key, 10)
        return self.channels.get(key)

    def _upload_url(self, app: SlackApp, params: dict[str, Any]) -> Reply:
        filename, length = str(params.get("filename") or ""), str(params.get("length") or "")
        if not filename or not length.isdigit():
            raise _SlackError("invalid_arguments")
        file = SlackFile("F" + secrets.token_hex(5).upper(), filename, int(length))
        self.files[file.id] = file
        return Reply(200, {"ok": True, "upload_url": f"{self.url}/upload/{file.id}", "file_id": file.id})

    def _upload_bytes(self, rec: RecordedRequest) -> Reply:
        file = self.files.get(rec.path.removeprefix("/upload/"))
        if file is None:
            return Reply(404, "Not Found", content_type="text/plain")
        data = rec.files["file"].data if "file" in rec.files else rec.body
        if len(data) != file.length:
            return Reply(400, "file_upload_size_mismatch", content_type="text/plain")
        file.data = data
        return Reply(200, f"OK - {len(data)}", content_type="text/plain")

    def _complete_upload(self, app: SlackApp, params: dict[str, Any]) -> Reply:
        items = _json_list(params.get("files"), "invalid_arguments")
        if not items:
            raise _SlackError("invalid_arguments")
        channel = _str_or_none(params.get("channel_id"))
        if channel is not None and (not _CHANNEL_ID.match(channel) or channel not in self.channels.values()):
            raise _SlackError("channel_not_found")
        done = []
        for item in items:
            file = self.files.get(str(item.get("id"))) if isinstance(item, dict) else None
            if file is None or file.data is None:
                raise _SlackError("file_not_found")
            file.title = _str_or_none(item.get("title")) or file.filename
            file.channel, file.thread_ts = channel, _str_or_none(params.get("thread_ts"))
            done.append({"id": file.id, "title": file.title})
        return Reply(200, {"ok": True, "files": done})

    def _next_ts(self) -> str:
        self._ts_counter += 1
        k = self._ts_counter
        return f"{1700000000 + k // 10000}.{(k % 10000) * 100:06d}"


class _SlackError(Exception):
    def __init__(self, error: str, errors: list[str] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.errors = errors


def _api_error(error: str, errors: list[str] | None = None) -> Reply:
    body: dict[str, Any] = {"ok": False, "error": error}
    if errors:
        body["errors"] = errors
        body["response_metadata"] = {"messages": [f"[ERROR] {e}" for e in errors]}
    return Reply(200, body)


def _content(params: dict[str, Any]) -> tuple[str | None, list[Any] | None, list[Any] | None]:
    """Validate text/blocks/attachments of a post, update or webhook payload."""
    blocks = _json_list(params.get("blocks"), "invalid_blocks_format")
    attachments = _json_list(params.get("attachments"), "invalid_attachments")
    text = _str_or_none(params.get("text"))
    if not text and not blocks and not attachments:
        raise _SlackError("no_text")
    if text and len(text) > MAX_TEXT:
        raise _SlackError("msg_too_long")
    errors = validate_blocks(blocks or [], "/blocks")
    for i, attachment in enumerate(attachments or []):
        if isinstance(attachment, dict):
            errors += validate_blocks(attachment.get("blocks") or [], f"/attachments/{i}/blocks")
    if errors:
        raise _SlackError("invalid_blocks", errors)
    return text, blocks, attachments


def validate_blocks(blocks: Iterable[Any], pointer: str = "/blocks") -> list[str]:
    """Block Kit checks Slack enforces; returns error strings (empty when valid)."""
    blocks = list(blocks)
    errors: list[str] = []
    if len(blocks) > MAX_BLOCKS:
        errors.append(f"must be less than {MAX_BLOCKS + 1} items [json-pointer:{pointer}]")
    for i, block in enumerate(blocks):
        where = f"{pointer}/{i}"
        if not isinstance(block, dict) or block.get("type") not in _BLOCK_TYPES:
            kind = block.get("type") if isinstance(block, dict) else None
            errors.append(f"unsupported type: {kind} [json-pointer:{where}/type]")
            continue
        text = block.get("text")
        if block["type"] == "section":
            if not isinstance(text, dict) and not block.get("fields"):
                errors.append(f"missing required field: text [json-pointer:{where}]")
            elif isinstance(text, dict) and len(str(text.get("text", ""))) > MAX_SECTION_TEXT:
                errors.append(
                    f"must be less than {MAX_SECTION_TEXT + 1} characters [json-pointer:{where}/text/text]"
                )
        elif block["type"] == "header":
            if not isinstance(text, dict) or text.get("type") != "plain_text":
                errors.append(f"must be a plain_text object [json-pointer:{where}/text]")
            elif len(str(text.get("text", ""))) > MAX_HEADER_TEXT:
                errors.append(
                    f"must be less than {MAX_HEADER_TEXT + 1} characters [json-pointer:{where}/text/text]"
                )
    return errors


def _json_list(value: Any, error: str) -> list[Any] | None:
    """``blocks``/``attachments`` come as JSON strings in form bodies, lists in JSON ones."""
    if value in (None, "", []):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise _SlackError(error) from None
    if not isinstance(value, list):
        raise _SlackError(error)
    return value


def _message_json(msg: SlackMessage, app: SlackApp) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "message",
        "subtype": "bot_message",
        "text": msg.text or "",
        "ts": msg.ts,
        "user": app.user_id,
        "bot_id": app.bot_id,
        "team": TEAM_ID,
    }
    if msg.blocks:
        out["blocks"] = msg.blocks
    if msg.attachments:
        out["attachments"] = msg.attachments
    if msg.thread_ts:
        out["thread_ts"] = msg.thread_ts
    if msg.history:
        out["edited"] = {"user": app.user_id, "ts": msg.ts}
    return out


def _path_of(url_or_path: str) -> str:
    return "/services/" + url_or_path.split("/services/", 1)[1]


def _hex(text: str, n: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n].upper()


def _str_or_none(value: Any) -> str | None:
    return None if value in (None, "") else str(value)
