"""`make demo`: the whole monitoring stack on 127.0.0.1, no accounts, one command to break it.

`python -m demo.stack [--ports-auto] [--run-dir DIR]` writes a run directory (default
`data/demo/`, wiped at each start) and starts, in this order:

1. `demo.smtp_print` - an SMTP server that prints every mail it gets (port 2525);
2. `demo.model_api` - the demo model API with self-generated traffic (port 8000);
3. alertmedic - email to the SMTP printer plus a file inbox (port 9095);
4. Alertmanager (Debian's `prometheus-alertmanager`) with a copy of `alertmanager/alertmanager.yml`:
   same routes and inhibitions, webhook pointed at the local alertmedic, token from a generated
   file, group_wait / group_interval capped (port 9093);
5. Prometheus (Debian's `prometheus`) scraping the model API and the others every 5s, with a
   copy of `rules/*.rules.yml` in which every `for:` longer than 30s is 15s - expressions unchanged
   (port 9090).

It then prints a banner (URLs, the one command that injects latency), streams the mails the
SMTP printer receives, and stops everything on Ctrl-C / SIGTERM. Fixed ports fail with a clear
message when busy; `--ports-auto` picks free ones. The tests (tests/demo/) drive `Stack` directly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol, TextIO

import aiohttp
import yaml

from app.core.durations import format_duration, parse_duration
from tests.e2e.alertmanager import Alertmanager
from tests.e2e.proc import ServiceProcess, free_port, wait_ready

ROOT = Path(__file__).resolve().parents[1]
RULES_DIR = ROOT / "rules"
ALERTMANAGER_CONFIG = ROOT / "alertmanager" / "alertmanager.yml"
DEFAULT_RUN_DIR = ROOT / "data" / "demo"
MARKER = ".alertmedic-demo"
"""File that marks a directory as a demo run directory, the only kind `prepare_run_dir` wipes."""
HOST = "127.0.0.1"
FOR_LIMIT = "30s"
"""Alert `for:` durations longer than this are shortened in the demo copy of the rules."""
NAMESPACE, DEPLOYMENT, POD = "prod", "model-api", "model-api-0"
"""Target labels the scrape config gives the model API (the rules need namespace/deployment)."""
LATENCY_ALERT = "ModelHighLatencyP95"
INJECT_LATENCY = 2.5
BINARIES = {"prometheus": "prometheus", "prometheus-alertmanager": "prometheus-alertmanager"}
"""Binary -> Debian package (`make system-deps` installs them)."""


class StartupError(RuntimeError):
    """A component could not start; the message says which and shows the end of its log."""


# --- settings and layout ------------------------------------------------------------------


@dataclass(frozen=True)
class Ports:
    """Loopback ports of the stack. The defaults are documented in demo/README.md."""

    model_api: int = 8000
    prometheus: int = 9090
    alertmanager: int = 9093
    alertmedic: int = 9095
    smtp: int = 2525

    def __post_init__(self) -> None:
        if len(set(self.by_service().values())) != len(fields(self)):
            raise ValueError(f"ports must differ: {self.by_service()}")

    def by_service(self) -> dict[str, int]:
        return {f.name.replace("_", " "): getattr(self, f.name) for f in fields(self)}

    @classmethod
    def auto(cls) -> Ports:
        """Five distinct free loopback ports."""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            chosen = [free_port() for _ in fields(cls)]
            if len(set(chosen)) == len(chosen):
                return cls(*chosen)
        raise RuntimeError("could not find five distinct free ports")


@dataclass(frozen=True)
class Settings:
    run_dir: Path = DEFAULT_RUN_DIR
    ports: Ports = field(default_factory=Ports)
    scrape_interval: str = "5s"
    evaluation_interval: str = "5s"
    demo_for: str = "15s"
    """What every alert `for:` longer than FOR_LIMIT becomes."""
    group_wait: str = "5s"
    """Upper bound for every route's group_wait in the Alertmanager copy."""
    group_interval: str = "30s"
    """Upper bound for every route's group_interval in the Alertmanager copy."""
    rps: float = 50.0
    """Predictions per second the model API makes itself. rate(...[5m]) divides by the whole
    5 minutes, so on a fresh start it under-reports; at 50/s it is above ModelLowTraffic's
    1/s after about 4s, long before the shortened `for:` could make that alert fire."""


