"""`http`: call an endpoint (method, URL and credentials from the config) and judge its status.

429 and 502/503/504 are retried (honouring a delta-seconds Retry-After); a refused connection is
retried too. A timeout is retried as well, although the endpoint may have acted: endpoints made for
this (reload, flush) are expected to be idempotent. Any other status is the verdict.
"""

from __future__ import annotations

import aiohttp

from app.config import HTTPClientConfig
from app.config.http_auth import authorization_header
from app.core.errors import RetryableError
from app.core.remediation.actions import HttpCall
from app.core.remediation.verdict import Verdict, http_verdict

USER_AGENT = "alertmedic"
_RETRY_STATUSES = frozenset({429, 502, 503, 504})


def auth_header(http_config: HTTPClientConfig | None) -> str | None:
    """The Authorization header value, secrets read now (files may rotate)."""
    return None if http_config is None else authorization_header(http_config)


async def call_http(
    session: aiohttp.ClientSession, call: HttpCall, *, http_config: HTTPClientConfig | None = None
) -> Verdict:
    """Make the request once; the verdict, or RetryableError when it is worth another attempt."""
    headers = {"User-Agent": USER_AGENT}
    auth = auth_header(http_config)
    if auth is not None:
        headers["Authorization"] = auth
    what = f"{call.method} {call.url}"
    try:
        async with session.request(
            call.method, call.url, headers=headers, timeout=aiohttp.ClientTimeout(total=call.timeout)
        ) as resp:
            await resp.read()
            status = resp.status
            retry_after = resp.headers.get("Retry-After")
    except TimeoutError:
        raise RetryableError(f"{what}: no answer within {call.timeout:g} s", reason="timeout") from None
    except aiohttp.ClientError as exc:
        raise RetryableError(f"{what}: {type(exc).__name__}", reason="unreachable") from None
    if status in _RETRY_STATUSES and not call.expected(status):
        delay = float(retry_after) if retry_after and retry_after.isdigit() else None
        raise RetryableError(f"{what}: HTTP {status}", reason="server_error", retry_after=delay)
    return http_verdict(call, status)
