"""SIGHUP to a real `alertmedic serve`: the configuration is reloaded and the process keeps running
(it used to die with exit code 129); SIGTERM still stops it cleanly."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from tests.e2e.proc import ServiceProcess
from tests.payloads import alert, message

TOKEN = "sighup-test-token"


def config(tmp_path: Path, receivers: list[str], route_to: str) -> dict[str, Any]:
    return {
        "server": {"listen": "127.0.0.1:0", "auth": {"bearer_token": TOKEN}},
        "storage": {"url": f"sqlite:///{tmp_path}/state.db"},
        "receivers": [{"name": r, "file_configs": [{"path": str(tmp_path / f"{r}.log")}]} for r in receivers],
        "route": {"receiver": route_to},
    }


def rewrite(svc: ServiceProcess, raw: dict[str, Any]) -> None:
    raw = {**raw, "server": {**raw["server"], "listen": f"127.0.0.1:{svc.port}"}}
    svc.config_path.write_text(yaml.safe_dump(raw))


async def logged(svc: ServiceProcess, msg: str, count: int, timeout: float = 20) -> list[dict[str, Any]]:
    """The log lines with `msg`, once there are `count` of them."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [json.loads(line) for line in svc.log_lines() if line.startswith("{")]
        found = [line for line in lines if line.get("msg") == msg]
        if len(found) >= count:
            return found
        assert svc.proc is not None and svc.proc.poll() is None, f"exited: {svc.log_lines()[-5:]}"
        assert time.monotonic() < deadline, f"{count} x {msg!r} not logged: {svc.log_lines()[-5:]}"
        await asyncio.sleep(0.05)


async def gauge(session: aiohttp.ClientSession, svc: ServiceProcess, name: str) -> float:
    async with session.get(f"{svc.url}/metrics") as r:
        for line in (await r.text()).splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError(name)


async def test_sighup_reloads_and_sigterm_still_stops(tmp_path: Path) -> None:
    svc = ServiceProcess(tmp_path, config(tmp_path, ["a"], "a"))
    await svc.start()
    assert svc.proc is not None
    try:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as s:
            rewrite(svc, config(tmp_path, ["a", "b"], "b"))
            svc.proc.send_signal(signal.SIGHUP)
            [done] = await logged(svc, "configuration reloaded", 1)
            assert done["added"] == ["b/file[0]"]
            async with s.post(f"{svc.url}/webhook/alertmanager", json=message("g", [alert("A", "f")])) as r:
                assert r.status == 200
            inbox = tmp_path / "b.log"
            deadline = time.monotonic() + 10
            while not (inbox.exists() and "[FIRING:1] A" in inbox.read_text()):
                assert time.monotonic() < deadline, "b's notification not delivered"
                await asyncio.sleep(0.05)
            assert not (tmp_path / "a.log").exists()

            # an invalid file: logged with its path, the process runs on, the gauge says so
            svc.config_path.write_text(svc.config_path.read_text().replace("receiver: b", "receiver: c"))
            svc.proc.send_signal(signal.SIGHUP)
            [problem] = await logged(svc, "invalid configuration", 1)
            assert problem["path"] == "route.receiver"
            assert await gauge(s, svc, "alertmedic_config_last_reload_successful") == 0
            async with s.get(f"{svc.url}/readyz") as r:
                assert r.status == 200
        assert svc.terminate() == 0
    finally:
        svc.stop()
    assert not any("Traceback" in line for line in svc.log_lines())
