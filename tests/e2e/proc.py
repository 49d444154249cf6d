"""Run alertmedic as a real process (`python -m app serve`) for tests that kill or signal it."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, *, timeout: float = 20) -> None:
    """Poll `url` until it answers 200; fail early, with the log's tail, if `proc` exits."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as s:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = log.read_text()[-2000:] if log.exists() else ""
                raise RuntimeError(f"{proc.args[0]} exited: {tail}")
            try:
                async with s.get(url) as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} did not become ready")


class ServiceProcess:
    """alertmedic in a child process, on a free loopback port, logs to a file."""

    def __init__(self, tmp_path: Path, config: dict[str, Any], *, port: int | None = None) -> None:
        """`port` None: a free loopback port."""
        self.port = free_port() if port is None else port
        config = {**config, "server": {**config["server"], "listen": f"127.0.0.1:{self.port}"}}
        self.config_path = tmp_path / "alertmedic.yml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.log_path = tmp_path / "alertmedic.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, *, ready: bool = True) -> None:
        """Start the process; with `ready`, return once /readyz answers 200."""
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--config", str(self.config_path)],
            cwd=ROOT,
            stdout=log,
            stderr=log,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        log.close()
        if ready:
            await wait_ready(f"{self.url}/readyz", self.proc, self.log_path)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def terminate(self, timeout: float = 30) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log_lines(self) -> list[str]:
        return self.log_path.read_text().splitlines() if self.log_path.exists() else []
