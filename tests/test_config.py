"""Config loading: the documented example, every-problem reporting with YAML paths, secrets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.config import ConfigError, load_config, parse_config, secret_values

ISSUE_EXAMPLE = """
server:
  listen: "0.0.0.0:9095"
  auth:
    bearer_token_file: /etc/alertmedic/webhook-token   # or bearer_token, or basic_auth
  max_body_bytes: 1048576
storage:
  url: "sqlite:///data/alertmedic.db"
receivers:
  - name: oncall
    telegram_configs:
      - bot_token: ${TELEGRAM_BOT_TOKEN}
        chat_id: -1001234567890
        api_url: https://api.telegram.org
    slack_configs:
      - app_token_file: /etc/alertmedic/slack-bot-token
        channel: "#oncall"
        app_url: https://slack.com/api
    email_configs:
      - to: oncall@example.com
        from: alertmedic@example.com
        smarthost: smtp.example.com:587
        auth_username: alertmedic@example.com
        auth_password_file: /etc/alertmedic/smtp-password
        require_tls: true
  - name: team-slack
    slack_configs:
      - api_url: https://hooks.slack.com/services/T000/B000/XXXX
  - name: devops-email
    email_configs:
      - to: devops@example.com
        from: alertmedic@example.com
        smarthost: smtp.example.com:587
  - name: downstream
    webhook_configs:
      - url: http://other-system:8080/alerts
route:
  receiver: devops-email
  routes:
    - matchers: ['severity="critical"']
      receiver: oncall
    - matchers: ['severity="warning"']
      receiver: team-slack
"""

ENV = {"TELEGRAM_BOT_TOKEN": "123456:telegram-secret-value"}


def test_issue_example_is_accepted_as_written() -> None:
    loaded = parse_config(ISSUE_EXAMPLE, env=ENV, check_files=False)
    c = loaded.config
    assert [r.name for r in c.receivers] == ["oncall", "team-slack", "devops-email", "downstream"]
    tg = c.receivers[0].telegram_configs[0]
    assert tg.chat_id == -1001234567890
    assert tg.bot_token is not None and tg.bot_token.get_secret_value() == ENV["TELEGRAM_BOT_TOKEN"]
    assert c.receivers[0].email_configs[0].from_ == "alertmedic@example.com"
    assert c.route.routes[0].receiver == "oncall"
    # The secret files of the example do not exist here: warnings, not errors, for check-config.
    assert {p for p, _ in loaded.warnings} == {
        "server.auth.bearer_token_file",
        "receivers[0].slack_configs[0].app_token_file",
        "receivers[0].email_configs[0].auth_password_file",
    }


def test_missing_secret_files_are_errors_when_serving() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(ISSUE_EXAMPLE, env=ENV, check_files=True)
    problem = ("server.auth.bearer_token_file", "cannot read /etc/alertmedic/webhook-token")
    assert problem in err.value.problems


def test_every_problem_listed_with_its_yaml_path() -> None:
    text = (
        ISSUE_EXAMPLE.replace("max_body_bytes:", "max_body_bytez:")
        .replace("receiver: team-slack", "receiver: team-slak")
        .replace("chat_id: -1001234567890", "chat_id: not-a-number")
    )
    with pytest.raises(ConfigError) as err:
        parse_config(text, env=ENV, check_files=False)
    problems = dict(err.value.problems)
    assert problems["route.routes[1].receiver"] == "unknown receiver 'team-slak' (did you mean `team-slack`?)"
    assert problems["server.max_body_bytez"] == "unknown key (did you mean `max_body_bytes`?)"
    assert "receivers[0].telegram_configs[0].chat_id" in problems


def test_unset_environment_variable_is_named() -> None:
    """An error where the config is used for real (serve, check-config --strict)..."""
    with pytest.raises(ConfigError) as err:
        parse_config(ISSUE_EXAMPLE, env={}, check_files=True)
    assert (
        "receivers[0].telegram_configs[0].bot_token",
        "environment variable TELEGRAM_BOT_TOKEN is not set",
    ) in err.value.problems


def test_unset_environment_variable_is_a_warning_when_checking() -> None:
    """... and a warning, like a missing secret file, for check-config and routes test."""
    loaded = parse_config(ISSUE_EXAMPLE, env={}, check_files=False)
    assert (
        "receivers[0].telegram_configs[0].bot_token",
        "environment variable TELEGRAM_BOT_TOKEN is not set",
    ) in loaded.warnings
    # A secret URL from the environment, too (it is only checked when it is there).
    text = ISSUE_EXAMPLE.replace("url: http://other-system:8080/alerts", "url: ${HOOK_URL}")
    loaded = parse_config(text, env=ENV, check_files=False)
    assert ("receivers[3].webhook_configs[0].url", "environment variable HOOK_URL is not set") in (
        loaded.warnings
    )
    with pytest.raises(ConfigError) as err:
        parse_config(text, env=ENV, check_files=True)
    assert ("receivers[3].webhook_configs[0].url", "is empty") in err.value.problems


@pytest.mark.parametrize(
    ("typo", "path", "message"),
    [
        ("max_body_bytes:", "server.max_body_bytez", "unknown key (did you mean `max_body_bytes`?)"),
        (
            "chat_id: -1001234567890",
            "receivers[0].telegram_configs[0].chat_idd",
            "unknown key (did you mean `chat_id`?)",
        ),
        (
            "auth_username:",
            "receivers[0].email_configs[0].auth_usename",
            "unknown key (did you mean `auth_username`?)",
        ),
        (
            "slack_configs:\n      - api_url",
            "receivers[1].slak_configs",
            "unknown key (did you mean `slack_configs`?)",
        ),
        ("require_tls:", "receivers[0].email_configs[0].xyzzy", "unknown key"),
    ],
)
def test_unknown_keys_suggest_the_nearest_name(typo: str, path: str, message: str) -> None:
    wrong = path.rsplit(".", 1)[1]
    key = typo.split(":")[0]
    text = ISSUE_EXAMPLE.replace(
        typo.replace("\\n", "\n"), typo.replace("\\n", "\n").replace(key, wrong, 1), 1
    )
    with pytest.raises(ConfigError) as err:
        parse_config(text, env=ENV, check_files=False)
    assert (path, message) in err.value.problems


def test_relative_paths_resolve_against_the_config_file(tmp_path: Path) -> None:
    """As Alertmanager: secret files, sqlite:///relative and file sink paths are relative to the
    directory of the config file, not to the working directory."""
    conf = tmp_path / "etc"
    (conf / "secrets").mkdir(parents=True)
    (conf / "secrets" / "token").write_text("s3cret\n")
    (conf / "alertmedic.yml").write_text(
        """
