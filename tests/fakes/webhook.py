"""WebhookSink: a generic HTTP receiver recording what is POSTed to it (any path).

Answers ``200 {"ok": true}`` by default (``status`` / ``response_body`` change that).
With ``token`` set, requests without ``Authorization: Bearer <token>`` get ``401
{"error": "unauthorized"}`` and a ``WWW-Authenticate: Bearer`` header. Failures are
scripted with :meth:`WebhookSink.fail_next`; :meth:`hold` / :meth:`release` come from the
base class.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from multidict import CIMultiDict

from tests.fakes.base import FakeHTTPServer, Injection, RecordedRequest, Reply

__all__ = ["WebhookDelivery", "WebhookSink"]


@dataclass
class WebhookDelivery:
    """A request the sink accepted (2xx written out)."""

    method: str
    path: str
    headers: CIMultiDict[str]
    body: bytes
    json: Any
    """Decoded JSON body, ``None`` if it was not JSON."""
    query: dict[str, str]


class WebhookSink(FakeHTTPServer):
    """Generic webhook receiver; ``url_for("/hook")`` gives a full URL."""

    def __init__(self, token: str | None = None, *, status: int = 200, response_body: Any = None) -> None:
        super().__init__()
        self.token = token
        """Required bearer token (``None``: no auth)."""
        self.status = status
        """Status of normal answers (non-2xx answers are not counted as deliveries)."""
        self.response_body: Any = {"ok": True} if response_body is None else response_body
        self.deliveries: list[WebhookDelivery] = []
        """Accepted requests (2xx, fully answered), in order."""

    def url_for(self, path: str = "/") -> str:
        return f"{self.url}/{path.lstrip('/')}"

    def fail_next(
        self,
        n: int = 1,
        status: int = 503,
        retry_after: float | None = None,
        *,
        body: Any = None,
        path: str | None = None,
        delay: float = 0.0,
        disconnect: bool = False,
    ) -> None:
        """Answer the next ``n`` requests (to ``path`` if given) with ``status``; with
        ``retry_after`` a ``Retry-After`` header is added. ``disconnect=True`` drops the
        connection without an answer."""

        def match(rec: RecordedRequest) -> bool:
            return path is None or rec.path == "/" + path.lstrip("/")

        extra = {"body": {"error": f"injected {status}"} if body is None else body}
        self.inject(Injection(status, retry_after, match, extra, delay, disconnect), n)

    @property
    def received(self) -> list[Any]:
        """JSON bodies of the accepted deliveries."""
        return [d.json for d in self.deliveries]

    async def wait_for(self, n: int = 1, timeout: float = 5.0) -> list[WebhookDelivery]:
        """Wait until ``n`` deliveries were accepted; returns them all."""
        await self.wait_until(
            lambda: len(self.deliveries) >= n,
            timeout,
            f"{n} webhook deliveries (have {len(self.deliveries)})",
        )
        return list(self.deliveries)

    def _render_injection(self, rec: RecordedRequest, inj: Injection) -> Reply:
        headers = {} if inj.retry_after is None else {"Retry-After": f"{inj.retry_after:g}"}
        return Reply(inj.status, inj.extra["body"], headers)

    def _handle(self, rec: RecordedRequest) -> Reply:
        if self.token is not None:
            given = rec.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
                return Reply(401, {"error": "unauthorized"}, {"WWW-Authenticate": "Bearer"})
        if not 200 <= self.status < 300:
            return Reply(self.status, self.response_body)
        delivery = WebhookDelivery(rec.method, rec.path, rec.headers, rec.body, rec.json, rec.query)
        self.deliveries.append(delivery)
        return Reply(self.status, self.response_body, undo=lambda: self.deliveries.remove(delivery))
