"""Generic webhook: POST the group as an Alertmanager v4 webhook body, with http_config auth.

The URL and credentials are secrets (a URL may carry a token in its path or query): neither
appears in an exception message.
"""

from __future__ import annotations

import base64
import io

import aiohttp

from app.config import WebhookConfig, secret
from app.core.errors import RetryableError
from app.core.models import Group
from app.sinks.base import BuildContext, Capabilities, Delivery, Integration, MessageRef, RateLimit
from app.sinks.http import USER_AGENT, http_failure, parse_retry_after, scrub

__all__ = ["INTEGRATION", "WebhookSink", "parse_retry_after", "webhook_json"]


def webhook_json(group: Group, *, max_alerts: int = 0) -> str:
    """The Alertmanager webhook payload (version 4) for `group`, as JSON text.

    With `max_alerts` > 0 only that many alerts are sent and `truncatedAlerts` counts the rest,
    as Alertmanager does. The Group's own serialisation already has the v4 field names and
    RFC 3339 times (`0001-01-01T00:00:00Z` for a firing alert's end), so this is one pydantic
    dump, not a rebuild per alert (and `WebhookSink` reuses the outbox's copy of that dump).
    """
    if max_alerts and len(group.alerts) > max_alerts:
        group = group.model_copy(
            update={
                "alerts": group.alerts[:max_alerts],
                "truncatedAlerts": group.truncatedAlerts + len(group.alerts) - max_alerts,
            }
        )
    return '{"version":"4",' + group.model_dump_json()[1:]


class WebhookSink:
    """POSTs each group to one URL. 2xx is success; 429 and 5xx are retried."""

    integration = "webhook"

    def __init__(self, config: WebhookConfig, *, session: aiohttp.ClientSession, send_timeout: float) -> None:
        url = secret(config, "url")
        if not url:
            raise ValueError("webhook url is empty")
        self._url = url
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=send_timeout)
        self._max_alerts = config.max_alerts
        self._headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        self._secrets = [url]
        http = config.http_config
        if http.authorization is not None:
            credentials = secret(http.authorization, "credentials") or ""
            self._headers["Authorization"] = f"{http.authorization.type} {credentials}"
            self._secrets.append(credentials)
        elif http.basic_auth is not None:
            password = secret(http.basic_auth, "password") or ""
            pair = f"{http.basic_auth.username}:{password}".encode()
            encoded = base64.b64encode(pair).decode("ascii")
            self._headers["Authorization"] = f"Basic {encoded}"
            self._secrets += [password, encoded]

    def rate_limits(self) -> list[RateLimit]:
        return []

    async def send(self, delivery: Delivery) -> MessageRef | None:
        # A file-like body is sent in chunks as the socket drains: a 33 MB group is not copied
        # into the transport's buffer at once.
        if self._max_alerts:
            body = io.BytesIO(webhook_json(delivery.group, max_alerts=self._max_alerts).encode())
        else:  # the outbox already holds the group's dump: no parse, no re-serialisation
            dump = delivery.payload.encode()
            body = io.BytesIO()
            body.write(b'{"version":"4",')
            body.write(memoryview(dump)[1:])
            body.seek(0)
            del dump
        try:
            async with self._session.post(
                self._url, data=body, headers=self._headers, timeout=self._timeout
            ) as resp:
                status = resp.status
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                detail = (await resp.text(errors="replace"))[:200]
        except TimeoutError:
            raise RetryableError("webhook: timed out", reason="timeout") from None
        except aiohttp.ClientError as exc:
            message = scrub(f"webhook: {type(exc).__name__}: {exc}", self._secrets)
            raise RetryableError(message, reason="network") from None
        if 200 <= status < 300:
            return None
        message = scrub(f"webhook: HTTP {status}: {' '.join(detail.split())}", self._secrets)
        raise http_failure(status, message, retry_after=retry_after)

    async def aclose(self) -> None:
        """Nothing to close: the HTTP session is shared and owned by the caller."""


def _build(config: WebhookConfig, context: BuildContext) -> WebhookSink:
    return WebhookSink(config, session=context.session, send_timeout=context.send_timeout)


INTEGRATION = Integration(
    "webhook", WebhookConfig, Capabilities(edits_in_place=False, threads=False, max_in_flight=64), _build
)
