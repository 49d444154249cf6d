"""Inbound authentication of Alertmanager's webhook calls (bearer token or basic auth)."""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass

from app.config import ServerAuth, secret


@dataclass(frozen=True)
class Credentials:
    """What a request must present. Compared in constant time."""

    bearer: bytes | None = None
    basic: tuple[bytes, bytes] | None = None

    @classmethod
    def from_config(cls, auth: ServerAuth) -> Credentials:
        token = secret(auth, "bearer_token")
        if token is not None:
            if not token:
                raise ValueError("server.auth: the bearer token is empty")
            return cls(bearer=token.encode())
        assert auth.basic_auth is not None
        password = secret(auth.basic_auth, "password") or ""
        if not password:
            raise ValueError("server.auth.basic_auth: the password is empty")
        return cls(basic=(auth.basic_auth.username.encode(), password.encode()))

    def secrets(self) -> list[str]:
        out = []
        if self.bearer:
            out.append(self.bearer.decode())
        if self.basic:
            out.append(self.basic[1].decode())
        return out

    @property
    def scheme(self) -> str:
        """The scheme a request must present: `bearer` or `basic`."""
        return "bearer" if self.bearer is not None else "basic"

    def refusal_reason(self, header: str | None) -> tuple[str, str]:
        """(the scheme presented, why it was refused) for a header `check` refused.

        Names the scheme only when it is one we know (an unknown first word could be a bare
        token); never echoes the credential.
        """
        if not header or not header.strip():
            return "none", "no Authorization header"
        presented = header.strip().partition(" ")[0].lower()
        if presented not in ("bearer", "basic"):
            return "unknown", f"an Authorization header of an unknown scheme; {self.scheme} expected"
        if presented != self.scheme:
            return presented, f"{presented} credentials presented; {self.scheme} expected"
        if presented == "bearer":
            return presented, "the bearer token does not match"
        return presented, "the basic auth user name or password does not match"

    def check(self, header: str | None) -> bool:
        """True when the Authorization header carries these credentials."""
        if not header:
            return False
        scheme, _, value = header.strip().partition(" ")
        value = value.strip()
        if self.bearer is not None:
            return scheme.lower() == "bearer" and hmac.compare_digest(value.encode(), self.bearer)
        if self.basic is None or scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return False
        user, sep, password = decoded.partition(b":")
        ok_user = hmac.compare_digest(user, self.basic[0])
        ok_password = hmac.compare_digest(password, self.basic[1])
        return bool(sep) and ok_user and ok_password
