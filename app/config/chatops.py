"""`chatops:`: responding from chat: the Alertmanager API for silences, the Telegram bot and the
Slack app that receive button taps and commands, silence durations and permissions.

Permissions fail closed: without a `permissions:` entry granting it, nobody may do anything (an
absent or empty list grants nothing). `permissions[].rule` is the core's `PermissionRule`.
"""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import AnyHttpUrl, Field, PrivateAttr, field_validator, model_validator

from app.config.base import Duration, Strict
from app.config.integrations import HTTPClientConfig
from app.config.secrets import Secret, SecretField, SecretFile, SecretModel, Secrets
from app.core.chatops.actions import Verb
from app.core.chatops.permissions import PermissionRule
from app.core.matchers import Matcher, parse_matchers

_USER = re.compile(
    r"telegram:[1-9][0-9]{0,19}|slack:[UW][A-Z0-9]{2,}|console:[A-Za-z0-9][A-Za-z0-9._@-]{0,63}"
)
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")


def secret_token_problem(value: str) -> str | None:
    """Why Telegram's setWebhook would refuse `value` as `secret_token` (1-256 characters of
    A-Z a-z 0-9 _ -), without quoting it; None when it is fine. An inline value is checked
    here; check one read from `secret_token_file` at start-up."""
    if _SECRET_TOKEN.fullmatch(value):
        return None
    return f"secret_token must be 1-256 characters of A-Z, a-z, 0-9, _ and - (it has {len(value)} characters)"


class ChatAlertmanagerConfig(Strict):
    """The Alertmanager API v2 that silences are created in."""

    url: AnyHttpUrl
    http_config: HTTPClientConfig = HTTPClientConfig()
    timeout: Duration = 10.0
    """Per request; a person is waiting for the answer."""


class ChatTelegramConfig(SecretModel):
    """The bot that receives taps and commands: by long polling (no inbound port) or webhook."""

    secrets: ClassVar[Secrets] = (SecretField("bot_token"), SecretField("secret_token", required=False))
    bot_token: Secret = None
    bot_token_file: SecretFile = None
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: AnyHttpUrl | None = None
    """Public URL Telegram posts updates to (mode webhook); updates are received on its path."""
    secret_token: Secret = None
    """Sent by Telegram as X-Telegram-Bot-Api-Secret-Token (mode webhook)."""
    secret_token_file: SecretFile = None
    api_url: AnyHttpUrl = AnyHttpUrl("https://api.telegram.org")

    @field_validator("secret_token")
    @classmethod
    def _secret_token(cls, v: Secret) -> Secret:
        problem = (
            None if v is None or not v.get_secret_value() else secret_token_problem(v.get_secret_value())
        )
        if problem:
            raise ValueError(problem)
        return v

    @model_validator(mode="after")
    def _webhook(self) -> ChatTelegramConfig:
        if self.mode == "webhook":
            missing = [k for k in ("webhook_url", "secret_token") if not self.has_secret_or_value(k)]
            if missing:
                raise ValueError(
                    f"mode webhook requires {' and '.join(missing)}"
                    + (" (or secret_token_file)" if "secret_token" in missing else "")
                )
        return self

    def has_secret_or_value(self, name: str) -> bool:
        return self.has_secret(name) if name == "secret_token" else getattr(self, name) is not None

    @property
    def webhook_path(self) -> str | None:
        """The path updates arrive on in webhook mode (that of `webhook_url`)."""
        if self.mode != "webhook" or self.webhook_url is None:
            return None
        return self.webhook_url.path or "/"


class ChatSlackConfig(SecretModel):
    """The Slack app: its signing secret checks `POST /chatops/slack`; its bot token edits."""

    secrets: ClassVar[Secrets] = (SecretField("signing_secret"), SecretField("app_token", required=False))
    signing_secret: Secret = None
    signing_secret_file: SecretFile = None
    app_token: Secret = None
    app_token_file: SecretFile = None
    app_url: AnyHttpUrl = AnyHttpUrl("https://slack.com/api")


class PermissionConfig(Strict):
    """One grant: these users may do these verbs (only on alerts `matchers` match, if given)."""

    users: list[str] = Field(min_length=1)
    allow: list[Verb] = Field(min_length=1)
    matchers: list[str] = Field(default_factory=list)
    _rule: PermissionRule = PrivateAttr()

    @field_validator("users")
    @classmethod
    def _users(cls, v: list[str]) -> list[str]:
        for i, user in enumerate(v):
            if not _USER.fullmatch(user):
                raise ValueError(
                    f"users[{i}]: {user!r} is not a chat user id: write telegram:<numeric id>, "
                    "slack:<member id, U… or W…> (/whoami tells a person theirs) or "
                    "console:<user of console.users_file>"
                )
        return v

    @model_validator(mode="after")
    def _compile(self) -> PermissionConfig:
        parsed: list[Matcher] = []
        for i, text in enumerate(self.matchers):
            try:
                parsed += parse_matchers(text)
            except ValueError as exc:
                raise ValueError(f"matchers[{i}]: {exc}") from None
        self._rule = PermissionRule(frozenset(self.users), frozenset(self.allow), tuple(parsed))
        return self

    @property
    def rule(self) -> PermissionRule:
        return self._rule


class ChatopsConfig(Strict):
    alertmanager: ChatAlertmanagerConfig | None = None
    """Needed for silences; without it the Silence buttons and /silence are not offered."""
    telegram: ChatTelegramConfig | None = None
    slack: ChatSlackConfig | None = None
    silence_durations: list[Duration] = Field(
        default_factory=lambda: [3600.0, 14400.0, 86400.0], max_length=5
    )
    """One Silence button per duration."""
    permissions: list[PermissionConfig] = Field(default_factory=list)
    """Fail closed: nothing is allowed that is not granted here."""

    @field_validator("silence_durations")
    @classmethod
    def _durations(cls, v: list[float]) -> list[float]:
        for i, d in enumerate(v):
            if d <= 0:
                raise ValueError(f"silence_durations[{i}]: must be more than 0")
        if len(set(v)) != len(v):
            raise ValueError("silence_durations: each duration only once")
        return v

    @property
    def rules(self) -> tuple[PermissionRule, ...]:
        return tuple(p.rule for p in self.permissions)