@dataclass(frozen=True)
class Layout:
    """Where everything lives in the run directory."""

    run_dir: Path

    @property
    def token_file(self) -> Path:
        return self.run_dir / "alertmedic-token"

    @property
    def inbox(self) -> Path:
        return self.run_dir / "inbox.log"

    @property
    def heartbeat(self) -> Path:
        return self.run_dir / "heartbeat.log"

    @property
    def mails_log(self) -> Path:
        return self.run_dir / "mails.log"

    @property
    def mails_jsonl(self) -> Path:
        return self.run_dir / "mails.jsonl"

    @property
    def prometheus_dir(self) -> Path:
        return self.run_dir / "prometheus"

    @property
    def rules_dir(self) -> Path:
        return self.prometheus_dir / "rules"

    @property
    def alertmedic_dir(self) -> Path:
        return self.run_dir / "alertmedic"

    def log(self, component: str) -> Path:
        return self.run_dir / component / "log"


def prepare_run_dir(run_dir: Path) -> Layout:
    """An empty run directory: a previous demo run's one is wiped, anything else is refused."""
    if run_dir.exists():
        if not (run_dir / MARKER).exists() and any(run_dir.iterdir()):
            raise StartupError(f"{run_dir} exists and is not a demo run directory; choose another --run-dir")
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    (run_dir / MARKER).write_text("written by python -m demo.stack; wiped at each start\n")
    for sub in ("model-api", "smtp-print", "alertmedic", "prometheus"):
        (run_dir / sub).mkdir()
    layout = Layout(run_dir)
    layout.token_file.write_text(secrets.token_urlsafe(24) + "\n")
    layout.token_file.chmod(0o600)
    return layout


def busy_ports(ports: Ports) -> list[tuple[str, int]]:
    """(service, port) for each port another process already listens on at 127.0.0.1."""
    busy = []
    for name, port in ports.by_service().items():
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do
            try:
                s.bind((HOST, port))
            except OSError:
                busy.append((name, port))
    return busy


def missing_binaries() -> list[str]:
    return [f"{b} (Debian package {pkg})" for b, pkg in BINARIES.items() if shutil.which(b) is None]


# --- the rules, shortened -----------------------------------------------------------------


@dataclass(frozen=True)
class Shortened:
    file: str
    alert: str
    severity: str
    before: str
    after: str


_FOR_LINE = re.compile(
    r"^(?P<lead>[ \t]*for:[ \t]*)(?P<value>[0-9a-z]+)(?P<trail>[ \t]*(?:#.*)?)$", re.MULTILINE
)


def _alerting_rules(doc: Any) -> list[dict[str, Any]]:
    return [r for g in (doc or {}).get("groups", []) for r in g.get("rules", []) if "alert" in r]


def shorten_for(text: str, *, limit: str, to: str, name: str = "<rules>") -> tuple[str, list[Shortened]]:
    """`text` with every `for:` longer than `limit` set to `to`, and what changed.

    The file is edited as text (comments and layout stay), then both versions are parsed and
    compared: anything but a `for:` value differing raises ValueError.
    """
    limit_s = parse_duration(limit)

    def replace(m: re.Match[str]) -> str:
        if parse_duration(m.group("value")) <= limit_s:
            return m.group(0)
        return f"{m.group('lead')}{to}{m.group('trail')}"

    new_text = _FOR_LINE.sub(replace, text)
    old_doc, new_doc = yaml.safe_load(text), yaml.safe_load(new_text)

    def without_for(doc: Any) -> Any:
        return json.loads(
            json.dumps(doc, default=str),
            object_hook=lambda d: {k: v for k, v in d.items() if k != "for" or "alert" not in d},
        )

    if without_for(old_doc) != without_for(new_doc):
        raise ValueError(f"{name}: shortening `for:` changed more than the for: values")
    changed = []
    for old, new in zip(_alerting_rules(old_doc), _alerting_rules(new_doc), strict=True):
        if "for" in old and old["for"] != new["for"]:
            changed.append(
                Shortened(
                    name,
                    old["alert"],
                    old.get("labels", {}).get("severity", ""),
                    str(old["for"]),
                    str(new["for"]),
                )
            )
        elif "for" in old and parse_duration(old["for"]) > limit_s:
            raise ValueError(f"{name}: for: {old['for']} of {old['alert']} was not shortened")
    return new_text, changed


