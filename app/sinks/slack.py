"""Slack: Block Kit messages by bot token (chat.postMessage, edited with chat.update) or through
an incoming webhook (which can never edit: an update posts a new message).

The bot token and the webhook URL are secrets and never appear in exception messages.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from jinja2 import Template

from app.config import SlackConfig, secret
from app.core.chatops.message import slack_actions
from app.core.enrichment import Enrichment
from app.core.enrichment_render import slack_blocks
from app.core.errors import DeliveryError, PermanentError, RetryableError
from app.core.render import SLACK_BLOCK_LIMIT, SLACK_BLOCKS_TEXT_LIMIT, render_slack, utf16_len
from app.sinks.base import BuildContext, Capabilities, Delivery, Integration, MessageRef, RateLimit
from app.sinks.http import USER_AGENT, http_failure, parse_retry_after, scrub

log = logging.getLogger(__name__)

_RETRYABLE = {
    "ratelimited": "rate_limited",
    "rate_limited": "rate_limited",
    "internal_error": "server_error",
    "fatal_error": "server_error",
    "service_unavailable": "server_error",
    "request_timeout": "timeout",
}
_PERMANENT = {
    "invalid_auth": "unauthorized",
    "not_authed": "unauthorized",
    "invalid_token": "unauthorized",
    "account_inactive": "unauthorized",
    "token_revoked": "unauthorized",
    "token_expired": "unauthorized",
    "no_permission": "forbidden",
    "missing_scope": "forbidden",
    "not_in_channel": "forbidden",
    "is_archived": "forbidden",
    "channel_is_archived": "forbidden",
    "restricted_action": "forbidden",
    "action_prohibited": "forbidden",
    "channel_not_found": "not_found",
    "no_service": "not_found",
    "invalid_blocks": "bad_request",
    "invalid_blocks_format": "bad_request",
    "invalid_attachments": "bad_request",
    "msg_too_long": "bad_request",
    "no_text": "bad_request",
    "invalid_payload": "bad_request",
    "invalid_arguments": "bad_request",
    "too_many_attachments": "bad_request",
}
_CANNOT_UPDATE = {"message_not_found", "cant_update_message", "edit_window_closed"}


def _api_error(error: str, detail: str) -> DeliveryError:
    message = f"slack: {error}" + (f" ({detail})" if detail else "")
    if error in _RETRYABLE:
        return RetryableError(message, reason=_RETRYABLE[error])
    return PermanentError(message, reason=_PERMANENT.get(error, "api_error"))


class _CannotUpdate(Exception):
    """chat.update refused: the message is gone or not ours. Post a new one instead."""


class SlackSink:
    """Sends alert groups to one Slack channel."""

    integration = "slack"

    def __init__(
        self,
        config: SlackConfig,
        *,
        session: aiohttp.ClientSession,
        send_timeout: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`clock` gives the render time ("firing for 17m") as Unix seconds."""
        self.clock = clock
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=send_timeout)
        self._title: Template | None = config.title.compiled if config.title else None
        self._text: Template | None = config.text.compiled if config.text else None
        self._token: str | None = None
        self._hook: str | None = None
        if config.uses_bot_token:
            self._token = secret(config, "app_token")
            if not self._token:
                raise ValueError("slack app_token is empty")
            self._api = str(config.app_url).rstrip("/")
            self._channel = config.channel or ""
            self._bucket = self._channel
        else:
            self._hook = secret(config, "api_url")
            if not self._hook:
                raise ValueError("slack api_url is empty")
            self._bucket = "hook-" + hashlib.sha256(self._hook.encode()).hexdigest()[:16]
        self._secrets = [s for s in (self._token, self._hook) if s]

    def rate_limits(self) -> list[RateLimit]:
        return [RateLimit(f"slack:channel:{self._bucket}", 1.0, 1)]

    async def send(self, delivery: Delivery) -> MessageRef | None:
        now = datetime.fromtimestamp(self.clock(), UTC)
        message = render_slack(
            delivery.group, kind=delivery.kind, title=self._title, text=self._text, now=now
        )
        if message.template_error:
            log.warning(
                "%s: Slack template failed, sent the default: %s",
                delivery.destination,
                message.template_error,
            )
        payload = message.payload()
        if delivery.enrichment is not None:
            _add_enrichment(payload, delivery.enrichment)
        if delivery.chat is not None and self._hook is None:
            # Buttons only by bot token: a webhook's message can never be edited to show a tap.
            payload["blocks"] = slack_actions(delivery.chat.state, key=delivery.chat.key)
        if self._hook is not None:
            await self._webhook(payload)  # an incoming webhook cannot upload files: no graph
            return None
        previous = delivery.previous
        if delivery.kind == "update" and previous and previous.get("channel") and previous.get("ts"):
            try:
                return await self._api_call(
                    "chat.update", {"channel": previous["channel"], "ts": previous["ts"], **payload}
                )
            except _CannotUpdate:
                log.info(
                    "%s: previous Slack message cannot be updated, posting a new one", delivery.destination
                )
        ref = await self._api_call(
            "chat.postMessage",
            {"channel": self._channel, "unfurl_links": False, "unfurl_media": False, **payload},
        )
        if delivery.enrichment is not None and delivery.enrichment.graphs:
            await self._upload_graphs(delivery, delivery.enrichment, ref)
        return ref

    async def _upload_graphs(self, delivery: Delivery, enrichment: Enrichment, ref: MessageRef) -> None:
        """Each graph into the alert's thread (files.getUploadURLExternal, POST the bytes,
        files.completeUploadExternal), each paced by the channel's rate limit (sharing a file posts
        into the channel). The message is already out: a failure is logged only."""
        for n, graph in enumerate(enrichment.graphs, 1):
            await delivery.pace()
            try:
                await self._upload(f"graph-{n}.png", graph.png, graph.caption, ref)
            except (DeliveryError, _CannotUpdate) as exc:
                log.warning("%s: graph not uploaded: %s", delivery.destination, exc)

    async def _upload(self, filename: str, data: bytes, title: str, ref: MessageRef) -> None:
        assert self._token is not None
        await FileUpload(self._session, self._api, self._token, self._timeout).share(
            UploadedFile(filename, data, "image/png", title),
            channel=str(ref["channel"]),
            thread_ts=str(ref["ts"]),
        )

    async def aclose(self) -> None:
        """Nothing to close: the HTTP session is shared and owned by the caller."""

    async def reply(self, destination: str, text: str, previous: MessageRef | None) -> None:
        """A reply in the message's thread (`thread_ts`); an incoming webhook cannot thread, so
        there the line is posted to its channel."""
        if self._hook is not None:
            await self._webhook({"text": text})
            return
        body: dict[str, Any] = {"channel": self._channel, "text": text, "unfurl_links": False}
        if previous and previous.get("channel") and previous.get("ts"):
            body |= {"channel": previous["channel"], "thread_ts": previous["ts"]}
        await self._api_call("chat.postMessage", body)

    async def _post(
        self, url: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, float | None, str]:
        try:
            async with self._session.post(
                url,
                data=json.dumps(body),
                headers={
                    "Content-Type": "application/json; charset=utf-8",
                    "User-Agent": USER_AGENT,
                    **headers,
                },
                timeout=self._timeout,
            ) as resp:
                return (
                    resp.status,
                    parse_retry_after(resp.headers.get("Retry-After")),
                    await resp.text(errors="replace"),
                )
        except TimeoutError:
            raise RetryableError("slack: timed out", reason="timeout") from None
        except aiohttp.ClientError as exc:
            message = scrub(f"slack: {type(exc).__name__}: {exc}", self._secrets)
            raise RetryableError(message, reason="network") from None

    def _http_error(self, status: int, retry_after: float | None, text: str) -> DeliveryError:
        return _http_error(status, retry_after, text, self._secrets)

    async def _webhook(self, payload: dict[str, Any]) -> None:
        assert self._hook is not None
        status, retry_after, text = await self._post(self._hook, payload, {})
        if status != 200:
            raise self._http_error(status, retry_after, text)

    async def _api_call(self, method: str, body: dict[str, Any]) -> MessageRef:
        status, retry_after, text = await self._post(
            f"{self._api}/{method}", body, {"Authorization": f"Bearer {self._token}"}
        )
        if status != 200:
            raise self._http_error(status, retry_after, text)
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise RetryableError(
                f"slack: {method} answered with something other than JSON", reason="server_error"
            )
        if not data.get("ok"):
            error = str(data.get("error") or "unknown_error")
            if method == "chat.update" and error in _CANNOT_UPDATE:
                raise _CannotUpdate(error)
            detail = "; ".join(str(e) for e in data.get("errors") or [])[:300]
            raise _api_error(error, scrub(detail, self._secrets))
        return {
            "channel": str(data.get("channel") or body["channel"]),
            "ts": str(data.get("ts") or body.get("ts") or ""),
        }


