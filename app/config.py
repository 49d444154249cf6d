"""The YAML configuration: pydantic models, loading, ${VAR} interpolation, secrets from files.

Key names follow Alertmanager wherever it has one. Every secret is a `SecretStr` (its repr is
masked) and has a `*_file` twin. Problems are reported as (yaml path, message) pairs so that
`alertmedic check-config` can list all of them at once.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AnyHttpUrl,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from app.core.durations import parse_duration
from app.core.matchers import Matcher, matchers_from_legacy, parse_matchers
from app.core.models import field_path
from app.core.routing import Route, validate

Duration = Annotated[float, BeforeValidator(parse_duration)]
"""Seconds, written in YAML as an Alertmanager duration ("30s", "5m", "1h30m")."""


class ConfigError(Exception):
    """The configuration is invalid; `problems` lists (yaml path, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p}: {m}" if p else m for p, m in problems))


class Strict(BaseModel):
    """Base of every config model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _one_of(model: BaseModel, *names: str, required: bool) -> None:
    given = [n for n in names if getattr(model, n) is not None]
    if len(given) > 1:
        raise ValueError(f"set only one of {', '.join(names)}")
    if required and not given:
        raise ValueError(f"one of {', '.join(names)} is required")


def _template(source: str | None, *, html: bool) -> str | None:
    """A Jinja2 template checked now (syntax, filters, variable names), not at 3 a.m."""
    if source is not None:
        from app.core.render import compile_template

        compile_template(source, html=html)
    return source


def read_secret(value: SecretStr | None, file: Path | None) -> str | None:
    """The secret's value, from the inline value or the file (trailing newline stripped)."""
    if value is not None:
        return value.get_secret_value()
    if file is not None:
        return file.read_text(encoding="utf-8").rstrip("\r\n")
    return None


# --- server -------------------------------------------------------------------------------


class BasicAuth(Strict):
    """HTTP basic credentials Alertmanager sends (`http_config.basic_auth`)."""

    username: str = Field(min_length=1)
    password: SecretStr | None = None
    password_file: Path | None = None

    @model_validator(mode="after")
    def _password(self) -> BasicAuth:
        _one_of(self, "password", "password_file", required=True)
        return self


class ServerAuth(Strict):
    """How the webhook authenticates Alertmanager. Exactly one method; there is no 'off'."""

    bearer_token: SecretStr | None = None
    bearer_token_file: Path | None = None
    basic_auth: BasicAuth | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ServerAuth:
        _one_of(self, "bearer_token", "bearer_token_file", "basic_auth", required=True)
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


# --- storage and delivery -----------------------------------------------------------------


class StorageConfig(Strict):
    url: str = "sqlite:///data/alertmedic.db"
    retention: Duration = 7 * 86400.0
    """Delivered and dead-lettered notifications, and idle threads, are purged after this."""
    busy_timeout: Duration = 5.0
    """How long a write waits for a database lock before the webhook answers 503."""

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        sqlite_path(v)
        return v


def sqlite_path(url: str) -> Path:
    """The database file of a `sqlite:///relative` or `sqlite:////absolute` URL."""
    if url.startswith(("postgres://", "postgresql://")):
        raise ValueError("PostgreSQL storage is not available yet; use sqlite:///path")
    if not url.startswith("sqlite:///") or len(url) == len("sqlite:///"):
        raise ValueError(f"expected sqlite:///relative/path or sqlite:////absolute/path, got {url!r}")
    return Path(url[len("sqlite:///") :])


class DeliveryConfig(Strict):
    """How the outbox delivers: dedup window, retry policy, timeouts."""

    dedup_window: Duration = 120.0
    retry_initial: Duration = 1.0
    retry_max: Duration = 300.0
    retry_horizon: Duration = 86400.0
    send_timeout: Duration = 15.0

    @model_validator(mode="after")
    def _order(self) -> DeliveryConfig:
        if self.retry_initial <= 0 or self.retry_max < self.retry_initial:
            raise ValueError("need 0 < retry_initial <= retry_max")
        return self


# --- integrations -------------------------------------------------------------------------


class TelegramConfig(Strict):
    bot_token: SecretStr | None = None
    bot_token_file: Path | None = None
    chat_id: int
    message_thread_id: int | None = None
    api_url: AnyHttpUrl = AnyHttpUrl("https://api.telegram.org")
    send_resolved: bool = True
    disable_notifications: bool = False
    message: str | None = None
    """Jinja2 template (HTML, autoescaped) replacing the default message body."""

    @field_validator("message")
    @classmethod
    def _message(cls, v: str | None) -> str | None:
        return _template(v, html=True)

    @model_validator(mode="after")
    def _token(self) -> TelegramConfig:
        _one_of(self, "bot_token", "bot_token_file", required=True)
        return self