def write_demo_rules(dest: Path, *, to: str, source: Path = RULES_DIR) -> list[Shortened]:
    """Copy `source/*.rules.yml` to `dest`, `for:` shortened; returns what was shortened."""
    dest.mkdir(parents=True, exist_ok=True)
    changed: list[Shortened] = []
    files = sorted(source.glob("*.rules.yml"))
    if not files:
        raise StartupError(f"no *.rules.yml in {source}")
    for path in files:
        text, shortened = shorten_for(
            path.read_text(encoding="utf-8"), limit=FOR_LIMIT, to=to, name=path.name
        )
        header = (
            f"# GENERATED by demo/stack.py from rules/{path.name} for the local demo: every alert\n"
            f"# `for:` longer than {FOR_LIMIT} is {to} so alerts fire within two minutes.\n"
            "# Expressions, labels and annotations are unchanged. Edit rules/, not this copy.\n"
        )
        (dest / path.name).write_text(header + text, encoding="utf-8")
        changed += shortened
    return changed


# --- generated configurations -------------------------------------------------------------


def prometheus_config(settings: Settings, layout: Layout) -> dict[str, Any]:
    p = settings.ports
    timeout = format_duration(min(parse_duration(settings.scrape_interval), 10.0))

    def job(name: str, port: int, **labels: str) -> dict[str, Any]:
        target: dict[str, Any] = {"targets": [f"{HOST}:{port}"]}
        if labels:
            target["labels"] = labels
        return {"job_name": name, "static_configs": [target]}

    return {
        "global": {
            "scrape_interval": settings.scrape_interval,
            "scrape_timeout": timeout,
            "evaluation_interval": settings.evaluation_interval,
        },
        "rule_files": [str(layout.rules_dir / "*.rules.yml")],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"{HOST}:{p.alertmanager}"]}]}]},
        "scrape_configs": [
            # `model-…` job name: ModelServiceDown / ModelTargetDown watch up{job=~"model-.*"}.
            job("model-api", p.model_api, namespace=NAMESPACE, deployment=DEPLOYMENT, pod=POD),
            job("alertmedic", p.alertmedic),
            job("alertmanager", p.alertmanager),
            job("prometheus", p.prometheus),
        ],
    }


