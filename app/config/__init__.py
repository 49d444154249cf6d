"""The YAML configuration: one module per section, loading, ${VAR} interpolation, secrets.

Key names follow Alertmanager wherever it has one. Every secret is a `SecretStr` (its repr is
masked) and has a `*_file` twin (app.config.secrets). Problems are reported as (yaml path,
message) pairs so that `alertmedic check-config` can list all of them at once.

    base.py          Strict base model, Duration, ConfigPath (relative to the config file)
    secrets.py       the inline / *_file secret pair, read and checked in one place
    templates.py     Jinja2 templates compiled once at validation
    server.py  storage.py  delivery.py  integrations.py  receivers.py  routes.py  enrichment.py
    chatops.py  escalation.py  heartbeats.py  console.py   the sections
    time_intervals.py   top-level time_intervals / mute_time_intervals, parsed by app.core
    model.py         the top-level Config
    problems.py      ConfigError, problems with YAML paths, "did you mean"
    loading.py       parse_config / load_config (a YAML loader without base-60 numbers)
"""

from app.config.base import ConfigPath, Duration, Strict
from app.config.delivery import DeliveryConfig
from app.config.enrichment import EnrichmentSettings
from app.config.integrations import (
    KINDS,
    Authorization,
    EmailConfig,
    FileConfig,
    HTTPClientConfig,
    IntegrationConfig,
    SlackConfig,
    TelegramConfig,
    TLSConfig,
    WebhookConfig,
)
from app.config.loading import Loaded, interpolate, load_config, parse_config
from app.config.model import Config
from app.config.problems import ConfigError
from app.config.receivers import ReceiverConfig
from app.config.routes import RouteConfig
from app.config.secrets import read_secret, secret, secret_files, secret_problems, secret_values
from app.config.server import BasicAuth, ServerAuth, ServerConfig, split_listen
from app.config.storage import StorageConfig, redact_url, sqlite_path
from app.config.templates import HtmlTemplate, Template, TextTemplate

__all__ = [
    "KINDS",
    "Authorization",
    "BasicAuth",
    "Config",
    "ConfigError",
    "ConfigPath",
    "DeliveryConfig",
    "Duration",
    "EmailConfig",
    "EnrichmentSettings",
    "FileConfig",
    "HTTPClientConfig",
    "HtmlTemplate",
    "IntegrationConfig",
    "Loaded",
    "ReceiverConfig",
    "RouteConfig",
    "ServerAuth",
    "ServerConfig",
    "SlackConfig",
    "StorageConfig",
    "Strict",
    "TLSConfig",
    "TelegramConfig",
    "Template",
    "TextTemplate",
    "WebhookConfig",
    "interpolate",
    "load_config",
    "parse_config",
    "read_secret",
    "redact_url",
    "secret",
    "secret_files",
    "secret_problems",
    "secret_values",
    "split_listen",
    "sqlite_path",
]