class SlackConfig(Strict):
    api_url: SecretStr | None = None
    """Incoming webhook URL (a secret: it embeds the credentials). Cannot edit messages."""
    api_url_file: Path | None = None
    app_token: SecretStr | None = None
    """Bot token (xoxb-...) for chat.postMessage / chat.update."""
    app_token_file: Path | None = None
    app_url: AnyHttpUrl = AnyHttpUrl("https://slack.com/api")
    channel: str | None = None
    send_resolved: bool = True
    title: str | None = None
    """Jinja2 template for the header line (plain text)."""
    text: str | None = None
    """Jinja2 template (Slack mrkdwn) replacing the default body."""

    @field_validator("title", "text")
    @classmethod
    def _templates(cls, v: str | None) -> str | None:
        return _template(v, html=False)

    @model_validator(mode="after")
    def _mode(self) -> SlackConfig:
        hook = self.api_url is not None or self.api_url_file is not None
        app = self.app_token is not None or self.app_token_file is not None
        _one_of(self, "api_url", "api_url_file", required=False)
        _one_of(self, "app_token", "app_token_file", required=False)
        if hook == app:
            raise ValueError(
                "set either api_url/api_url_file (incoming webhook) or app_token/app_token_file (bot token)"
            )
        if app and not self.channel:
            raise ValueError("channel is required with app_token")
        return self

    @property
    def uses_bot_token(self) -> bool:
        return self.app_token is not None or self.app_token_file is not None


class TLSConfig(Strict):
    ca_file: Path | None = None
    insecure_skip_verify: bool = False
    server_name: str | None = None


class EmailConfig(Strict):
    to: str = Field(min_length=3)
    from_: str = Field(alias="from", min_length=3)
    smarthost: str
    hello: str = "localhost"
    auth_username: str | None = None
    auth_password: SecretStr | None = None
    auth_password_file: Path | None = None
    require_tls: bool = True
    """STARTTLS is required (port 465 uses implicit TLS instead)."""
    tls_config: TLSConfig = TLSConfig()
    send_resolved: bool = True
    headers: dict[str, str] = Field(default_factory=dict)
    """Extra headers; `Subject` is a Jinja2 template replacing the default subject."""
    html: str | None = None
    text: str | None = None

    @field_validator("smarthost")
    @classmethod
    def _smarthost(cls, v: str) -> str:
        split_listen(v)
        return v

    @field_validator("html")
    @classmethod
    def _html(cls, v: str | None) -> str | None:
        return _template(v, html=True)

    @field_validator("text")
    @classmethod
    def _text(cls, v: str | None) -> str | None:
        return _template(v, html=False)

    @field_validator("headers")
    @classmethod
    def _headers(cls, v: dict[str, str]) -> dict[str, str]:
        for name, value in v.items():
            try:
                _template(value, html=False)
            except ValueError as exc:
                raise ValueError(f"headers.{name}: {exc}") from None
        return v

    @model_validator(mode="after")
    def _auth(self) -> EmailConfig:
        _one_of(self, "auth_password", "auth_password_file", required=False)
        has_password = self.auth_password is not None or self.auth_password_file is not None
        if has_password and not self.auth_username:
            raise ValueError("auth_username is required with auth_password")
        return self


class Authorization(Strict):
    type: str = "Bearer"
    credentials: SecretStr | None = None
    credentials_file: Path | None = None

    @model_validator(mode="after")
    def _creds(self) -> Authorization:
        _one_of(self, "credentials", "credentials_file", required=True)
        return self


class HTTPClientConfig(Strict):
    """Outbound credentials, as Alertmanager's `http_config` (subset)."""

    authorization: Authorization | None = None
    basic_auth: BasicAuth | None = None

    @model_validator(mode="after")
    def _one(self) -> HTTPClientConfig:
        _one_of(self, "authorization", "basic_auth", required=False)
        return self