def _routes(route: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield route
    for child in route.get("routes", []):
        yield from _routes(child)


def alertmanager_config(
    settings: Settings, layout: Layout, source: Path = ALERTMANAGER_CONFIG
) -> dict[str, Any]:
    """`source` with its webhooks pointed at the local alertmedic and its timings capped.

    Routes, matchers, grouping, repeat intervals and inhibitions are kept as they are.
    """
    # The JSON round trip turns YAML aliases (the shared webhook block) into separate copies.
    config: dict[str, Any] = json.loads(json.dumps(yaml.safe_load(source.read_text(encoding="utf-8"))))
    url = f"http://{HOST}:{settings.ports.alertmedic}/webhook/alertmanager"
    for receiver in config.get("receivers", []):
        others = sorted(k for k in receiver if k.endswith("_configs") and k != "webhook_configs")
        if others:
            raise StartupError(
                f"{source}: receiver {receiver['name']!r} has {', '.join(others)}; "
                "the demo only knows how to keep webhook_configs on loopback"
            )
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = url
            auth = hook.setdefault("http_config", {}).setdefault("authorization", {})
            auth.pop("credentials", None)
            auth["credentials_file"] = str(layout.token_file)
    for route in _routes(config["route"]):
        for key, cap in (("group_wait", settings.group_wait), ("group_interval", settings.group_interval)):
            if key in route and parse_duration(route[key]) > parse_duration(cap):
                route[key] = cap
    return config


def alertmedic_config(settings: Settings, layout: Layout) -> dict[str, Any]:
    """Email through the SMTP printer plus the file inbox for critical and warning; the
    Watchdog heartbeat to its own file (and watched by the dead-man's switch); anything else
    (info) to the inbox only."""

    def email(to: str) -> dict[str, Any]:
        return {
            "to": to,
            "from": "alertmedic@example.org",
            "smarthost": f"{HOST}:{settings.ports.smtp}",
            "require_tls": False,
        }

    inbox = {"path": str(layout.inbox)}
    return {
        "server": {
            "listen": f"{HOST}:{settings.ports.alertmedic}",
            "auth": {"bearer_token_file": str(layout.token_file)},
        },
        "storage": {"url": f"sqlite:///{layout.alertmedic_dir / 'alertmedic.db'}"},
        "delivery": {"retry_initial": "1s", "retry_max": "30s"},
        "receivers": [
            {"name": "oncall", "email_configs": [email("oncall@example.org")], "file_configs": [inbox]},
            {"name": "ml-team", "email_configs": [email("ml-team@example.org")], "file_configs": [inbox]},
            {"name": "inbox", "file_configs": [inbox]},
            {"name": "heartbeat", "file_configs": [{"path": str(layout.heartbeat)}]},
        ],
        "route": {
            "receiver": "inbox",
            "routes": [
                {"matchers": ['heartbeat="true"'], "receiver": "heartbeat"},
                {"matchers": ['severity="critical"'], "receiver": "oncall"},
                {"matchers": ['severity="warning"'], "receiver": "ml-team"},
            ],
        },
        # The dead-man's switch on the Watchdog: were Prometheus or Alertmanager to stop, the
        # on-call hears it within 5 minutes.
        "heartbeats": [
            {
                "name": "demo",
                "matchers": ['alertname="Watchdog"', 'heartbeat="true"'],
                "timeout": "5m",
                "receiver": "oncall",
            }
        ],
        # Self-healing as a rehearsal: no cluster here, so dry run; the "would restart" line is
        # mailed in the alert's thread.
        "remediation": {
            "allowed_namespaces": [NAMESPACE],
            "dry_run": True,
            "actions": [
                {
                    "name": "restart-on-latency",
                    "matchers": ['alertname="ModelHighLatencyP95"', 'severity="critical"'],
                    "kind": "rollout_restart",
                    "target": {
                        "kind": "Deployment",
                        "namespace": "{{ labels.namespace }}",
                        "name": "{{ labels.deployment }}",
                    },
                    "cooldown": "30m",
                }
            ],
        },
    }


# --- processes ----------------------------------------------------------------------------


def _tail(path: Path, chars: int = 2000) -> str:
    return path.read_text(encoding="utf-8", errors="replace")[-chars:] if path.exists() else ""


async def smtp_ready(port: int) -> bool:
    """True when an SMTP server on 127.0.0.1:`port` greets with 220."""
    try:
        async with asyncio.timeout(2):
            reader, writer = await asyncio.open_connection(HOST, port)
            try:
                greeting = await reader.readline()
                writer.write(b"QUIT\r\n")
                await writer.drain()
                await reader.readline()
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
            return greeting.startswith(b"220")
    except (OSError, TimeoutError):
        return False


class Child:
    """A child process with its own log (stderr, and stdout unless `stdout` is given).

    `ready` is a URL that answers 200 once the process serves (polled with the e2e tests'
    `wait_ready`), or a coroutine function for what is not HTTP (the SMTP printer)."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        log: Path,
        ready: str | Callable[[], Awaitable[bool]],
        stdout: Path | None = None,
    ) -> None:
        self.name, self.argv, self.log_path, self.ready, self.stdout = name, argv, log, ready, stdout
        self.proc: subprocess.Popen[bytes] | None = None

    def spawn(self) -> subprocess.Popen[bytes]:
        """Start the process (no waiting); its output goes to the log files."""
        with self.log_path.open("ab") as log, (self.stdout or self.log_path).open("ab") as out:
            self.proc = subprocess.Popen(  # noqa: S603 - our own fixed argv
                self.argv, cwd=ROOT, stdout=out, stderr=log, env={**os.environ, "PYTHONUNBUFFERED": "1"}
            )
        return self.proc

    async def start(self, timeout: float = 30) -> None:
        """Spawn, then wait until it is ready; StartupError if it exits or `timeout` passes."""
        proc = self.spawn()
        if isinstance(self.ready, str):
            await wait_ready(self.ready, proc, self.log_path, timeout=timeout)
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise StartupError(f"{self.name} exited with code {proc.returncode}:\n{_tail(self.log_path)}")
            if await self.ready():
                return
            await asyncio.sleep(0.05)
        raise StartupError(f"{self.name} was not ready after {timeout:g}s:\n{_tail(self.log_path)}")

    def stop(self, timeout: float = 10) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout)


class _HasProc(Protocol):
    proc: subprocess.Popen[bytes] | None


@dataclass
class Component:
    name: str
    url: str
    handle: _HasProc
    stop: Callable[[], None]
    log: Path

    def returncode(self) -> int | None:
        proc = self.handle.proc
        return None if proc is None else proc.poll()


def _stop_alertmedic(svc: ServiceProcess) -> None:
    """SIGTERM (alertmedic finishes in-flight deliveries), SIGKILL after 15s."""
    if svc.proc is None or svc.proc.poll() is not None:
        return
    try:
        svc.terminate(timeout=15)
    except subprocess.TimeoutExpired:
        svc.stop()


class Stack:
    """The five processes of the demo. `start()` / `stop()`, or `async with Stack(...)`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.layout = Layout(settings.run_dir)
        self.components: list[Component] = []
        self.shortened: list[Shortened] = []

    def url(self, name: str) -> str:
        p = self.settings.ports
        port = {
            "model-api": p.model_api,
            "prometheus": p.prometheus,
            "alertmanager": p.alertmanager,
            "alertmedic": p.alertmedic,
        }[name]
        return f"http://{HOST}:{port}"

    async def start(self) -> None:
        """Write the run directory and start every component; StartupError if one fails.

        Whatever was started stays in `components`, so `stop()` cleans up after a failure
        or a cancellation."""
        missing = missing_binaries()
        if missing:
            raise StartupError(f"missing {', '.join(missing)}: run `make system-deps`")
        s, layout = self.settings, prepare_run_dir(self.settings.run_dir)
        self.layout = layout
        p = s.ports
        self.shortened = write_demo_rules(layout.rules_dir, to=s.demo_for)
        prom_config = layout.prometheus_dir / "prometheus.yml"
        prom_config.write_text(yaml.safe_dump(prometheus_config(s, layout), sort_keys=False))

        smtp = Child(
            "smtp-print",
            [
                sys.executable,
                "-m",
                "demo.smtp_print",
                "--host",
                HOST,
                "--port",
                str(p.smtp),
                "--jsonl",
                str(layout.mails_jsonl),
            ],
            log=layout.log("smtp-print"),
            stdout=layout.mails_log,
            ready=lambda: smtp_ready(p.smtp),
        )
        await self._start(
            Component("smtp-print", f"smtp://{HOST}:{p.smtp}", smtp, smtp.stop, smtp.log_path), smtp.start
        )

        api = Child(
            "model-api",
            [
                sys.executable,
                "-m",
                "demo.model_api",
                "--host",
                HOST,
                "--port",
                str(p.model_api),
                "--rps",
                str(s.rps),
            ],
            log=layout.log("model-api"),
            ready=f"{self.url('model-api')}/healthz",
        )
        await self._start(
            Component("model-api", self.url("model-api"), api, api.stop, api.log_path), api.start
        )

        medic = ServiceProcess(layout.alertmedic_dir, alertmedic_config(s, layout), port=p.alertmedic)
        medic.log_path = layout.log("alertmedic")
        await self._start(
            Component(
                "alertmedic", self.url("alertmedic"), medic, lambda: _stop_alertmedic(medic), medic.log_path
            ),
            medic.start,
        )

        am = Alertmanager(
            layout.run_dir,
            alertmanager_config(s, layout),
            port=p.alertmanager,
            extra_args=[f"--web.external-url={self.url('alertmanager')}/"],
        )
        await self._start(
            Component("alertmanager", self.url("alertmanager"), am, am.stop, am.dir / "log"), am.start
        )

        prom = Child(
            "prometheus",
            [
                shutil.which("prometheus") or "prometheus",
                f"--config.file={prom_config}",
                f"--storage.tsdb.path={layout.prometheus_dir / 'data'}",
                f"--web.listen-address={HOST}:{p.prometheus}",
                f"--web.external-url={self.url('prometheus')}/",
                "--storage.tsdb.retention.time=1d",
            ],
            log=layout.log("prometheus"),
            ready=f"{self.url('prometheus')}/-/ready",
        )
        await self._start(
            Component("prometheus", self.url("prometheus"), prom, prom.stop, prom.log_path), prom.start
        )

    async def _start(self, component: Component, start: Callable[[], Awaitable[None]]) -> None:
        self.components.append(component)
        try:
            await start()
        except StartupError:
            raise
        except (RuntimeError, OSError) as exc:  # wait_ready and the tests.e2e helpers raise RuntimeError
            raise StartupError(f"{component.name}: {exc}\n{_tail(component.log)}") from None

    async def stop(self) -> None:
        """Stop every started component, newest first (Prometheus before Alertmanager, ...)."""
        while self.components:
            component = self.components.pop()
            await asyncio.to_thread(component.stop)

    def exited(self) -> list[tuple[Component, int]]:
        """Components whose process has ended, with their exit codes."""
        return [(c, rc) for c in self.components if (rc := c.returncode()) is not None]

    async def inject(self, **faults: float) -> dict[str, Any]:
        """POST /inject on the model API (what the README's curl command does)."""
        query = "&".join(f"{k}={v:g}" for k, v in faults.items())
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{self.url('model-api')}/inject?{query}") as r,
        ):
            body: dict[str, Any] = await r.json()
            if r.status != 200:
                raise ValueError(body.get("error", body))
            return body

    async def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query against the demo Prometheus."""
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{self.url('prometheus')}/api/v1/query", params={"query": expr}) as r,
        ):
            body = await r.json()
            if body.get("status") != "success":
                raise ValueError(f"query {expr!r} failed: {body}")
            result: list[dict[str, Any]] = body["data"]["result"]
            return result

    async def __aenter__(self) -> Stack:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


# --- the command --------------------------------------------------------------------------


def _shown(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)


def inject_command(stack: Stack) -> str:
    return f"curl -X POST '{stack.url('model-api')}/inject?latency={INJECT_LATENCY:g}'"


def banner(stack: Stack) -> str:
    s, layout, p = stack.settings, stack.layout, stack.settings.ports
    run = _shown(layout.run_dir)
    n_alerts = len({x.alert for x in stack.shortened})
    example = next(
        (x for x in stack.shortened if x.alert == LATENCY_ALERT and x.severity == "critical"), None
    )
    example_text = f" (e.g. {example.alert} critical: {example.before} -> {example.after})" if example else ""
    return f"""