server: {auth: {bearer_token_file: secrets/token}}
storage: {url: "sqlite:///data/state.db"}
receivers: [{name: a, file_configs: [{path: out/inbox.log}]}]
route: {receiver: a}
"""
    )
    loaded = load_config(conf / "alertmedic.yml")
    c = loaded.config
    assert c.server.auth.bearer_token_file == conf / "secrets" / "token"
    assert c.storage.url == f"sqlite:///{conf}/data/state.db"
    assert c.receivers[0].file_configs[0].path == conf / "out" / "inbox.log"
    # The default database path too, and absolute paths stay as written.
    (conf / "alertmedic.yml").write_text(
        """
server: {auth: {bearer_token_file: /etc/hostname}}
receivers: [{name: a, file_configs: [{path: /tmp/x.log}]}]
route: {receiver: a}
"""
    )
    c = load_config(conf / "alertmedic.yml", check_files=False).config
    assert c.storage.url == f"sqlite:///{conf}/data/alertmedic.db"
    assert c.receivers[0].file_configs[0].path == Path("/tmp/x.log")


def test_email_without_a_recipient_address_is_refused_at_load() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(
            ISSUE_EXAMPLE.replace("to: devops@example.com", 'to: "<>, <>"'), env=ENV, check_files=False
        )
    assert ("receivers[2].email_configs[0].to", "no recipient address in '<>, <>'") in err.value.problems


@pytest.mark.parametrize("content", ["", "\n", "  \n"])
def test_empty_secret_file_is_refused_by_strict_checks(tmp_path: Path, content: str) -> None:
    (tmp_path / "token").write_text(content)
    text = ISSUE_EXAMPLE.replace("bot_token: ${TELEGRAM_BOT_TOKEN}", f"bot_token_file: {tmp_path}/token")
    loaded = parse_config(text, env=ENV, check_files=False)
    problem = ("receivers[0].telegram_configs[0].bot_token_file", f"{tmp_path}/token is empty")
    assert problem in loaded.warnings
    with pytest.raises(ConfigError) as err:
        parse_config(text.replace("/etc/alertmedic/", f"{tmp_path}/"), env=ENV, check_files=True)
    assert problem in err.value.problems


def test_dollar_dollar_is_a_literal_dollar() -> None:
    c = parse_config(ISSUE_EXAMPLE.replace("${TELEGRAM_BOT_TOKEN}", "abc$$def"), check_files=False).config
    tg = c.receivers[0].telegram_configs[0]
    assert tg.bot_token is not None and tg.bot_token.get_secret_value() == "abc$def"


def test_secrets_never_in_repr_or_errors(tmp_path: Path) -> None:
    c = parse_config(ISSUE_EXAMPLE, env=ENV, check_files=False).config
    assert ENV["TELEGRAM_BOT_TOKEN"] not in repr(c)
    assert ENV["TELEGRAM_BOT_TOKEN"] not in str(c.model_dump())
    hook = "https://hooks.slack.com/services/T000/B000/XXXX"
    assert hook not in repr(c)
    # A validation error about a receiver holding a secret does not echo the secret.
    bad = ISSUE_EXAMPLE.replace("chat_id: -1001234567890", "chat_id: x")
    with pytest.raises(ConfigError) as err:
        parse_config(bad, env=ENV, check_files=False)
    assert ENV["TELEGRAM_BOT_TOKEN"] not in str(err.value)
    assert ENV["TELEGRAM_BOT_TOKEN"] in secret_values(c)


@pytest.mark.parametrize(
    ("snippet", "path", "message"),
    [
        ("auth: {}", "server.auth", "one of bearer_token, bearer_token_file, basic_auth is required"),
        (
            "auth: {bearer_token: a, basic_auth: {username: u, password: p}}",
            "server.auth",
            "set only one of bearer_token, bearer_token_file, basic_auth",
        ),
    ],
)
def test_server_auth_is_mandatory_and_single(snippet: str, path: str, message: str) -> None:
    text = f"server:\n  {snippet}\nreceivers: [{{name: a}}]\nroute: {{receiver: a}}\n"
    with pytest.raises(ConfigError) as err:
        parse_config(text, check_files=False)
    assert (path, message) in err.value.problems


def test_bad_matcher_and_duplicate_receiver() -> None:
    text = """