def _http_error(status: int, retry_after: float | None, text: str, secrets: list[str]) -> DeliveryError:
    detail = " ".join(text.split())[:200]
    message = scrub(f"slack: HTTP {status}: {detail}", secrets)
    if status != 429 and status < 500 and detail in _PERMANENT:
        return PermanentError(message, reason=_PERMANENT[detail])
    return http_failure(status, message, retry_after=retry_after)


@dataclass(frozen=True)
class UploadedFile:
    filename: str
    data: bytes
    content_type: str
    title: str


class FileUpload:
    """Slack's file upload v2 with a bot token: files.getUploadURLExternal, POST the bytes to the
    URL it gives, files.completeUploadExternal into a channel (by id) and thread. Used for the
    graphs of a message and for a post-mortem sent from a button (app.web.chat_slack)."""

    def __init__(
        self, session: aiohttp.ClientSession, api_url: str, token: str, timeout: aiohttp.ClientTimeout
    ) -> None:
        self._session = session
        self._api = api_url.rstrip("/")
        self._token = token
        self._timeout = timeout
        self._secrets = [token]

    async def share(self, file: UploadedFile, *, channel: str, thread_ts: str) -> None:
        """Upload `file` and share it in `channel`'s thread `thread_ts`. Raises DeliveryError."""
        got = await self._form_call(
            "files.getUploadURLExternal", {"filename": file.filename, "length": str(len(file.data))}
        )
        upload_url, file_id = str(got.get("upload_url") or ""), str(got.get("file_id") or "")
        if not upload_url.startswith(("http://", "https://")) or not file_id:
            raise RetryableError(
                "slack: files.getUploadURLExternal gave no upload_url", reason="server_error"
            )
        form = aiohttp.FormData()
        form.add_field("file", file.data, filename=file.filename, content_type=file.content_type)
        try:
            async with self._session.post(
                upload_url, data=form, headers={"User-Agent": USER_AGENT}, timeout=self._timeout
            ) as resp:
                if resp.status != 200:
                    raise _http_error(resp.status, None, await resp.text(errors="replace"), self._secrets)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise RetryableError(scrub(f"slack: upload: {type(exc).__name__}", self._secrets)) from None
        files = json.dumps([{"id": file_id, "title": file.title}])
        await self._form_call(
            "files.completeUploadExternal", {"files": files, "channel_id": channel, "thread_ts": thread_ts}
        )

    async def _form_call(self, method: str, fields: dict[str, str]) -> dict[str, Any]:
        """A Web API method that takes form fields (the file upload methods)."""
        try:
            async with self._session.post(
                f"{self._api}/{method}",
                data=fields,
                headers={"Authorization": f"Bearer {self._token}", "User-Agent": USER_AGENT},
                timeout=self._timeout,
            ) as resp:
                status, text = resp.status, await resp.text(errors="replace")
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise RetryableError(scrub(f"slack: {method}: {type(exc).__name__}", self._secrets)) from None
        if status != 200:
            raise _http_error(status, retry_after, text, self._secrets)
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise RetryableError(
                f"slack: {method} answered with something other than JSON", reason="server_error"
            )
        if not data.get("ok"):
            raise _api_error(str(data.get("error") or "unknown_error"), "")
        return data


def _texts(block: dict[str, Any]) -> list[str]:
    parts = [block.get("text"), *block.get("elements", [])]
    return [str(p["text"]) for p in parts if isinstance(p, dict) and "text" in p]


def _add_enrichment(payload: dict[str, Any], enrichment: Enrichment) -> None:
    """Log lines and notes as blocks before the context line, in the room the alerts left."""
    blocks: list[dict[str, Any]] = payload["attachments"][0]["blocks"]
    used = sum(utf16_len(t) for b in blocks for t in _texts(b))
    extra = slack_blocks(
        enrichment,
        blocks=SLACK_BLOCK_LIMIT - len(blocks),
        chars=max(0, SLACK_BLOCKS_TEXT_LIMIT - used),
    )
    blocks[-1:-1] = extra


def _build(config: SlackConfig, context: BuildContext) -> SlackSink:
    return SlackSink(config, session=context.session, send_timeout=context.send_timeout)


INTEGRATION = Integration(
    "slack",
    SlackConfig,
    Capabilities(edits_in_place=True, threads=True, replies=True, chat_buttons=True),
    _build,
)
