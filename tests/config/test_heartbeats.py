"""`heartbeats:` validation: the issue's example, and every problem named by its YAML path."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.config import ConfigError, parse_config
from app.core.heartbeats import seen_by
from app.core.matchers import parse_matchers
from app.core.models import Alert
from app.sinks import registry

EXAMPLE = """
server: {listen: "127.0.0.1:9095", auth: {bearer_token: t}}
receivers: [{name: oncall, file_configs: [{path: /tmp/inbox.log}]}, {name: heartbeat}]
route: {receiver: oncall}
heartbeats:
  - name: prometheus-prod
    matchers: ['alertname="Watchdog"', 'prometheus="monitoring/k8s"']
    timeout: 5m
    receiver: oncall
"""


def with_heartbeats(*entries: dict[str, Any]) -> str:
    raw = yaml.safe_load(EXAMPLE)
    raw["heartbeats"] = list(entries)
    return yaml.safe_dump(raw)


GOOD = yaml.safe_load(EXAMPLE)["heartbeats"][0]


def problems(text: str) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as err:
        parse_config(text, check_files=False)
    return err.value.problems


def test_the_issue_example_parses_its_matchers_once() -> None:
    [hb] = parse_config(EXAMPLE, check_files=False).config.heartbeats
    beat = hb.heartbeat
    assert (beat.name, beat.timeout, beat.receiver) == ("prometheus-prod", 300.0, "oncall")
    assert list(beat.matchers) == parse_matchers('alertname="Watchdog",prometheus="monitoring/k8s"')
    assert parse_config(EXAMPLE.split("heartbeats:")[0], check_files=False).config.heartbeats == []


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        (
            [{**GOOD, "receiver": "oncal"}],
            [("heartbeats[0].receiver", "unknown receiver 'oncal' (did you mean `oncall`?)")],
        ),
        ([{**GOOD, "receiver": "pager"}], [("heartbeats[0].receiver", "unknown receiver 'pager'")]),
        (
            [{**GOOD, "receiver": "heartbeat"}],
            [
                (
                    "heartbeats[0].receiver",
                    "receiver 'heartbeat' has no integrations: nobody would hear the alarm",
                )
            ],
        ),
        (
            [GOOD, {**GOOD, "timeout": "1m"}],
            [("heartbeats[1].name", "duplicate heartbeat name 'prometheus-prod'")],
        ),
        ([{**GOOD, "timeout": "0s"}], [("heartbeats[0].timeout", "must be longer than 0s")]),
        (
            [{**GOOD, "timeout": "5 minutes"}],
            [("heartbeats[0].timeout", "not a duration: '5 minutes' (use e.g. 30s, 5m, 1h30m)")],
        ),
        (
            [{**GOOD, "matchers": []}],
            [("heartbeats[0].matchers", "List should have at least 1 item after validation, not 0")],
        ),
        (
            [{**GOOD, "matchers": ["{}"]}],
            [("heartbeats[0].matchers", "at least one matcher is needed (none would match every alert)")],
        ),
        (
            [{k: v for k, v in GOOD.items() if k != "timeout"}],
            [("heartbeats[0].timeout", "required key is missing")],
        ),
        ([{**GOOD, "timout": "5m"}], [("heartbeats[0].timout", "unknown key (did you mean `timeout`?)")]),
    ],
)
def test_problems_are_named_by_path(entries: list[dict[str, Any]], expected: list[tuple[str, str]]) -> None:
    assert problems(with_heartbeats(*entries)) == expected


def test_a_bad_matcher_and_a_bad_name() -> None:
    found = dict(
        problems(with_heartbeats({**GOOD, "name": "prom prod", "matchers": ['alertname="Watchdog"', "x~~"]}))
    )
    assert found["heartbeats[0].name"].startswith("'prom prod' is not a heartbeat name")
    assert found["heartbeats[0].matchers"].startswith("matchers[1]: bad matcher format")


ROOT = Path(__file__).resolve().parents[2]
DEPLOYED = [
    "deploy/kubernetes/overlays/prod/alertmedic/configmap.yaml",
    "deploy/kubernetes/overlays/staging/alertmedic/configmap.yaml",
    "examples/local.yml",
]


@pytest.mark.parametrize("path", DEPLOYED)
def test_deployed_configs_watch_the_watchdog_and_page_nobody_with_it(path: str) -> None:
    """The Watchdog of rules/ reaches a receiver without integrations through the route, and a
    heartbeat watches it whose receiver does reach people."""
    raw = yaml.safe_load((ROOT / path).read_text())
    text = raw["data"]["config.yml"] if raw.get("kind") == "ConfigMap" else yaml.safe_dump(raw)
    config = parse_config(text, check_files=False).config
    rules = yaml.safe_load((ROOT / "rules/watchdog.rules.yml").read_text())
    [watchdog] = [r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "Watchdog"]
    labels = {"alertname": "Watchdog", **watchdog["labels"]}
    [routed] = registry.router(config).receivers_for(labels)
    assert list(config.receiver(routed).integrations()) == []
    firing = Alert(status="firing", labels=labels, startsAt=datetime.now(UTC), fingerprint="w")
    beats = [h.heartbeat for h in config.heartbeats]
    assert len(seen_by(beats, [firing])) == 1
    [beat] = beats
    assert beat.timeout == 300 and list(config.receiver(beat.receiver).integrations()) != []


def test_the_demo_watches_its_watchdog(tmp_path: Path) -> None:
    from demo.stack import Layout, Settings, alertmedic_config

    raw = alertmedic_config(Settings(run_dir=tmp_path), Layout(tmp_path))
    config = parse_config(yaml.safe_dump(raw), check_files=False).config
    labels = {"alertname": "Watchdog", "heartbeat": "true", "severity": "none"}
    firing = Alert(status="firing", labels=labels, startsAt=datetime.now(UTC), fingerprint="w")
    assert seen_by([h.heartbeat for h in config.heartbeats], [firing]) == ["demo"]
