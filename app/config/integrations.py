"""The config model of each integration kind (`telegram_configs`, `slack_configs`, ...).

`KINDS` is the table the receivers section is built from: a new kind is one model here (or in
its own module) and one line in `KINDS`; its sink registers its builder in app/sinks/registry.
"""

from __future__ import annotations

import re
from email.utils import getaddresses
from typing import ClassVar

from pydantic import AnyHttpUrl, Field, field_validator, model_validator

from app.config.base import ConfigPath, Strict, one_of
from app.config.secrets import Secret, SecretField, SecretFile, SecretModel, Secrets
from app.config.server import BasicAuth, split_listen
from app.config.templates import HtmlTemplate, TextTemplate


class IntegrationConfig(SecretModel):
    """What every integration has."""

    send_resolved: bool = True
    enrich: bool = True
    """Show the `enrichment:` section's log lines and graphs here (false: plain messages)."""

    def in_flight_limit(self) -> int:
        """Deliveries to this destination at once (1: strict destination order)."""
        return 1


class TelegramConfig(IntegrationConfig):
    secrets: ClassVar[Secrets] = (SecretField("bot_token"),)
    bot_token: Secret = None
    bot_token_file: SecretFile = None
    chat_id: int
    message_thread_id: int | None = None
    api_url: AnyHttpUrl = AnyHttpUrl("https://api.telegram.org")
    disable_notifications: bool = False
    message: HtmlTemplate | None = None
    """Jinja2 template (HTML, autoescaped) replacing the default message body."""


class SlackConfig(IntegrationConfig):
    secrets: ClassVar[Secrets] = (
        SecretField("api_url", required=False),
        SecretField("app_token", required=False),
    )
    api_url: Secret = None
    """Incoming webhook URL (a secret: it embeds the credentials). Cannot edit messages."""
    api_url_file: SecretFile = None
    app_token: Secret = None
    """Bot token (xoxb-...) for chat.postMessage / chat.update."""
    app_token_file: SecretFile = None
    app_url: AnyHttpUrl = AnyHttpUrl("https://slack.com/api")
    channel: str | None = None
    title: TextTemplate | None = None
    """Jinja2 template for the header line (plain text)."""
    text: TextTemplate | None = None
    """Jinja2 template (Slack mrkdwn) replacing the default body."""

    @model_validator(mode="after")
    def _mode(self) -> SlackConfig:
        if self.has_secret("api_url") == self.has_secret("app_token"):
            raise ValueError(
                "set either api_url/api_url_file (incoming webhook) or app_token/app_token_file (bot token)"
            )
        if self.uses_bot_token and not self.channel:
            raise ValueError("channel is required with app_token")
        return self

    @property
    def uses_bot_token(self) -> bool:
        return self.has_secret("app_token")


class TLSConfig(Strict):
    ca_file: ConfigPath | None = None
    insecure_skip_verify: bool = False
    server_name: str | None = None


class EmailConfig(IntegrationConfig):
    secrets: ClassVar[Secrets] = (SecretField("auth_password", required=False),)
    to: str = Field(min_length=3)
    from_: str = Field(alias="from", min_length=3)
    smarthost: str
    hello: str = "localhost"
    auth_username: str | None = None
    auth_password: Secret = None
    auth_password_file: SecretFile = None
    require_tls: bool = True
    """STARTTLS is required (port 465 uses implicit TLS instead)."""
    tls_config: TLSConfig = TLSConfig()
    headers: dict[str, TextTemplate] = Field(default_factory=dict)
    """Extra headers; `Subject` is a Jinja2 template replacing the default subject."""
    html: HtmlTemplate | None = None
    text: TextTemplate | None = None

    @field_validator("smarthost")
    @classmethod
    def _smarthost(cls, v: str) -> str:
        split_listen(v)
        return v

    @field_validator("to")
    @classmethod
    def _to(cls, v: str) -> str:
        # Checked here, not first when the sink is built: check-config refuses what serve would.
        if not any(addr for _, addr in getaddresses([v])):
            raise ValueError(f"no recipient address in {v!r}")
        return v

    @model_validator(mode="after")
    def _auth(self) -> EmailConfig:
        if self.has_secret("auth_password") and not self.auth_username:
            raise ValueError("auth_username is required with auth_password")
        return self


class Authorization(SecretModel):
    secrets: ClassVar[Secrets] = (SecretField("credentials"),)
    type: str = "Bearer"
    credentials: Secret = None
    credentials_file: SecretFile = None


class HTTPClientConfig(Strict):
    """Outbound credentials, as Alertmanager's `http_config` (subset)."""

    authorization: Authorization | None = None
    basic_auth: BasicAuth | None = None

    @model_validator(mode="after")
    def _one(self) -> HTTPClientConfig:
        one_of(self, "authorization", "basic_auth", required=False)
        return self


class WebhookConfig(IntegrationConfig):
    secrets: ClassVar[Secrets] = (SecretField("url"),)
    url: Secret = None
    url_file: SecretFile = None
    http_config: HTTPClientConfig = HTTPClientConfig()
    max_alerts: int = Field(default=0, ge=0)
    max_in_flight: int = Field(default=1, ge=1, le=64)
    """Deliveries to this URL at once. 1 keeps strict destination order; above 1, order is
    kept within each alert group only (for receivers that take many groups per second)."""

    def in_flight_limit(self) -> int:
        return self.max_in_flight

    @field_validator("url")
    @classmethod
    def _url(cls, v: Secret) -> Secret:
        if (
            v is not None
            and v.get_secret_value()
            and not re.match(r"^https?://[^/\s]+", v.get_secret_value())
        ):
            raise ValueError("url must be an http:// or https:// URL")
        return v


class FileConfig(IntegrationConfig):
    """Appends each notification, rendered as plain text, to a local file (demos, audit)."""

    path: ConfigPath


KINDS: dict[str, type[IntegrationConfig]] = {
    "telegram": TelegramConfig,
    "slack": SlackConfig,
    "email": EmailConfig,
    "webhook": WebhookConfig,
    "file": FileConfig,
}
"""Integration kind -> its config model; a receiver lists them under `<kind>_configs`."""
