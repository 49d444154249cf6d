"""The real Prometheus (Debian's `prometheus`) on loopback, filled with an hour of samples by
`promtool tsdb create-blocks-from openmetrics`, for the graph tests."""

from __future__ import annotations

import math
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.proc import free_port

METRIC = "model_latency_p95_seconds"
STEP = 15
"""Seconds between backfilled samples."""


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"`{name}` is not on PATH. Install Debian's 'prometheus' package (`make system-deps` does it).",
            pytrace=False,
        )
    return path


def latency(pod: int, t: float, started: float) -> float:
    """The backfilled value of pod `pod` at `t`: a wave, with a step up once the alert started."""
    return 0.25 + 0.05 * pod + 0.1 * math.sin(t / 600) + (0.45 if t >= started else 0.0)


@dataclass(frozen=True)
class RealPrometheus:
    url: str
    now: float
    """The last sample's time (a whole multiple of STEP)."""
    started: float
    """When the backfilled latency stepped up (the alert's startsAt)."""


def _openmetrics(now: float, started: float) -> str:
    lines = [f"# TYPE {METRIC} gauge", f"# HELP {METRIC} p95 request latency"]
    for pod in range(3):
        t = now - 70 * 60
        while t <= now:
            value = latency(pod, t, started)
            lines.append(f'{METRIC}{{namespace="prod",pod="model-api-{pod}"}} {value:.6f} {int(t)}')
            t += STEP
    return "\n".join(lines) + "\n# EOF\n"


@pytest.fixture(scope="module")
def real_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealPrometheus]:
    prometheus, promtool = _binary("prometheus"), _binary("promtool")
    root = tmp_path_factory.mktemp("prometheus")
    now = float(int(time.time()) // STEP * STEP)
    started = now - 20 * 60
    (root / "data.om").write_text(_openmetrics(now, started))
    data = root / "data"
    made = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", "-q", str(root / "data.om"), str(data)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    (root / "prometheus.yml").write_text("global:\n  scrape_interval: 1m\nscrape_configs: []\n")
    port = free_port()
    log = (root / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            prometheus,
            f"--config.file={root / 'prometheus.yml'}",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=1d",
        ],
        stdout=log,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc, root / "prometheus.log")
        yield RealPrometheus(url, now, started)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prometheus exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"prometheus at {url} did not become ready: {log.read_text()[-2000:]}")
