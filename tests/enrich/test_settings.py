"""The `enrichment:` section: the issue's fragment as written, compiled parts, errors with paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from app.config.enrichment import EnrichmentSettings
from app.config.problems import pydantic_problems
from app.core.matchers import MatchOp
from tests.enrich.alerts import alert

# Verbatim from issue 8 (the key names are a contract).
FRAGMENT = r"""
enrichment:
  loki:
    url: http://loki.monitoring:3100           # base URL; GET /loki/api/v1/query_range
    tenant_id: ops                             # optional: X-Scope-OrgID
    http_config:                               # optional; same shape as webhook_configs[].http_config
      basic_auth: {username: alertmedic, password_file: /etc/alertmedic/loki-password}
    timeout: 3s
  prometheus:
    url: http://prometheus.monitoring:9090     # GET /api/v1/query_range for graphs
    timeout: 5s
  rules:                                       # every rule whose matchers match a firing alert applies
    - matchers: ['namespace=~"prod|staging"', 'deployment!=""']
      logs:
        query: '{namespace="{{ labels.namespace }}", app="{{ labels.deployment }}"} |~ "(?i)error|exception|timeout"'
        before: 15m                            # window before the alert's startsAt (to now)
        limit: 12                              # lines shown, newest last
      graph:
        range: 1h
  redact:                                      # regexes; each match becomes «redacted». Built-in defaults for
    - '(?i)(authorization|password|passwd|secret|token|api[_-]?key)[=:]\s*\S+'   # bearer tokens, JWTs,
"""  # noqa: E501


def load(raw: Any) -> EnrichmentSettings:
    return EnrichmentSettings.model_validate(raw)


def problems(raw: Any) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as info:
        load(raw)
    return pydantic_problems(info.value, EnrichmentSettings)


def test_the_issue_fragment_is_accepted_as_written() -> None:
    s = load(yaml.safe_load(FRAGMENT)["enrichment"])
    assert s.loki is not None and s.prometheus is not None
    assert (s.loki.url, s.loki.tenant_id, s.loki.timeout) == ("http://loki.monitoring:3100", "ops", 3.0)
    assert s.loki.http_config.basic_auth is not None
    assert s.loki.http_config.basic_auth.password_file == Path("/etc/alertmedic/loki-password")
    assert (s.prometheus.url, s.prometheus.timeout) == ("http://prometheus.monitoring:9090", 5.0)
    [rule] = s.rules
    assert [[(m.name, m.op) for m in ms] for ms in rule.matchers] == [
        [("namespace", MatchOp.RE)],
        [("deployment", MatchOp.NE)],
    ]
    assert rule.logs is not None and rule.graph is not None
    assert (rule.logs.before, rule.logs.limit, rule.graph.range) == (900.0, 12, 3600.0)
    assert rule.logs.query.render(alert()).startswith('{namespace="prod", app="model-api"}')
    assert s.redactor.redact("x token: abc y")[0] == "x «redacted» y"  # the configured pattern's whole match
    # Dumped back, it reads as written.
    dumped = s.model_dump(mode="json")
    assert (
        dumped["rules"][0]["logs"]["query"]
        == yaml.safe_load(FRAGMENT)["enrichment"]["rules"][0]["logs"]["query"]
    )
    assert dumped["redact"] == yaml.safe_load(FRAGMENT)["enrichment"]["redact"]
    assert load(dumped) == s


def test_defaults() -> None:
    s = load({"loki": {"url": "http://loki:3100"}, "rules": [{"logs": {"query": '{app="x"}'}}]})
    assert s.loki is not None and s.loki.timeout == 3.0 and s.loki.tenant_id is None
    assert s.rules[0].matchers == [] and s.rules[0].logs is not None
    assert (s.rules[0].logs.before, s.rules[0].logs.limit) == (900.0, 12)
    assert s.redact == [] and s.redactor.redact("password=x")[1] == 1  # built-ins still apply
    assert load({}).rules == []


@pytest.mark.parametrize(
    ("raw", "path", "words"),
    [
        ({"loki": {"url": "ftp://loki"}}, "loki.url", "http:// or https://"),
        ({"loki": {"url": "http://u:p@loki"}}, "loki.url", "credentials in http_config"),
        ({"loki": {"url": "http://loki", "timeout": "0s"}}, "loki.timeout", "more than 0s"),
        ({"loki": {"url": "http://loki", "timeout": "soon"}}, "loki.timeout", "not a duration"),
        ({"loki": {"url": "http://loki", "tenantid": "x"}}, "loki.tenantid",
         "unknown key (did you mean `tenant_id`?)"),
        ({"prometheus": {"url": "http://p", "http_config": {"basic_auth": {"username": "u"}}}},
         "prometheus.http_config.basic_auth", "one of password, password_file is required"),
        ({"rules": [{"matchers": ['a=~"("'], "graph": {}}], "prometheus": {"url": "http://p"}},
         "rules[0].matchers[0]", "missing closing )"),
        ({"rules": [{"matchers": "a=b", "graph": {}}], "prometheus": {"url": "http://p"}},
         "rules[0].matchers", "valid list"),
        ({"loki": {"url": "http://l"}, "rules": [{"logs": {"query": '{a="{{ nope }}"}'}}]},
         "rules[0].logs.query", "unknown template variable(s) nope"),
        ({"loki": {"url": "http://l"}, "rules": [{"logs": {"query": '{a="x"} |= {{ labels.a }}'}}]},
         "rules[0].logs.query", "double-quoted"),
        ({"loki": {"url": "http://l"}, "rules": [{"logs": {"query": '{a="x"}', "limit": 0}}]},
         "rules[0].logs.limit", "greater than or equal to 1"),
        ({"prometheus": {"url": "http://p"}, "rules": [{"graph": {"range": "10s"}}]},
         "rules[0].graph", "at least 1m"),
        ({"prometheus": {"url": "http://p"}, "rules": [{"graph": {"expr": "up{a={{ labels.a }}}"}}]},
         "rules[0].graph.expr", "double-quoted"),
        ({"rules": [{"matchers": []}]}, "rules[0]", "needs logs, graph or both"),
        ({"redact": ["ok", "(x"]}, "redact[1]", "invalid regex: missing )"),
        ({"redact": "password"}, "redact", "valid list"),
    ],
)  # fmt: skip
def test_errors_name_the_field(raw: Any, path: str, words: str) -> None:
    found = problems(raw)
    assert any(p == path and words in m for p, m in found), found


def test_rules_need_their_backend() -> None:
    found = problems({"rules": [{"logs": {"query": '{a="x"}'}}, {"graph": {}}]})
    assert found == [("", "rules[0].logs needs enrichment.loki; rules[1].graph needs enrichment.prometheus")]
