"""The `enrichment:` section of the configuration: Loki, Prometheus, rules and redaction.

Everything is compiled while the config is validated (matchers, query templates, redaction
regexes), so `check-config` reports a bad one with its path and nothing is parsed again later.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer, PlainValidator, model_validator

from app.config.base import Duration, Strict
from app.config.integrations import HTTPClientConfig
from app.core.goregex import RegexError
from app.core.logql import QueryTemplate
from app.core.matchers import Matcher, format_matchers, parse_matchers
from app.core.redact import Pattern, Redactor

__all__ = [
    "EnrichmentRule",
    "EnrichmentSettings",
    "GraphRule",
    "LogsRule",
    "LokiSettings",
    "PrometheusSettings",
]


def _matchers(value: Any) -> tuple[Matcher, ...]:
    if not isinstance(value, str):
        raise ValueError("expected a matcher string such as 'namespace=~\"prod|staging\"'")
    return tuple(parse_matchers(value))


def _template(value: Any) -> QueryTemplate:
    if isinstance(value, QueryTemplate):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a query template (a string)")
    return QueryTemplate.compile(value)


def _pattern(value: Any) -> Pattern:
    if isinstance(value, Pattern):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a regular expression (a string)")
    try:
        return Pattern.compile(value)
    except RegexError as exc:
        raise ValueError(exc.reason) from None


def _base_url(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected an http:// or https:// URL")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
    if parts.username or parts.password:
        raise ValueError("put credentials in http_config, not in the URL")
    if parts.query or parts.fragment:
        raise ValueError("the base URL takes no query or fragment")
    return value.rstrip("/")


MatcherSet = Annotated[tuple[Matcher, ...], PlainValidator(_matchers), PlainSerializer(format_matchers)]
"""One matcher string (it may hold several, comma-separated), parsed."""
Template = Annotated[QueryTemplate, PlainValidator(_template), PlainSerializer(lambda t: t.source)]
"""A query template, compiled."""
RedactPattern = Annotated[Pattern, PlainValidator(_pattern), PlainSerializer(lambda p: p.source)]
"""A redaction regex, compiled by RE2."""
BaseURL = Annotated[str, BeforeValidator(_base_url)]


def _positive(value: float) -> float:
    if value <= 0:
        raise ValueError("must be more than 0s")
    return value


Timeout = Annotated[Duration, AfterValidator(_positive)]


class LokiSettings(Strict):
    """Where log lines come from: GET {url}/loki/api/v1/query_range."""

    url: BaseURL
    tenant_id: str | None = Field(default=None, min_length=1)
    """Sent as X-Scope-OrgID (multi-tenant Loki)."""
    http_config: HTTPClientConfig = HTTPClientConfig()
    timeout: Timeout = 3.0
    """Longest wait for one answer; past it the message goes out without the logs."""


class PrometheusSettings(Strict):
    """Where graphs come from: GET {url}/api/v1/query_range. Never the generatorURL's host."""

    url: BaseURL
    http_config: HTTPClientConfig = HTTPClientConfig()
    timeout: Timeout = 5.0


class LogsRule(Strict):
    query: Template
    """LogQL over the alert (`labels`, `annotations`); values are escaped for "..." strings."""
    before: Duration = 900.0
    """How long before the alert's startsAt the window opens (it closes now)."""
    limit: int = Field(default=12, ge=1, le=100)
    """Lines asked of Loki and shown, newest last."""


class GraphRule(Strict):
    range: Duration = 3600.0
    """The graph's time span, up to now."""
    expr: Template | None = None
    """PromQL template used instead of the alert's generatorURL expression."""

    @model_validator(mode="after")
    def _range(self) -> GraphRule:
        if self.range < 60:
            raise ValueError("range must be at least 1m")
        return self


class EnrichmentRule(Strict):
    """Applies to every firing alert that all `matchers` match (no matchers: every alert)."""

    matchers: list[MatcherSet] = Field(default_factory=list)
    logs: LogsRule | None = None
    graph: GraphRule | None = None

    @model_validator(mode="after")
    def _something(self) -> EnrichmentRule:
        if self.logs is None and self.graph is None:
            raise ValueError("a rule needs logs, graph or both")
        return self


class EnrichmentSettings(Strict):
    loki: LokiSettings | None = None
    prometheus: PrometheusSettings | None = None
    rules: list[EnrichmentRule] = Field(default_factory=list)
    redact: list[RedactPattern] = Field(default_factory=list)
    """Extra regexes (RE2, unanchored); built-in ones (tokens, keys, URL credentials) always apply."""

    @property
    def redactor(self) -> Redactor:
        """The built-in patterns and the configured ones."""
        return Redactor(tuple(self.redact))

    @model_validator(mode="after")
    def _backends(self) -> EnrichmentSettings:
        missing = []
        for i, rule in enumerate(self.rules):
            if rule.logs is not None and self.loki is None:
                missing.append(f"rules[{i}].logs needs enrichment.loki")
            if rule.graph is not None and self.prometheus is None:
                missing.append(f"rules[{i}].graph needs enrichment.prometheus")
        if missing:
            raise ValueError("; ".join(missing))
        return self
