"""Slack request signing: `X-Slack-Signature` = `v0=` + hex HMAC-SHA256 of
`v0:<X-Slack-Request-Timestamp>:<raw body>` with the app's signing secret.

Checked over the raw body before anything parses it, compared in constant time, and refused when
the timestamp is more than 300 s from now. Replays inside the window are the caller's to refuse
(`replay_key` names a request; keep it until `expires_at`), because that needs shared state.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

MAX_AGE = 300.0
"""Seconds a signed request stays acceptable (Slack's recommendation)."""
MAX_BODY = 1_048_576
"""Largest interaction body accepted."""


class SignatureError(Exception):
    """A request that must be refused; `reason` is a metrics word, the message says why."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Verified:
    """An accepted request: refuse another with the same `replay_key` until `expires_at`."""

    replay_key: str
    expires_at: float


def signature(signing_secret: str, timestamp: str, body: bytes) -> str:
    """The `v0=` signature Slack sends for `body` at `timestamp`."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


def verify(
    signing_secret: str,
    *,
    timestamp: str | None,
    signature_header: str | None,
    body: bytes,
    now: float,
) -> Verified:
    """Check a Slack request. Raises SignatureError (missing headers, too large, stale, bad)."""
    if len(body) > MAX_BODY:
        raise SignatureError(f"body of {len(body)} bytes exceeds {MAX_BODY}", reason="too_large")
    if not timestamp or not signature_header:
        raise SignatureError(
            "missing X-Slack-Request-Timestamp or X-Slack-Signature header", reason="missing_signature"
        )
    try:
        ts = int(timestamp)
    except ValueError:
        raise SignatureError(
            f"X-Slack-Request-Timestamp is not a number: {timestamp[:20]!r}", reason="bad_timestamp"
        ) from None
    if abs(now - ts) > MAX_AGE:
        raise SignatureError(
            f"X-Slack-Request-Timestamp is {abs(now - ts):.0f} s from now (at most {MAX_AGE:.0f} s)",
            reason="stale",
        )
    expected = signature(signing_secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature_header.encode(errors="replace")):
        raise SignatureError("X-Slack-Signature does not match the body", reason="bad_signature")
    return Verified(hashlib.sha256(signature_header.encode()).hexdigest(), ts + MAX_AGE)