server: {auth: {bearer_token: t}}
receivers: [{name: a}, {name: a}]
route:
  receiver: a
  routes:
    - matchers: ['severity=~"("']
      receiver: a
"""
    with pytest.raises(ConfigError) as err:
        parse_config(text, check_files=False)
    paths = [p for p, _ in err.value.problems]
    assert "receivers[1].name" in paths
    assert "route.routes[0].matchers" in paths


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", **ENV},
    )


def test_check_config_cli(tmp_path: Path) -> None:
    good = tmp_path / "good.yml"
    good.write_text(ISSUE_EXAMPLE)
    r = _cli("check-config", str(good))
    assert r.returncode == 0, r.stderr
    assert "OK" in r.stdout
    bad = tmp_path / "bad.yml"
    bad.write_text(
        ISSUE_EXAMPLE.replace("receiver: team-slack", "receiver: team-slak").replace(
            "max_body_bytes:", "max_body_bytez:"
        )
    )
    r = _cli("check-config", str(bad))
    assert r.returncode == 1
    assert "route.routes[1].receiver: unknown receiver 'team-slak' (did you mean `team-slack`?)" in r.stderr
    assert "server.max_body_bytez: unknown key" in r.stderr
    assert ENV["TELEGRAM_BOT_TOKEN"] not in r.stderr + r.stdout


def test_routes_test_cli(tmp_path: Path) -> None:
    f = tmp_path / "c.yml"
    f.write_text(ISSUE_EXAMPLE)
    assert _cli("routes", "test", "--config", str(f), "severity=critical").stdout.strip() == "oncall"
    assert _cli("routes", "test", "--config", str(f), "severity=warning").stdout.strip() == "team-slack"
    assert _cli("routes", "test", "--config", str(f), "severity=info").stdout.strip() == "devops-email"
    r = _cli("routes", "test", "--config", str(f), "--verify-receivers=oncall", "severity=info")
    assert r.returncode == 1


def test_unset_variable_warns_in_check_config_and_routes_test_but_fails_strict(tmp_path: Path) -> None:
    f = tmp_path / "c.yml"
    f.write_text(ISSUE_EXAMPLE)
    env = {"PATH": "/usr/bin:/bin"}  # TELEGRAM_BOT_TOKEN unset
    problem = "receivers[0].telegram_configs[0].bot_token: environment variable TELEGRAM_BOT_TOKEN is not set"
    warning = f"warning: {problem}"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app", *args], capture_output=True, text=True, timeout=60, env=env
        )

    r = cli("check-config", str(f))
    assert r.returncode == 0, r.stderr
    assert warning in r.stderr.splitlines()
    r = cli("routes", "test", "--config", str(f), "severity=critical")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "oncall"
    assert warning in r.stderr.splitlines()
    r = cli("check-config", "--strict", str(f))
    assert r.returncode == 1
    assert (
        "receivers[0].telegram_configs[0].bot_token: environment variable TELEGRAM_BOT_TOKEN is not set"
        in (r.stderr)
    )


def test_route_tree_is_compiled_once_and_used_as_is() -> None:
    """The route config carries the core's tree, its matchers parsed at validation; the
    routing tables use that very object."""
    from app.core.matchers import parse_matchers
    from app.sinks import registry

    config = parse_config(ISSUE_EXAMPLE, env=ENV, check_files=False).config
    tree = config.route.tree
    assert tree.receiver == "devops-email"
    assert list(tree.routes[0].matchers) == parse_matchers('severity="critical"')
    assert tree.routes[0].receiver == "oncall"
    assert registry.router(config).route is tree


def test_load_config_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "nope.yml")
    assert "cannot read" in str(err.value)


def test_example_configs_are_valid() -> None:
    root = Path(__file__).resolve().parent.parent
    loaded = load_config(root / "examples" / "local.yml")
    assert loaded.config.server.listen == "127.0.0.1:9095"
    # make run starts it from the repository root; its files land in ./data as the banner says.
    assert loaded.config.storage.url == f"sqlite:///{root}/examples/../data/alertmedic.db"
    assert loaded.config.receivers[0].file_configs[0].path == root / "examples/../data/inbox.log"


@pytest.mark.parametrize("overlay", ["prod", "staging"])
def test_deployed_config_keeps_the_watchdog_away_from_people(overlay: str) -> None:
    import yaml

    from app.sinks import registry

    root = Path(__file__).resolve().parent.parent
    cm = yaml.safe_load(
        (root / "deploy/kubernetes/overlays" / overlay / "alertmedic/configmap.yaml").read_text()
    )
    config = parse_config(cm["data"]["config.yml"], check_files=False).config
    rules = yaml.safe_load((root / "rules/watchdog.rules.yml").read_text())
    [watchdog] = [r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "Watchdog"]
    labels = {"alertname": "Watchdog", **watchdog["labels"]}
    router = registry.router(config)
    [receiver] = router.receivers_for(labels)
    assert list(config.receiver(receiver).integrations()) == []


ENRICHMENT_FRAGMENT = """
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
    - '(?i)(authorization|password|passwd|secret|token|api[_-]?key)[=:]\\s*\\S+'   # bearer tokens, JWTs,
                                               # AWS keys, basic-auth URLs apply even when this list is empty
