"""Shared machinery of the HTTP fakes: a real aiohttp server on ``127.0.0.1:0``.

A subclass implements :meth:`FakeHTTPServer._handle` (synchronous: it decides the reply
and applies its state change in one step, returning an ``undo`` for that change) and
:meth:`FakeHTTPServer._render_injection` (how an injected failure looks on its wire).

Request life cycle, identical for every fake:

1. the request is parsed and appended to :attr:`FakeHTTPServer.requests` at once
   (``status is None`` while in flight);
2. while the fake is *held* (:meth:`hold`) it waits for :meth:`release`;
3. the first matching scripted :class:`Injection` (:meth:`inject`) replaces the normal
   answer, otherwise ``_handle`` answers;
4. the response is written out. Only once it has been fully written is ``status`` set and
   the state change kept. If the client went away first (the server runs with aiohttp's
   ``handler_cancellation=True``, so a disconnect cancels the handler), the change is
   undone and the record gets ``aborted=True``: a request whose client gave up is never
   counted as delivered.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl

from aiohttp import web
from multidict import CIMultiDict

__all__ = ["FakeHTTPServer", "Injection", "RecordedRequest", "Reply", "UploadedFile"]

_HOST = "127.0.0.1"


@dataclass
class UploadedFile:
    """A file part of a ``multipart/form-data`` body."""

    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class RecordedRequest:
    """One HTTP request as received, plus how it ended."""

    method: str
    path: str
    headers: CIMultiDict[str]
    query: dict[str, str]
    body: bytes
    content_type: str
    json: Any = None
    """Decoded body when it was ``application/json`` and valid, else ``None``."""
    json_error: bool = False
    """True when the body claimed to be JSON but did not parse."""
    form: dict[str, str] = field(default_factory=dict)
    """Text fields of an urlencoded or multipart body."""
    files: dict[str, UploadedFile] = field(default_factory=dict)
    received_at: float = field(default_factory=time.time)
    status: int | None = None
    """HTTP status, set only once the response was completely written."""
    response: Any = None
    """The reply body that was sent (dict for JSON replies)."""
    injected: bool = False
    """True when the reply came from :meth:`FakeHTTPServer.inject` / ``fail_next``."""
    aborted: bool = False
    """True when the client disconnected before the response was written."""

    @property
    def completed(self) -> bool:
        return self.status is not None

    def params(self) -> dict[str, Any]:
        """Query string, form fields and a JSON object body merged (later wins)."""
        merged: dict[str, Any] = dict(self.query)
        merged.update(self.form)
        if isinstance(self.json, dict):
            merged.update(self.json)
        return merged


@dataclass
class Reply:
    """What a fake answers; ``body`` dict/list → JSON, str → text, bytes → raw."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None
    undo: Callable[[], None] | None = None
    """Reverts the state change made while computing this reply (if not delivered)."""


@dataclass
class Injection:
    """A scripted answer replacing the fake's normal one, consumed once.

    ``match`` restricts it to some requests (the default matches all). ``status``,
    ``retry_after`` and ``extra`` are interpreted by each fake's wire format; ``delay``
    sleeps before answering; ``disconnect`` closes the connection without any answer.
    """

    status: int = 500
    retry_after: float | None = None
    match: Callable[[RecordedRequest], bool] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    delay: float = 0.0
    disconnect: bool = False


