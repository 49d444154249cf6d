"""The real Alertmanager binary (Debian's prometheus-alertmanager) as a test peer on loopback."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tests.e2e.proc import free_port, wait_ready


def binary() -> str:
    path = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if path is None:
        pytest.fail(
            "the Alertmanager binary is missing: install Debian's prometheus-alertmanager "
            "(`make system-deps` does it)",
            pytrace=False,
        )
    return path


class Alertmanager:
    def __init__(
        self,
        tmp_path: Path,
        config: dict[str, Any],
        *,
        port: int | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        """`port` None: a free loopback port. `extra_args` are appended to the command line."""
        self.dir = tmp_path / "alertmanager"
        self.dir.mkdir(exist_ok=True)
        self.port = free_port() if port is None else port
        self.extra_args = list(extra_args)
        (self.dir / "alertmanager.yml").write_text(yaml.safe_dump(config))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        log = (self.dir / "log").open("ab")
        self.proc = subprocess.Popen(
            [
                binary(),
                f"--config.file={self.dir / 'alertmanager.yml'}",
                f"--storage.path={self.dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                *self.cluster_off(),
                "--log.level=debug",
                *self.extra_args,
            ],
            stdout=log,
            stderr=log,
        )
        log.close()
        await wait_ready(f"{self.url}/-/ready", self.proc, self.dir / "log")

    def cluster_off(self) -> list[str]:
        """A lone peer (clustering off), unless `extra_args` set up a cluster: the flag cannot
        be given twice."""
        clustered = any(a.startswith("--cluster.listen-address") for a in self.extra_args)
        return [] if clustered else ["--cluster.listen-address="]

    def log(self) -> str:
        p = self.dir / "log"
        return p.read_text() if p.exists() else ""

    async def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        # a file-like body: aiohttp warns about (and filterwarnings fails on) bytes over 1 MiB
        body = io.BytesIO(json.dumps(alerts).encode())
        headers = {"Content-Type": "application/json"}
        async with (
            aiohttp.ClientSession() as s,
            s.post(f"{self.url}/api/v2/alerts", data=body, headers=headers) as r,
        ):
            assert r.status == 200, await r.text()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def to_alertmedic(
    port: int, token_file: Path, *, group_by: Sequence[str], send_resolved: bool | None = None
) -> dict[str, Any]:
    """An Alertmanager config routing every alert to alertmedic's webhook on loopback `port` with
    the bearer token in `token_file`, flushing each group a second after it changes."""
    webhook: dict[str, Any] = {
        "url": f"http://127.0.0.1:{port}/webhook/alertmanager",
        "http_config": {"authorization": {"credentials_file": str(token_file)}},
    }
    if send_resolved is not None:
        webhook["send_resolved"] = send_resolved
    return {
        "route": {
            "receiver": "alertmedic",
            "group_by": list(group_by),
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [{"name": "alertmedic", "webhook_configs": [webhook]}],
    }


def am_alert(name: str, severity: str, *, resolved: bool = False, **labels: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    out: dict[str, Any] = {
        "labels": {"alertname": name, "severity": severity, "namespace": "prod", **labels},
        "annotations": {"summary": f"{name} fired", "description": f"{name} in prod"},
        "generatorURL": "http://prometheus.local:9090/graph?g0.expr=up",
        "startsAt": (now - timedelta(minutes=1)).isoformat(),
    }
    if resolved:
        out["endsAt"] = (now - timedelta(seconds=1)).isoformat()
    return out
