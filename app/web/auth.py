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