class WebhookConfig(Strict):
    url: SecretStr | None = None
    url_file: Path | None = None
    http_config: HTTPClientConfig = HTTPClientConfig()
    send_resolved: bool = True
    max_alerts: int = Field(default=0, ge=0)
    max_in_flight: int = Field(default=1, ge=1, le=64)
    """Deliveries to this URL at once. 1 keeps strict destination order; above 1, order is
    kept within each alert group only (for receivers that take many groups per second)."""

    @model_validator(mode="after")
    def _url(self) -> WebhookConfig:
        _one_of(self, "url", "url_file", required=True)
        if self.url is not None:
            _check_http_url(self.url.get_secret_value())
        return self


def _check_http_url(url: str) -> None:
    if not re.match(r"^https?://[^/\s]+", url):
        raise ValueError("url must be an http:// or https:// URL")


class FileConfig(Strict):
    """Appends each notification, rendered as plain text, to a local file (demos, audit)."""

    path: Path
    send_resolved: bool = True


IntegrationKind = Literal["telegram", "slack", "email", "webhook", "file"]
IntegrationConfig = TelegramConfig | SlackConfig | EmailConfig | WebhookConfig | FileConfig


class ReceiverConfig(Strict):
    name: str = Field(min_length=1)
    telegram_configs: list[TelegramConfig] = Field(default_factory=list)
    slack_configs: list[SlackConfig] = Field(default_factory=list)
    email_configs: list[EmailConfig] = Field(default_factory=list)
    webhook_configs: list[WebhookConfig] = Field(default_factory=list)
    file_configs: list[FileConfig] = Field(default_factory=list)

    def integrations(self) -> Iterator[tuple[IntegrationKind, int, IntegrationConfig]]:
        """Each integration with its kind and index, in a stable order."""
        for i, t in enumerate(self.telegram_configs):
            yield "telegram", i, t
        for i, s in enumerate(self.slack_configs):
            yield "slack", i, s
        for i, e in enumerate(self.email_configs):
            yield "email", i, e
        for i, w in enumerate(self.webhook_configs):
            yield "webhook", i, w
        for i, f in enumerate(self.file_configs):
            yield "file", i, f


class RouteConfig(Strict):
    receiver: str | None = None
    matchers: list[str] = Field(default_factory=list)
    match: dict[str, str] = Field(default_factory=dict)
    """Deprecated in Alertmanager, accepted for pasted configs: label equality."""
    match_re: dict[str, str] = Field(default_factory=dict)
    continue_: bool = Field(default=False, alias="continue")
    routes: list[RouteConfig] = Field(default_factory=list)

    @field_validator("matchers")
    @classmethod
    def _matchers(cls, v: list[str]) -> list[str]:
        for i, text in enumerate(v):
            try:
                parse_matchers(text)
            except ValueError as exc:
                raise ValueError(f"matchers[{i}]: {exc}") from None
        return v

    @field_validator("match_re")
    @classmethod
    def _match_re(cls, v: dict[str, str]) -> dict[str, str]:
        matchers_from_legacy({}, v)
        return v


class Config(Strict):
    server: ServerConfig
    storage: StorageConfig = StorageConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    receivers: list[ReceiverConfig] = Field(min_length=1)
    route: RouteConfig

    def receiver(self, name: str) -> ReceiverConfig:
        for r in self.receivers:
            if r.name == name:
                return r
        raise KeyError(name)


# --- loading ------------------------------------------------------------------------------

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def interpolate(node: Any, env: Mapping[str, str], path: str = "") -> tuple[Any, list[tuple[str, str]]]:
    """Replace ${VAR} in every string scalar with env[VAR]; `$$` is a literal `$`."""
    problems: list[tuple[str, str]] = []
    if isinstance(node, str):

        def sub(m: re.Match[str]) -> str:
            if m.group(0) == "$$":
                return "$"
            name = m.group(1)
            if name not in env:
                problems.append((path, f"environment variable {name} is not set"))
                return ""
            return env[name]

        return _VAR.sub(sub, node), problems
    if isinstance(node, dict):
        out: dict[Any, Any] = {}
        for k, v in node.items():
            out[k], p = interpolate(v, env, f"{path}.{k}" if path else str(k))
            problems += p
        return out, problems
    if isinstance(node, list):
        items = []
        for i, v in enumerate(node):
            item, p = interpolate(v, env, f"{path}[{i}]")
            items.append(item)
            problems += p
        return items, problems
    return node, problems


def _pydantic_problems(exc: ValidationError) -> list[tuple[str, str]]:
    problems = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = tuple(err["loc"])
        if err["type"] == "extra_forbidden":
            problems.append((field_path(loc), "unknown key"))
        elif err["type"] == "missing":
            problems.append((field_path(loc), "required key is missing"))
        else:
            msg = str(err["msg"]).removeprefix("Value error, ")
            problems.append((field_path(loc), msg))
    return problems


