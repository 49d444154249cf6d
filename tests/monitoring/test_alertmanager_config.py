"""Alertmanager configuration in alertmanager/alertmanager.yml.

Static checks with amtool: the file is valid and each kind of alert reaches the intended
receiver and route. Behaviour checks against the real Alertmanager binary: it runs on
127.0.0.1 with a copy of the configuration whose webhook points at a receiver in this
process (timings shortened), the tests post alerts to its API and assert what the receiver
is sent, and what it is not sent because of inhibition.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from ._support import ALERTMANAGER_DIR, RULES_DIR, describe, run_tool

CONFIG = ALERTMANAGER_DIR / "alertmanager.yml"
ALERTMEDIC_URL = "http://alertmedic:9095/webhook/alertmanager"
TOKEN_FILE = "/etc/alertmanager/secrets/alertmedic-token"
WEBHOOK_PATH = "/webhook/alertmanager"
TOKEN = "test-token-5f1c"
# After the alerts that should arrive have arrived, how long to keep listening for ones
# that must not (several of the test copy's 1s group intervals).
SETTLE_SECONDS = 2.5

Labels = tuple[tuple[str, str], ...]


def _load_config() -> dict[str, Any]:
    with CONFIG.open(encoding="utf-8") as fh:
        config = yaml.safe_load(fh)
    assert isinstance(config, dict)
    return config


def _seconds(duration: str) -> float:
    """Alertmanager/Prometheus duration ("1h30m", "50s", "800ms") in seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w)", duration)
    assert "".join(n + u for n, u in parts) == duration, f"unparsed duration {duration!r}"
    return sum(int(n) * units[u] for n, u in parts)


def _routes(route: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield route
    for child in route.get("routes", []):
        yield from _routes(child)


def _heartbeat_route(config: dict[str, Any]) -> dict[str, Any]:
    (route,) = [r for r in config["route"]["routes"] if r["receiver"] == "alertmedic-heartbeat"]
    return route


def _key(labels: dict[str, str]) -> Labels:
    return tuple(sorted(labels.items()))


# --- static checks ----------------------------------------------------------------------


@pytest.mark.slow
def test_amtool_check_config(amtool: str) -> None:
    result = run_tool(amtool, "check-config", CONFIG)
    assert result.returncode == 0, describe(result)
    assert "SUCCESS" in result.stdout, describe(result)


def test_every_receiver_is_alertmedic_webhook_with_bearer_file() -> None:
    receivers = {r["name"]: r for r in _load_config()["receivers"]}
    assert set(receivers) == {"alertmedic", "alertmedic-heartbeat"}
    for name, receiver in receivers.items():
        assert set(receiver) == {"name", "webhook_configs"}, f"{name}: only a webhook"
        (webhook,) = receiver["webhook_configs"]
        assert webhook["url"] == ALERTMEDIC_URL
        assert webhook["send_resolved"] is True
        assert webhook["max_alerts"] == 0
        auth = webhook["http_config"]["authorization"]
        assert auth == {"type": "Bearer", "credentials_file": TOKEN_FILE}


def test_grouping_and_heartbeat_timing() -> None:
    config = _load_config()
    root = config["route"]
    assert root["receiver"] == "alertmedic"
    assert set(root["group_by"]) == {"alertname", "namespace", "severity"}
    assert _seconds(root["group_wait"]) <= 60
    assert _seconds(root["group_interval"]) <= _seconds(root["repeat_interval"])

    heartbeat = _heartbeat_route(config)
    assert config["route"]["routes"][0] is heartbeat, "heartbeat must match before severities"
    assert heartbeat["matchers"] == ['heartbeat="true"']
    assert heartbeat.get("continue", False) is False
    assert _seconds(heartbeat["group_wait"]) == 0
    # Alertmanager re-sends only when a flush finds the last send older than repeat_interval,
    # and flushes every group_interval; repeat < group_interval means every flush re-sends
    # (test_heartbeat_is_resent_every_group_interval shows it on the real binary).
    assert _seconds(heartbeat["repeat_interval"]) < _seconds(heartbeat["group_interval"]) <= 60


def test_inhibition_rules() -> None:
    rules = _load_config()["inhibit_rules"]
    by_source = {tuple(r["source_matchers"]): r for r in rules}
    tiers = by_source[('severity="critical"',)]
    assert tiers["target_matchers"] == ['severity="warning"']
    assert {"alertname", "namespace"} <= set(tiers["equal"])
    down = by_source[('alertname="ModelServiceDown"',)]
    (target,) = down["target_matchers"]
    for alertname in ("ModelHighLatencyP95", "ModelHighErrorRate", "ModelLowTraffic"):
        assert alertname in target
    assert "namespace" in down["equal"]


def _amtool_route(amtool: str, labels: dict[str, str]) -> tuple[str, str]:
    """(receiver, routing tree text) amtool resolves for an alert with `labels`."""
    args = [f"{k}={v}" for k, v in labels.items()]
    result = run_tool(amtool, "config", "routes", "test", f"--config.file={CONFIG}", "--tree", *args)
    assert result.returncode == 0, describe(result)
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    return lines[-1], result.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    ("labels", "receiver", "route"),
    [
        (
            {"alertname": "ModelServiceDown", "severity": "critical", "namespace": "ml"},
            "alertmedic",
            '{severity="critical"}',
        ),
        (
            {"alertname": "ModelHighLatencyP95", "severity": "warning", "namespace": "ml"},
            "alertmedic",
            '{severity="warning"}',
        ),
        (
            {"alertname": "ModelLowPredictionConfidence", "severity": "info", "namespace": "ml"},
            "alertmedic",
            '{severity="info"}',
        ),
        (
            {"alertname": "Watchdog", "severity": "none", "heartbeat": "true"},
            "alertmedic-heartbeat",
            '{heartbeat="true"}',
        ),
        # Alerts from other rule sources without a severity still reach alertmedic.
        ({"alertname": "SomethingElse"}, "alertmedic", "default-route"),
    ],
    ids=["critical", "warning", "info", "watchdog", "no-severity"],
)
def test_amtool_routes(amtool: str, labels: dict[str, str], receiver: str, route: str) -> None:
    got_receiver, tree = _amtool_route(amtool, labels)
    assert got_receiver == receiver, tree
    last_route = [line for line in tree.splitlines() if "└──" in line or "├──" in line][-1]
    assert route in last_route, tree


