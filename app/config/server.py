"""`server:`: where the webhook listens, how Alertmanager authenticates, request limits."""

from __future__ import annotations

import re
from typing import ClassVar

from pydantic import Field, field_validator, model_validator

from app.config.base import Duration, Strict, one_of
from app.config.secrets import Secret, SecretField, SecretFile, SecretModel, Secrets


class BasicAuth(SecretModel):
    """HTTP basic credentials (`http_config.basic_auth`, `server.auth.basic_auth`)."""

    secrets: ClassVar[Secrets] = (SecretField("password"),)
    username: str = Field(min_length=1)
    password: Secret = None
    password_file: SecretFile = None


class ServerAuth(SecretModel):
    """How the webhook authenticates Alertmanager. Exactly one method; there is no 'off'."""

    secrets: ClassVar[Secrets] = (SecretField("bearer_token", required=False),)
    bearer_token: Secret = None
    bearer_token_file: SecretFile = None
    basic_auth: BasicAuth | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ServerAuth:
        one_of(self, "bearer_token", "bearer_token_file", "basic_auth", required=True)
        return self


class ServerConfig(Strict):
    listen: str = "0.0.0.0:9095"
    auth: ServerAuth
    max_body_bytes: int = Field(default=64 * 1_048_576, ge=1024, le=256 * 1_048_576)
    """Largest webhook body accepted; larger ones get 413, which Alertmanager never retries: the
    group is lost. 64 MiB takes ~99 000 alerts with 8 labels and 2 annotations (50 000 are
    33.8 MB); the service needs 7-10x the body in memory at the peak (README, Performance).
    At most 256 MiB; to bound a group, set `max_alerts` in Alertmanager's webhook_configs."""
    shutdown_timeout: Duration = 10.0

    @field_validator("listen")
    @classmethod
    def _listen(cls, v: str) -> str:
        split_listen(v)
        return v


def split_listen(listen: str) -> tuple[str, int]:
    """("host", port) from "host:port" or "[v6]:port"."""
    m = re.fullmatch(r"\[(?P<h6>[^\]]+)\]:(?P<p6>\d+)|(?P<h>[^:\[\]]*):(?P<p>\d+)", listen)
    if m is None:
        raise ValueError(f"expected host:port, got {listen!r}")
    host = m.group("h6") or m.group("h") or "0.0.0.0"  # noqa: S104 - the documented default
    port = int(m.group("p6") or m.group("p"))
    if not 0 <= port <= 65535:
        raise ValueError(f"port out of range: {port}")
    return host, port
