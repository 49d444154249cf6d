"""`chatops:` and `escalation_policies:`: the issue's fragment loads as written; bad values are
named; permissions fail closed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from app.config import ConfigError, parse_config, secret, secret_values
from app.core.chatops.actions import Actor, Provider, Verb
from app.core.chatops.permissions import authorize

BASE = """
server:
  auth: {bearer_token: t}
receivers:
  - name: devops-email
    email_configs: [{to: devops@example.com, from: am@example.com, smarthost: "smtp.example.com:587"}]
  - name: oncall
    webhook_configs: [{url: "http://oncall.example.com/"}]
  - name: oncall-secondary
    webhook_configs: [{url: "http://secondary.example.com/"}]
  - name: team-lead-email
    email_configs: [{to: lead@example.com, from: am@example.com, smarthost: "smtp.example.com:587"}]
"""

FRAGMENT = """
chatops:
  alertmanager:
    url: http://alertmanager.monitoring:9093     # API v2, for silences
    http_config: {basic_auth: {username: alertmedic, password_file: /etc/alertmedic/am-password}}
  telegram:
    bot_token_file: /etc/alertmedic/telegram-token
    mode: polling                               # polling (default; no public endpoint) | webhook
    webhook_url: https://alertmedic.example.com/chatops/telegram   # mode: webhook
    secret_token_file: /etc/alertmedic/telegram-webhook-secret     # mode: webhook
    api_url: https://api.telegram.org
  slack:
    signing_secret_file: /etc/alertmedic/slack-signing-secret      # POST /chatops/slack
    app_token_file: /etc/alertmedic/slack-bot-token
    app_url: https://slack.com/api                                 # Web API base (tests: a fake)
  silence_durations: [1h, 4h, 24h]
  permissions:                                  # fail closed: nobody may do anything not granted here
    - users: ["telegram:111111111", "slack:U024BE7LH"]
      allow: [ack, unack, silence, unsilence, approve, reject]
    - users: ["telegram:222222222"]
      allow: [ack, unack]
      matchers: ['namespace="staging"']         # optional: only for alerts these match
escalation_policies:
  - name: critical-oncall
    steps:
      - after: 10m
        receiver: oncall-secondary
      - after: 30m
        receiver: team-lead-email
    repeat: 1                                   # run the steps again this many times (default 0)
route:
  receiver: devops-email
  routes:
    - matchers: ['severity="critical"']
      receiver: oncall
      escalation: critical-oncall               # our extension of the Alertmanager route