"""  # noqa: E501 (the issue's fragment, as written)


def test_enrichment_fragment_of_the_issue_is_accepted_as_written() -> None:
    text = (ISSUE_EXAMPLE + ENRICHMENT_FRAGMENT).replace(
        "        chat_id: -1001234567890\n", "        chat_id: -1001234567890\n        enrich: true\n", 1
    )
    loaded = parse_config(text, env=ENV, check_files=False)
    e = loaded.config.enrichment
    assert e.loki is not None and e.loki.tenant_id == "ops" and e.loki.timeout == 3.0
    assert e.prometheus is not None and e.prometheus.url == "http://prometheus.monitoring:9090"
    rule = e.rules[0]
    assert rule.logs is not None and rule.logs.limit == 12 and rule.logs.before == 900
    assert rule.graph is not None and rule.graph.range == 3600
    assert len(e.redact) == 1
    assert loaded.config.receivers[0].telegram_configs[0].enrich is True
    assert loaded.config.receivers[0].slack_configs[0].enrich is True  # the default
    # The Loki password file is checked like every other secret file.
    assert "enrichment.loki.http_config.basic_auth.password_file" in {p for p, _ in loaded.warnings}


def test_bad_enrichment_is_reported_with_yaml_paths() -> None:
    text = (
        (ISSUE_EXAMPLE + ENRICHMENT_FRAGMENT)
        .replace("url: http://loki.monitoring:3100", "url: loki.monitoring:3100")
        .replace("before: 15m", "before: soon")
        .replace("(?i)(authorization", "(?P<x(authorization")
        .replace(
            "        chat_id: -1001234567890\n", "        chat_id: -1001234567890\n        enrich: maybe\n", 1
        )
    )
    with pytest.raises(ConfigError) as err:
        parse_config(text, env=ENV, check_files=False)
    paths = {p for p, _ in err.value.problems}
    assert {
        "enrichment.loki.url",
        "enrichment.rules[0].logs.before",
        "enrichment.redact[0]",
        "receivers[0].telegram_configs[0].enrich",
    } <= paths
