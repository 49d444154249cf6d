"""Alertmanager API v2 silences: create, expire, list. Answers become the project's errors here,
with Alertmanager's own words kept, because the person who tapped Silence is shown them:

    RetryableError   unreachable, timeout, 5xx, 429 (reason: unreachable, timeout, server_error, ...)
    PermanentError   other 4xx: invalid silence (bad_request), unknown id (not_found, also
                     Alertmanager 0.25's 500 "silence not found" on DELETE), auth

Expiring an already expired silence succeeds (measured on 0.25), so Unsilence can be repeated.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import aiohttp

from app.config.chatops import ChatAlertmanagerConfig
from app.config.http_auth import authorization_header
from app.core.chatops.silences import SilenceMatcher, SilenceRequest
from app.core.errors import DeliveryError, PermanentError, RetryableError

_REASONS = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 422: "bad_request"}
_MAX_DETAIL = 300


@dataclass(frozen=True)
class Silence:
    """A silence as Alertmanager lists it; `state` is active, pending or expired."""

    id: str
    state: str
    matchers: tuple[SilenceMatcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str


def _time(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _silence(data: Any) -> Silence:
    try:
        return Silence(
            id=str(data["id"]),
            state=str(data["status"]["state"]),
            matchers=tuple(
                SilenceMatcher(
                    str(m["name"]), str(m["value"]), bool(m["isRegex"]), bool(m.get("isEqual", True))
                )
                for m in data["matchers"]
            ),
            starts_at=_time(data["startsAt"]),
            ends_at=_time(data["endsAt"]),
            created_by=str(data.get("createdBy", "")),
            comment=str(data.get("comment", "")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise PermanentError(
            f"Alertmanager sent a silence we cannot read ({exc!r})", reason="bad_response"
        ) from None


def _detail(text: str) -> str:
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = text
    if isinstance(parsed, dict):
        parsed = parsed.get("message") or parsed.get("error") or text
    detail = " ".join(str(parsed).split())
    return detail[:_MAX_DETAIL] + ("…" if len(detail) > _MAX_DETAIL else "")


def api_failure(status: int, text: str, *, what: str) -> DeliveryError:
    """The error for a non-2xx answer to `what` (e.g. "creating the silence")."""
    detail = _detail(text)
    message = f"Alertmanager refused {what}: {status} {detail}".rstrip()
    if status == 500 and detail.lower() == "silence not found":
        # Alertmanager 0.25 answers an unknown id on DELETE with 500 (GET says 404).
        return PermanentError(message, reason="not_found")
    if status == 429:
        return RetryableError(message, reason="rate_limited")
    if status >= 500:
        return RetryableError(message, reason="server_error")
    return PermanentError(message, reason=_REASONS.get(status, "http_error"))


class SilencesClient:
    """Silences in one Alertmanager (`chatops.alertmanager`)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._session = session
        self._url = url.rstrip("/")
        self._headers = headers or {}
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    @classmethod
    def from_config(cls, session: aiohttp.ClientSession, config: ChatAlertmanagerConfig) -> SilencesClient:
        """A client with the config's credentials (secret files read now)."""
        header = authorization_header(config.http_config)
        headers = {"Authorization": header} if header is not None else {}
        return cls(session, str(config.url), headers=headers, timeout=config.timeout)

    async def _call(self, method: str, path: str, *, what: str, body: Any = None, params: Any = None) -> Any:
        try:
            async with self._session.request(
                method,
                self._url + path,
                json=body,
                params=params,
                headers=self._headers,
                timeout=self._timeout,
            ) as resp:
                text = await resp.text()
                if resp.status >= 300:
                    raise api_failure(resp.status, text, what=what)
        except TimeoutError:
            raise RetryableError(f"Alertmanager did not answer {what} in time", reason="timeout") from None
        except aiohttp.ClientError as exc:
            raise RetryableError(
                f"Alertmanager is unreachable for {what}: {type(exc).__name__}", reason="unreachable"
            ) from None
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError:
            raise PermanentError(
                f"Alertmanager's answer to {what} is not JSON", reason="bad_response"
            ) from None

    async def create(self, request: SilenceRequest) -> str:
        """Create the silence; its id."""
        data = await self._call(
            "POST", "/api/v2/silences", what="creating the silence", body=request.to_api()
        )
        silence_id = data.get("silenceID") if isinstance(data, dict) else None
        if not isinstance(silence_id, str) or not silence_id:
            raise PermanentError("Alertmanager's answer has no silenceID", reason="bad_response")
        return silence_id

    async def expire(self, silence_id: str) -> None:
        """Expire the silence (Alertmanager keeps it, expired). Unknown id: PermanentError not_found."""
        await self._call(
            "DELETE", f"/api/v2/silence/{quote(silence_id, safe='')}", what=f"expiring silence {silence_id}"
        )

    async def get(self, silence_id: str) -> Silence:
        data = await self._call(
            "GET", f"/api/v2/silence/{quote(silence_id, safe='')}", what=f"reading silence {silence_id}"
        )
        return _silence(data)

    async def list(self, *, filters: Sequence[str] = ()) -> list[Silence]:
        """Every silence (active, pending, expired), or those whose matchers include `filters`
        (Alertmanager's `filter=` matchers, e.g. `alertname="X"`)."""
        params = [("filter", f) for f in filters]
        data = await self._call("GET", "/api/v2/silences", what="listing silences", params=params)
        if not isinstance(data, list):
            raise PermanentError("Alertmanager's silence list is not a list", reason="bad_response")
        return [_silence(item) for item in data]
