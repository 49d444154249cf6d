"""Console sessions and forms, pure: what the store keeps of a session token, the CSRF token
tied to it, the Origin / Referer check of a form post, and the login throttle's limits.

The browser holds a random token (cookie); the store keeps only its SHA-256, so a copy of the
database opens no session. The CSRF token is an HMAC of the session token: tied to that session,
the same on every replica, and unknowable to a page that cannot read the HttpOnly cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import urlsplit

COOKIE = "alertmedic_session"
CSRF_FIELD = "csrf"

LOGIN_WINDOW = 900.0
"""Failed logins are counted over this many seconds."""
USER_FAILURES = 5
"""Failed logins of one user name within the window before its logins are refused."""
ADDRESS_FAILURES = 20
"""Failed logins from one client address within the window before its logins are refused."""


def token_hash(token: str) -> str:
    """What the store keeps of a session token."""
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(token: str) -> str:
    """The CSRF token of the session whose cookie is `token`."""
    mac = hmac.new(token.encode(), b"alertmedic console form", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def csrf_ok(token: str, presented: str | None) -> bool:
    """The form carries the CSRF token of this session (constant-time)."""
    return bool(presented) and hmac.compare_digest(csrf_token(token).encode(), (presented or "").encode())


def same_origin(origin: str | None, referer: str | None, *, scheme: str, host: str) -> bool:
    """A form post comes from our own pages: its Origin (or, without one, its Referer) is
    `scheme://host`. Neither header: refused (browsers send Origin on every POST)."""
    ours = f"{scheme}://{host}".lower()
    if origin:
        return origin.strip().lower() == ours
    if referer:
        parts = urlsplit(referer.strip())
        return f"{parts.scheme}://{parts.netloc}".lower() == ours
    return False


@dataclass(frozen=True)
class ConsoleSession:
    """A live session: who, and until when."""

    user: str
    created_at: float
    expires_at: float


def throttle_keys(user: str, address: str) -> tuple[str, str]:
    """The failure counters a login attempt is checked against and adds to."""
    return f"user:{user.lower()[:64]}", f"addr:{address}"


def throttled(failures: dict[str, int], user: str, address: str) -> bool:
    """Too many recent failures for this user name or this address."""
    user_key, addr_key = throttle_keys(user, address)
    return failures.get(user_key, 0) >= USER_FAILURES or failures.get(addr_key, 0) >= ADDRESS_FAILURES