def _route_problems(raw: Any, receivers: set[str]) -> list[tuple[str, str]]:
    """The route tree's cross-references (receivers exist, root rules), checked by the core's
    `validate` on a tree built loosely from the raw data, so they are listed even when other
    parts of the file fail validation."""
    return validate(_loose_route(raw), receivers) if isinstance(raw, dict) else []


def _loose_route(node: Any) -> Route:
    """A `Route` with whatever of `node` has the right shape; shape errors are pydantic's to
    report. Non-mapping children become empty nodes so the YAML indices stay right."""
    if not isinstance(node, dict):
        return Route(receiver=None)
    matchers: list[Matcher] = []
    for text in node.get("matchers") or []:
        with contextlib.suppress(ValueError, TypeError):
            matchers += parse_matchers(text)
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        matchers += matchers_from_legacy(node.get("match") or {}, node.get("match_re") or {})
    receiver = node.get("receiver")
    children = node.get("routes")
    return Route(
        receiver=receiver if isinstance(receiver, str) and receiver else None,
        matchers=tuple(matchers),
        continue_=node.get("continue") is True,
        routes=tuple(_loose_route(c) for c in (children if isinstance(children, list) else [])),
    )


def _receiver_problems(raw: Any) -> tuple[set[str], list[tuple[str, str]]]:
    names: set[str] = set()
    problems: list[tuple[str, str]] = []
    if not isinstance(raw, list):
        return names, problems
    for i, r in enumerate(raw):
        if isinstance(r, dict) and isinstance(r.get("name"), str):
            if r["name"] in names:
                problems.append((f"receivers[{i}].name", f"duplicate receiver name {r['name']!r}"))
            names.add(r["name"])
    return names, problems


def secret_files(config: Config) -> Iterator[tuple[str, Path]]:
    """Every `*_file` secret in the config with its YAML path."""

    def walk(node: Any, path: str) -> Iterator[tuple[str, Path]]:
        if isinstance(node, BaseModel):
            for name in type(node).model_fields:
                value = getattr(node, name)
                key = type(node).model_fields[name].alias or name
                sub = f"{path}.{key}" if path else key
                if name.endswith("_file") and isinstance(value, Path):
                    yield sub, value
                else:
                    yield from walk(value, sub)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                yield from walk(v, f"{path}[{i}]")

    yield from walk(config, "")


@dataclass(frozen=True)
class Loaded:
    config: Config
    warnings: list[tuple[str, str]]


def parse_config(
    text: str, *, env: Mapping[str, str] | None = None, source: str = "<config>", check_files: bool = True
) -> Loaded:
    """Validate YAML text. Raises ConfigError with every problem found.

    With `check_files`, unreadable secret files are problems; otherwise they come back as
    warnings (check-config on a machine that lacks the deployment's secrets).
    """
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else source
        raise ConfigError([("", f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}")]) from None
    if not isinstance(raw, dict):
        raise ConfigError([("", "the configuration must be a YAML mapping")])
    raw, problems = interpolate(raw, os.environ if env is None else env)
    names, receiver_problems = _receiver_problems(raw.get("receivers"))
    problems += receiver_problems
    if "route" in raw:
        problems += _route_problems(raw["route"], names)
    config: Config | None = None
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        problems += _pydantic_problems(exc)
    warnings: list[tuple[str, str]] = []
    if config is not None:
        for path, file in secret_files(config):
            if not os.access(file, os.R_OK):
                (problems if check_files else warnings).append((path, f"cannot read {file}"))
    if problems or config is None:
        raise ConfigError(sorted(set(problems), key=problems.index))
    return Loaded(config, warnings)


def load_config(
    path: str | Path, *, env: Mapping[str, str] | None = None, check_files: bool = True
) -> Loaded:
    """Read and validate a config file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([("", f"cannot read {p}: {exc.strerror}")]) from None
    return parse_config(text, env=env, source=str(p), check_files=check_files)


def secret_values(config: Config) -> list[str]:
    """Every secret value the config carries or points to, so logs can scrub them."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, SecretStr):
            out.append(node.get_secret_value())
        elif isinstance(node, BaseModel):
            for name in type(node).model_fields:
                walk(getattr(node, name))
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(config)
    for _, file in secret_files(config):
        with contextlib.suppress(OSError):
            out.append(file.read_text(encoding="utf-8").strip())
    return [s for s in out if s]