"""


def problems(text: str) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, check_files=False)
    return info.value.problems


def with_chatops(chatops: dict[str, object], *, route: str = "route: {receiver: oncall}\n") -> str:
    return BASE + yaml.safe_dump({"chatops": chatops}) + route


def test_the_issue_fragment_is_accepted_as_written() -> None:
    loaded = parse_config(BASE + FRAGMENT, check_files=False)
    chatops = loaded.config.chatops
    assert chatops is not None and chatops.alertmanager is not None and chatops.telegram is not None
    assert str(chatops.alertmanager.url) == "http://alertmanager.monitoring:9093/"
    assert chatops.alertmanager.http_config.basic_auth is not None
    assert chatops.alertmanager.http_config.basic_auth.password_file == Path("/etc/alertmedic/am-password")
    assert chatops.telegram.mode == "polling"
    assert chatops.silence_durations == [3600.0, 14400.0, 86400.0]
    assert len(chatops.rules) == 2
    assert chatops.rules[1].allow == {Verb.ACK, Verb.UNACK}
    policy = loaded.config.escalation_policies[0].policy
    assert [(s.after, s.receiver) for s in policy.steps] == [
        (600.0, "oncall-secondary"),
        (1800.0, "team-lead-email"),
    ]
    assert policy.repeat == 1
    assert loaded.config.route.routes[0].escalation == "critical-oncall"
    # lenient mode: the missing secret files are warnings, named by path
    paths = {p for p, _ in loaded.warnings}
    assert "chatops.telegram.bot_token_file" in paths
    assert "chatops.slack.signing_secret_file" in paths
    assert "chatops.alertmanager.http_config.basic_auth.password_file" in paths


def test_the_fragment_with_real_secret_files_loads_strictly(tmp_path: Path) -> None:
    text = BASE + FRAGMENT
    for name, value in {
        "am-password": "pw-am",
        "telegram-token": "123:tg",
        "telegram-webhook-secret": "hook-secret",
        "slack-signing-secret": "sign-secret",
        "slack-bot-token": "xoxb-1",
    }.items():
        (tmp_path / name).write_text(value + "\n")
        text = text.replace(f"/etc/alertmedic/{name}", str(tmp_path / name))
    config = parse_config(text).config
    assert config.chatops is not None and config.chatops.slack is not None
    assert secret(config.chatops.slack, "signing_secret") == "sign-secret"
    assert {"pw-am", "123:tg", "hook-secret", "sign-secret", "xoxb-1"} <= set(secret_values(config))


def test_without_chatops_nothing_changes() -> None:
    config = parse_config(BASE + "route: {receiver: oncall}\n").config
    assert config.chatops is None and config.escalation_policies == []


def test_no_permissions_grant_nothing() -> None:
    config = parse_config(with_chatops({"telegram": {"bot_token": "1:x"}})).config
    assert config.chatops is not None and config.chatops.permissions == []
    alice = Actor(Provider.TELEGRAM, "111111111", "@alice")
    decision = authorize(config.chatops.rules, alice, Verb.ACK, [{"alertname": "X"}])
    assert not decision and "no permissions" in decision.reason


@pytest.mark.parametrize(
    ("permission", "path", "words"),
    [
        ({"users": ["telegram:alice"], "allow": ["ack"]}, "chatops.permissions[0].users", "telegram:alice"),
        ({"users": ["U024BE7LH"], "allow": ["ack"]}, "chatops.permissions[0].users", "U024BE7LH"),
        (
            {"users": ["slack:U024"], "allow": ["ack", "delete"]},
            "chatops.permissions[0].allow[1]",
            "unsilence",
        ),
        ({"users": ["slack:U024"], "allow": []}, "chatops.permissions[0].allow", "at least 1"),
        ({"users": [], "allow": ["ack"]}, "chatops.permissions[0].users", "at least 1"),
        (
            {"users": ["slack:U024"], "allow": ["ack"], "matchers": ["ns=~("]},
            "chatops.permissions[0]",
            "matchers[0]",
        ),
        ({"users": ["slack:U024"], "allow": ["ack"], "alow": ["x"]}, "chatops.permissions[0].alow", "allow"),
    ],
)
def test_bad_permissions_are_named(permission: dict[str, object], path: str, words: str) -> None:
    found = problems(with_chatops({"permissions": [permission]}))
    assert any(p == path and words in m for p, m in found), found


def test_webhook_mode_needs_its_url_and_secret() -> None:
    found = problems(with_chatops({"telegram": {"bot_token": "1:x", "mode": "webhook"}}))
    assert any(p == "chatops.telegram" and "webhook_url and secret_token" in m for p, m in found), found
    ok = parse_config(
        with_chatops(
            {
                "telegram": {
                    "bot_token": "1:x",
                    "mode": "webhook",
                    "webhook_url": "https://am.example.com/chatops/tg",
                    "secret_token": "s3cret",
                }
            }
        )
    ).config
    assert ok.chatops is not None and ok.chatops.telegram is not None
    assert ok.chatops.telegram.webhook_path == "/chatops/tg"


def test_an_inline_secret_token_telegram_would_refuse_is_named_not_quoted() -> None:
    found = problems(with_chatops({"telegram": {"bot_token": "1:x", "secret_token": "bad secret!"}}))
    [(path, message)] = [(p, m) for p, m in found if p.startswith("chatops.telegram")]
    assert path == "chatops.telegram.secret_token" and "1-256 characters" in message
    assert "bad secret" not in message


def test_slack_needs_its_signing_secret_and_silence_durations_are_checked() -> None:
    found = problems(
        with_chatops({"slack": {"app_token": "xoxb-1"}, "silence_durations": ["4h", "0s", "4h"]})
    )
    paths = {p for p, _ in found}
    assert "chatops.slack" in paths  # signing_secret missing
    assert "chatops.silence_durations" in paths
    found = problems(with_chatops({"silence_durations": ["forever"]}))
    assert any("forever" in m for _, m in found), found


def test_escalation_cross_references_are_checked() -> None:
    text = (
        BASE
        + """
escalation_policies:
  - name: p
    steps: [{after: 10m, receiver: nobody}]
  - name: p
    steps: [{after: 10m, receiver: oncall}]
route:
  receiver: oncall
  routes: [{matchers: ['a="b"'], escalation: missing}]
"""
    )
    found = problems(text)
    assert ("escalation_policies[0].steps[0].receiver", "unknown receiver 'nobody'") in found
    assert ("escalation_policies[1].name", "duplicate policy name 'p'") in found
    assert ("route.routes[0].escalation", "unknown escalation policy 'missing'") in found


def test_escalation_steps_must_increase() -> None:
    text = (
        BASE
        + """
escalation_policies:
  - name: p
    steps: [{after: 30m, receiver: oncall}, {after: 10m, receiver: oncall}]
route: {receiver: oncall}
"""
    )
    found = problems(text)
    assert any(p == "escalation_policies[0]" and "steps[1].after must be later" in m for p, m in found), found
    found = problems(text.replace("repeat", "x").replace("name: p\n", "name: p\n    repeat: -1\n"))
    assert any(p == "escalation_policies[0].repeat" for p, _ in found), found
