"""One GET to a backend (Loki, Prometheus) with its credentials and timeout, errors translated.

Credentials come from `http_config` (basic auth or an Authorization header), read from their
files at each request so a rotated secret is picked up. Every failure becomes an
`EnrichmentError` whose text names the service and the cause only: no URL, no credential.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import aiohttp

from app.config import HTTPClientConfig
from app.config.http_auth import authorization_header
from app.core.durations import format_duration
from app.enrich.errors import EnrichmentError, FetchTimeout

__all__ = ["auth_headers", "get_json"]

_BODY_SHOWN = 160
"""Characters of an error body quoted in a note."""


def auth_headers(http_config: HTTPClientConfig, service: str) -> dict[str, str]:
    """The Authorization header `http_config` asks for (none when it asks for none)."""
    try:
        value = authorization_header(http_config)
    except OSError as exc:
        raise EnrichmentError(f"cannot read the {service} credentials file ({exc.strerror})") from None
    return {} if value is None else {"Authorization": value}


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= _BODY_SHOWN else line[: _BODY_SHOWN - 1] + "…"


def _error_text(body: bytes, content_type: str) -> str:
    text = body.decode("utf-8", "replace")
    if "json" in content_type:
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
            return _first_line(parsed["error"])
    return _first_line(text)


async def get_json(
    session: aiohttp.ClientSession,
    url: str,
    *,
    params: Mapping[str, str],
    headers: Mapping[str, str],
    timeout: float,
    service: str,
) -> Any:
    """The decoded JSON of a 200 answer. Raises EnrichmentError / FetchTimeout otherwise."""
    try:
        async with session.get(
            url, params=dict(params), headers=dict(headers), timeout=aiohttp.ClientTimeout(total=timeout)
        ) as resp:
            body = await resp.read()
            if resp.status != 200:
                detail = _error_text(body, resp.content_type)
                raise EnrichmentError(f"{service} answered {resp.status}" + (f": {detail}" if detail else ""))
    except TimeoutError:
        raise FetchTimeout(f"{service} did not answer within {format_duration(timeout)}") from None
    except aiohttp.ClientConnectorError:
        raise EnrichmentError(f"cannot connect to {service}") from None
    except aiohttp.ClientError as exc:
        raise EnrichmentError(f"{service} request failed ({type(exc).__name__})") from None
    try:
        return json.loads(body)
    except ValueError:
        raise EnrichmentError(f"{service} answered with a body that is not JSON") from None
