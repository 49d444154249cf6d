"""HTTP helpers every HTTP sink shares: the User-Agent, Retry-After, status policy, scrubbing.

One module so that no sink imports another sink.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from app.core.errors import DeliveryError, PermanentError, RetryableError

USER_AGENT = "alertmedic"


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP-date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


_HTTP_REASONS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    410: "not_found",
    413: "too_large",
}


def http_failure(status: int, message: str, *, retry_after: float | None) -> DeliveryError:
    """What a non-2xx HTTP answer means: 429 and 5xx are retried (honouring Retry-After), every
    other status is final, with a reason word for the metrics."""
    if status == 429:
        return RetryableError(message, reason="rate_limited", retry_after=retry_after)
    if status >= 500:
        return RetryableError(message, reason="server_error", retry_after=retry_after)
    return PermanentError(message, reason=_HTTP_REASONS.get(status, "http_error"))


def scrub(text: str, secrets: list[str]) -> str:
    """Text with every non-empty secret replaced by `***`."""
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