@pytest.mark.slow
def test_every_alert_rule_reaches_its_route(amtool: str) -> None:
    """Each alert in rules/ with its static labels lands on the route for its severity."""
    checked = 0
    for path in sorted(RULES_DIR.glob("*.yml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            for rule in group["rules"]:
                if "alert" not in rule:
                    continue
                labels = {"alertname": rule["alert"], "namespace": "ml", **rule["labels"]}
                receiver, tree = _amtool_route(amtool, labels)
                if rule["alert"] == "Watchdog":
                    assert receiver == "alertmedic-heartbeat", tree
                else:
                    assert receiver == "alertmedic", tree
                    assert f'{{severity="{rule["labels"]["severity"]}"}}' in tree, tree
                checked += 1
    assert checked >= 15


# --- the real Alertmanager ----------------------------------------------------------------


@dataclass(frozen=True)
class Notification:
    """One webhook request as the receiver got it."""

    at: float
    path: str
    authorization: str | None
    body: dict[str, Any]


class WebhookReceiver:
    """Stand-in for alertmedic: records every webhook POST on 127.0.0.1."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._notifications: list[Notification] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                note = Notification(time.monotonic(), self.path, self.headers.get("Authorization"), body)
                with outer._cond:
                    outer._notifications.append(note)
                    outer._cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}{WEBHOOK_PATH}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def notifications(self) -> list[Notification]:
        with self._cond:
            return list(self._notifications)

    def delivered(self, receiver: str | None = None) -> set[Labels]:
        """Label sets of every firing alert delivered (to `receiver`, if given)."""
        return {
            _key(alert["labels"])
            for note in self.notifications
            if receiver is None or note.body["receiver"] == receiver
            for alert in note.body["alerts"]
            if alert["status"] == "firing"
        }

    def wait_for(self, condition: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not condition():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True


# Never send loopback requests through a proxy from the environment.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class RunningAlertmanager:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        request = urllib.request.Request(
            f"{self.base_url}/api/v2/alerts",
            data=json.dumps(alerts).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with _HTTP.open(request, timeout=5) as response:
            assert response.status == 200, self.log()

    def alerts(self) -> dict[Labels, dict[str, Any]]:
        """Alertmanager's own view of its alerts, keyed by label set."""
        with _HTTP.open(f"{self.base_url}/api/v2/alerts", timeout=5) as response:
            return {_key(a["labels"]): a for a in json.load(response)}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _test_config(webhook_url: str, token_file: Path, scale_heartbeat: bool) -> dict[str, Any]:
    """The real configuration, pointed at the local receiver, with 1s group timings."""
    config = _load_config()
    for receiver in config["receivers"]:
        for webhook in receiver["webhook_configs"]:
            webhook["url"] = webhook_url
            webhook["http_config"]["authorization"]["credentials_file"] = str(token_file)
    for route in _routes(config["route"]):
        for key in ("group_wait", "group_interval"):
            if key in route and _seconds(route[key]) > 0:
                route[key] = "1s"
    if scale_heartbeat:
        # Same repeat/group ratio as production, with a 1s group interval.
        heartbeat = _heartbeat_route(_load_config())
        ratio = _seconds(heartbeat["repeat_interval"]) / _seconds(heartbeat["group_interval"])
        _heartbeat_route(config)["repeat_interval"] = f"{round(1000 * ratio)}ms"
    return config


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def start_alertmanager(
    alertmanager_binary: str, receiver: WebhookReceiver, tmp_path: Path
) -> Iterator[Callable[..., RunningAlertmanager]]:
    processes: list[subprocess.Popen[bytes]] = []

    def start(scale_heartbeat: bool = False) -> RunningAlertmanager:
        token_file = tmp_path / "alertmedic-token"
        token_file.write_text(TOKEN, encoding="utf-8")
        config_file = tmp_path / "alertmanager.yml"
        config = _test_config(receiver.url, token_file, scale_heartbeat)
        config_file.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        port = _free_port()
        log_path = tmp_path / "alertmanager.log"
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [
                    alertmanager_binary,
                    f"--config.file={config_file}",
                    f"--storage.path={tmp_path / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--cluster.listen-address=",
                    "--log.level=debug",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        processes.append(process)
        running = RunningAlertmanager(f"http://127.0.0.1:{port}", process, log_path)
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                pytest.fail(f"Alertmanager exited with {process.returncode}:\n{running.log()}")
            try:
                with _HTTP.open(f"{running.base_url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        return running
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"Alertmanager not ready after 20s:\n{running.log()}")
            time.sleep(0.1)

    yield start
    for process in processes:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _alert(**labels: str) -> dict[str, Any]:
    return {"labels": labels, "annotations": {"summary": f"test {labels['alertname']}"}}


def _assert_delivery(
    am: RunningAlertmanager,
    receiver: WebhookReceiver,
    delivered: list[dict[str, Any]],
    suppressed: list[dict[str, Any]],
) -> None:
    """Exactly `delivered` arrive (waiting a while for strays), none of `suppressed`."""
    expected = {_key(a["labels"]) for a in delivered}
    arrived = receiver.wait_for(lambda: expected <= receiver.delivered(), timeout=15)
    assert arrived, f"missing: {expected - receiver.delivered()}\ngot: {receiver.notifications}\n{am.log()}"
    time.sleep(SETTLE_SECONDS)
    leaked = {_key(a["labels"]) for a in suppressed} & receiver.delivered()
    assert not leaked, f"inhibited alerts were delivered: {leaked}"
    assert receiver.delivered() == expected, receiver.notifications


@pytest.mark.slow
def test_critical_inhibits_warning_of_same_alert_and_object(
    start_alertmanager: Callable[..., RunningAlertmanager], receiver: WebhookReceiver
) -> None:
    am = start_alertmanager()
    latency = {"alertname": "ModelHighLatencyP95"}
    disk = {"alertname": "NodeFilesystemFillingUp"}
    critical_latency = _alert(**latency, severity="critical", namespace="ml", deployment="fraud-model")
    critical_disk = _alert(**disk, severity="critical", instance="node-2", mountpoint="/data")
    delivered = [
        critical_latency,
        # Same alert and namespace, other deployment: a different problem.
        _alert(**latency, severity="warning", namespace="ml", deployment="churn-model"),
        # Same alert and deployment name, other namespace.
        _alert(**latency, severity="warning", namespace="staging", deployment="fraud-model"),
        critical_disk,
        # Node alerts have no namespace: instance and mountpoint tell them apart.
        _alert(**disk, severity="warning", instance="node-1", mountpoint="/data"),
    ]
    suppressed = [
        _alert(**latency, severity="warning", namespace="ml", deployment="fraud-model"),
        _alert(**disk, severity="warning", instance="node-2", mountpoint="/data"),
    ]
    am.post_alerts(delivered + suppressed)

    _assert_delivery(am, receiver, delivered, suppressed)
    state = am.alerts()
    for alert, source in zip(suppressed, [critical_latency, critical_disk], strict=True):
        status = state[_key(alert["labels"])]["status"]
        assert status["state"] == "suppressed"
        assert status["inhibitedBy"] == [state[_key(source["labels"])]["fingerprint"]]


@pytest.mark.slow
def test_service_down_inhibits_latency_error_and_traffic_alerts(
    start_alertmanager: Callable[..., RunningAlertmanager], receiver: WebhookReceiver
) -> None:
    am = start_alertmanager()
    fraud = {"namespace": "ml", "deployment": "fraud-model"}
    down = _alert(alertname="ModelServiceDown", severity="critical", **fraud)
    suppressed = [
        _alert(alertname="ModelHighLatencyP95", severity="warning", **fraud),
        _alert(alertname="ModelHighErrorRate", severity="critical", **fraud),
        _alert(alertname="ModelLowTraffic", severity="critical", **fraud),
        _alert(alertname="ModelTargetDown", severity="warning", pod="fraud-model-7d9f8c-aaaaa", **fraud),
    ]
    delivered = [
        down,
        # Same alert, same namespace, a deployment that is up.
        _alert(
            alertname="ModelHighLatencyP95",
            severity="warning",
            namespace="ml",
            deployment="churn-model",
        ),
        # Not a consequence of the outage: still reported.
        _alert(alertname="ModelDataDriftDetected", severity="warning", remediation="retrain", **fraud),
        _alert(
            alertname="PodRestartLoop",
            severity="warning",
            pod="fraud-model-7d9f8c-aaaaa",
            container="model",
            **fraud,
        ),
    ]
    am.post_alerts(delivered + suppressed)

    _assert_delivery(am, receiver, delivered, suppressed)
    state = am.alerts()
    down_fingerprint = state[_key(down["labels"])]["fingerprint"]
    for alert in suppressed:
        status = state[_key(alert["labels"])]["status"]
        assert status["state"] == "suppressed"
        assert status["inhibitedBy"] == [down_fingerprint]


@pytest.mark.slow
def test_notifications_reach_alertmedic_with_bearer_token(
    start_alertmanager: Callable[..., RunningAlertmanager], receiver: WebhookReceiver
) -> None:
    am = start_alertmanager()
    watchdog = _alert(alertname="Watchdog", severity="none", heartbeat="true")
    down = _alert(alertname="ModelServiceDown", severity="critical", namespace="ml", deployment="fraud-model")
    am.post_alerts([watchdog, down])
    _assert_delivery(am, receiver, [watchdog, down], [])

    by_receiver: dict[str, list[Notification]] = {}
    for note in receiver.notifications:
        by_receiver.setdefault(note.body["receiver"], []).append(note)
        assert note.path == WEBHOOK_PATH
        assert note.authorization == f"Bearer {TOKEN}"
        assert note.body["version"] == "4"
        assert note.body["status"] == "firing"
    assert set(by_receiver) == {"alertmedic", "alertmedic-heartbeat"}
    (beat, *_) = by_receiver["alertmedic-heartbeat"]
    assert beat.body["groupLabels"] == {"alertname": "Watchdog"}
    assert [a["labels"]["alertname"] for a in beat.body["alerts"]] == ["Watchdog"]
    (page,) = by_receiver["alertmedic"]
    assert page.body["groupLabels"] == {
        "alertname": "ModelServiceDown",
        "namespace": "ml",
        "severity": "critical",
    }
    assert page.body["commonLabels"]["deployment"] == "fraud-model"


@pytest.mark.slow
def test_heartbeat_is_resent_every_group_interval(
    start_alertmanager: Callable[..., RunningAlertmanager], receiver: WebhookReceiver
) -> None:
    """Production sends the heartbeat once per group_interval (1m); here scaled to 1s."""
    am = start_alertmanager(scale_heartbeat=True)
    am.post_alerts([_alert(alertname="Watchdog", severity="none", heartbeat="true")])

    def beats() -> list[float]:
        return [n.at for n in receiver.notifications if n.body["receiver"] == "alertmedic-heartbeat"]

    assert receiver.wait_for(lambda: len(beats()) >= 4, timeout=10), (beats(), am.log())
    times = beats()
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # Every flush re-sends: ~1s apart. Were repeat_interval >= group_interval, every other
    # flush would be skipped and the gaps would be ~2s.
    assert all(0.5 < gap < 1.6 for gap in gaps[:3]), gaps