alertmedic demo stack: everything on {HOST}, no accounts; state and logs in {run}/

  model API      {stack.url("model-api")}  ({s.rps:g} self-generated predictions/s; /metrics)
  Prometheus     {stack.url("prometheus")}/alerts
  Alertmanager   {stack.url("alertmanager")}
  alertmedic     {stack.url("alertmedic")}/metrics
  SMTP printer   {HOST}:{p.smtp}  (the mails it receives are printed below)

  Demo timing: scrape and rule evaluation every {s.scrape_interval}; the `for:` of {n_alerts} alerts
  is shortened to {s.demo_for} in {_shown(layout.rules_dir)}/{example_text},
  expressions unchanged; Alertmanager group_wait <= {s.group_wait}, group_interval <= {s.group_interval}.

  Inject latency (p95 -> ~{INJECT_LATENCY:g}s); a {LATENCY_ALERT} mail appears here in about a minute:

    {inject_command(stack)}

  Back to healthy: curl -X POST '{stack.url("model-api")}/reset'  (the "resolved" mail follows
  about 5 minutes later, when the slow requests have left the rules' 5m rate window)
  Other faults: /inject?errors=0.3  /inject?drift=0.6  /inject?accuracy=0.8
  Notifications also land in {_shown(layout.inbox)}. Ctrl-C stops everything.
"""


class _Follower:
    """Reads what was appended to a file since the last call, whole lines only."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset, self.rest = path, 0, b""

    def read(self) -> str:
        try:
            with self.path.open("rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return ""
        self.offset += len(data)
        data = self.rest + data
        cut = data.rfind(b"\n") + 1
        self.rest = data[cut:]
        return data[:cut].decode("utf-8", errors="replace")


async def run(settings: Settings, out: TextIO = sys.stdout) -> int:
    """Start the stack, print the banner, stream the mails until a signal; the exit code."""

    def say(text: str) -> None:
        out.write(text + "\n")
        out.flush()

    missing = missing_binaries()
    if missing:
        say(f"demo: missing {', '.join(missing)}. Run `make system-deps` (sudo apt-get install ...).")
        return 2
    busy = busy_ports(settings.ports)
    if busy:
        for name, port in busy:
            say(
                f"demo: port {port} ({name}) on {HOST} is already in use; see what holds it with "
                f"`ss -ltnp 'sport = :{port}'`."
            )
        say(
            "demo: stop it, or run with free ports: `make demo DEMO_ARGS=--ports-auto` "
            "(python -m demo.stack --ports-auto)."
        )
        return 2
    stack = Stack(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    say(f"demo: starting in {_shown(settings.run_dir)}/ ...")
    try:
        starting = asyncio.create_task(stack.start())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not starting.done():
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError, StartupError):
                await starting
            say("demo: interrupted during startup")
            return 0
        try:
            starting.result()
        except StartupError as exc:
            say(f"demo: cannot start: {exc}")
            return 1
        say(banner(stack))
        mails = _Follower(stack.layout.mails_log)
        while not stop.is_set():
            text = mails.read()
            if text:
                out.write(text)
                out.flush()
            if dead := stack.exited():
                for component, rc in dead:
                    say(
                        f"demo: {component.name} exited unexpectedly (code {rc}); end of "
                        f"{_shown(component.log)}:\n{_tail(component.log)}"
                    )
                return 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.5)
        return 0
    finally:
        say("demo: stopping ...")
        await stack.stop()
        for sig in signals:
            loop.remove_signal_handler(sig)
        say(f"demo: stopped; logs and state stay in {_shown(settings.run_dir)}/ until the next start")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m demo.stack",
        description="The alertmedic monitoring stack on 127.0.0.1 (demo/README.md).",
    )
    p.add_argument(
        "--run-dir",
        type=Path,
        default=DEFAULT_RUN_DIR,
        help="configs, logs and state (wiped at each start; default data/demo)",
    )
    p.add_argument(
        "--ports-auto", action="store_true", help="use free ports instead of 8000/9090/9093/9095/2525"
    )
    args = p.parse_args(argv)
    ports = Ports.auto() if args.ports_auto else Ports()
    return asyncio.run(run(Settings(run_dir=args.run_dir.resolve(), ports=ports)))


if __name__ == "__main__":
    sys.exit(main())