class FakeHTTPServer:
    """Base class: start/stop, request log, hold/release, scripted failures, waiting."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        """Every request received, in arrival order (including failed/aborted ones)."""
        self._script: list[Injection] = []
        self._gate = asyncio.Event()
        self._gate.set()
        self._held = 0
        self._waiters: set[asyncio.Event] = set()
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    # -- lifecycle -------------------------------------------------------------------
    async def start(self) -> Self:
        """Bind ``127.0.0.1`` on a free port and serve; returns ``self``."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, _HOST, 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self._url = f"http://{host}:{port}"
        return self

    async def stop(self) -> None:
        """Release held requests and shut the server down (idempotent)."""
        self.release()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:43123`` (no trailing slash)."""
        if self._url is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._url

    # -- knobs -------------------------------------------------------------------------
    def hold(self) -> None:
        """Make every request arriving from now on wait until :meth:`release`."""
        self._gate.clear()

    def release(self) -> None:
        """Let held (and future) requests proceed."""
        self._gate.set()

    @property
    def held(self) -> int:
        """Number of requests currently waiting on :meth:`hold`."""
        return self._held

    def inject(self, injection: Injection, times: int = 1) -> None:
        """Script ``injection`` as the answer to the next ``times`` matching requests."""
        self._script.extend(injection for _ in range(times))

    def clear_injections(self) -> None:
        """Drop every scripted answer not consumed yet."""
        self._script.clear()

    @property
    def pending_injections(self) -> int:
        return len(self._script)

    # -- waiting -----------------------------------------------------------------------
    async def wait_until(
        self,
        predicate: Callable[[], bool],
        timeout: float = 5.0,
        what: str = "condition",
    ) -> None:
        """Wait until ``predicate()`` holds (re-checked after every request event).

        Raises ``TimeoutError`` naming ``what`` after ``timeout`` seconds."""
        try:
            async with asyncio.timeout(timeout):
                while not predicate():
                    event = asyncio.Event()
                    self._waiters.add(event)
                    try:
                        await event.wait()
                    finally:
                        self._waiters.discard(event)
        except TimeoutError:
            raise TimeoutError(
                f"{type(self).__name__}: timed out after {timeout}s waiting for {what}"
            ) from None

    async def wait_held(self, n: int = 1, timeout: float = 5.0) -> None:
        """Wait until at least ``n`` requests are parked by :meth:`hold`."""
        await self.wait_until(lambda: self._held >= n, timeout, f"{n} held request(s)")

    def _notify(self) -> None:
        """Wake :meth:`wait_until` callers so they re-check their predicate."""
        for event in self._waiters:
            event.set()

    # -- subclass hooks --------------------------------------------------------------
    def _handle(self, rec: RecordedRequest) -> Reply:
        raise NotImplementedError

    def _render_injection(self, rec: RecordedRequest, inj: Injection) -> Reply:
        raise NotImplementedError

    def _on_received(self, rec: RecordedRequest) -> None:
        """Called as soon as a request is parsed (e.g. to count calls)."""

    async def _before_handle(self, rec: RecordedRequest) -> None:
        """Awaited just before :meth:`_handle` (e.g. a long poll waiting for something to answer)."""

    # -- machinery -------------------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        rec = await _record(request)
        self.requests.append(rec)
        self._on_received(rec)
        self._notify()
        inj: Injection | None = None
        reply: Reply | None = None
        try:
            if not self._gate.is_set():
                self._held += 1
                self._notify()
                try:
                    await self._gate.wait()
                finally:
                    self._held -= 1
            inj = self._take_injection(rec)
            if inj is not None:
                if inj.delay:
                    await asyncio.sleep(inj.delay)
                if inj.disconnect:
                    rec.aborted = True
                    if request.transport is not None:
                        request.transport.abort()
                    return web.Response(status=500)
                rec.injected = True
                reply = self._render_injection(rec, inj)
            elif _client_gone(request):
                rec.aborted = True
                return web.Response(status=500)
            else:
                await self._before_handle(rec)
                reply = self._handle(rec)
            resp = _build_response(reply)
            await resp.prepare(request)
            await resp.write_eof()
        except asyncio.CancelledError:  # client disconnected (handler_cancellation=True)
            self._rollback(reply, rec)
            raise
        except ConnectionError:  # the write failed: the client is gone
            self._rollback(reply, rec)
            return web.Response(status=500)  # aiohttp's finish_response ignores the failure
        rec.status = reply.status
        rec.response = reply.body
        self._notify()
        return resp

    def _rollback(self, reply: Reply | None, rec: RecordedRequest) -> None:
        # A consumed injection stays consumed: with ``delay`` the client giving up is
        # usually the point, and re-arming it would time out every retry as well.
        rec.aborted = True
        if reply is not None and reply.undo is not None:
            reply.undo()
        self._notify()

    def _take_injection(self, rec: RecordedRequest) -> Injection | None:
        for i, inj in enumerate(self._script):
            if inj.match is None or inj.match(rec):
                return self._script.pop(i)
        return None


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _build_response(reply: Reply) -> web.Response:
    headers = dict(reply.headers)
    if isinstance(reply.body, bytes):
        return web.Response(
            status=reply.status,
            body=reply.body,
            headers=headers,
            content_type=reply.content_type or "application/octet-stream",
        )
    if isinstance(reply.body, str):
        return web.Response(
            status=reply.status,
            text=reply.body,
            headers=headers,
            content_type=reply.content_type or "text/plain",
        )
    return web.Response(
        status=reply.status,
        text=json.dumps(reply.body),
        headers=headers,
        content_type=reply.content_type or "application/json",
    )


async def _record(request: web.Request) -> RecordedRequest:
    body = await request.read()
    ctype = request.content_type
    rec = RecordedRequest(
        method=request.method,
        path=request.path,
        headers=CIMultiDict(request.headers),
        query=dict(request.query),
        body=body,
        content_type=ctype,
    )
    if ctype == "application/json" and body:
        try:
            rec.json = json.loads(body)
        except ValueError:
            rec.json_error = True
    elif ctype == "application/x-www-form-urlencoded":
        rec.form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    elif ctype == "multipart/form-data":
        _parse_multipart(request.headers.get("Content-Type", ""), body, rec)
    return rec


def _parse_multipart(content_type: str, body: bytes, rec: RecordedRequest) -> None:
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    parsed = BytesParser(policy=HTTP).parsebytes(head + body)
    parts = parsed.get_payload()
    if not isinstance(parts, list):
        return
    for part in parts:
        if not isinstance(part, Message):
            continue
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            rec.files[name] = UploadedFile(name, filename, part.get_content_type(), data)
        else:
            rec.form[name] = data.decode(part.get_content_charset() or "utf-8", "replace")
