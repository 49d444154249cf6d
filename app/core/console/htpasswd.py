"""The console's users file: Apache htpasswd lines `user:hash`, bcrypt hashes only.

`htpasswd -B` writes `$2y$`; Python's bcrypt writes `$2b$`. Any other kind of hash (MD5 `$apr1$`,
SHA-1 `{SHA}`, crypt, plain text) is refused naming the line: those are too weak to guard who may
approve an action on production. Blank lines and `#` comments are skipped.
"""

from __future__ import annotations

import re

USER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
"""A console user name: what `console:<user>` in `chatops.permissions` names."""
_BCRYPT = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")
_KINDS = (
    ("$apr1$", "an Apache MD5 ($apr1$)"),
    ("{SHA}", "a SHA-1 ({SHA})"),
    ("$1$", "an MD5-crypt ($1$)"),
    ("$5$", "a SHA-256-crypt ($5$)"),
    ("$6$", "a SHA-512-crypt ($6$)"),
    ("$2a$", "a bcrypt $2a$ (an old, buggy variant)"),
)


def _kind(hashed: str) -> str:
    for prefix, name in _KINDS:
        if hashed.startswith(prefix):
            return name
    return "a plain-text or crypt(3)"


def parse_htpasswd(text: str) -> dict[str, bytes]:
    """User name → bcrypt hash. Raises ValueError naming the first bad line (never its hash)."""
    users: dict[str, bytes] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        if not sep or not user:
            raise ValueError(f"line {number}: not `user:hash`")
        if not USER.fullmatch(user):
            raise ValueError(
                f"line {number}: user name {user[:64]!r} is not 1-64 letters, digits, '.', '_', '@' or '-'"
            )
        if user in users:
            raise ValueError(f"line {number}: user {user!r} is listed twice")
        if not (hashed.startswith(("$2y$", "$2b$")) and _BCRYPT.fullmatch(hashed)):
            if hashed.startswith(("$2y$", "$2b$")):
                raise ValueError(f"line {number}: user {user!r} has a malformed bcrypt hash")
            raise ValueError(
                f"line {number}: user {user!r} has {_kind(hashed)} hash; only bcrypt ($2y$ or $2b$, "
                "`htpasswd -B`) is accepted"
            )
        users[user] = hashed.encode()
    return users
