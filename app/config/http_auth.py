"""The `Authorization` header an outbound `http_config` asks for, secrets read at call time.

The one builder for the Loki/Prometheus clients, the remediation `http` action and the silences
client (adapters cannot import one another; all of them may import config).
"""

from __future__ import annotations

import base64

from app.config.integrations import HTTPClientConfig
from app.config.secrets import secret


def authorization_header(http_config: HTTPClientConfig) -> str | None:
    """`Basic …` or `<type> <credentials>`; None when no credentials are configured.
    Raises OSError when a credentials file cannot be read."""
    if http_config.basic_auth is not None:
        auth = http_config.basic_auth
        pair = f"{auth.username}:{secret(auth, 'password') or ''}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")
    if http_config.authorization is not None:
        a = http_config.authorization
        return f"{a.type} {secret(a, 'credentials') or ''}"
    return None
