"""`alertmedic serve` on PostgreSQL, as a real child process: a database that is away at start
keeps the replica up and unready (no crash loop) until it appears; a database that refuses the
configuration (unknown database or role) is one line on stderr and exit 1."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import yaml

from tests.cli.test_startup import assert_one_line, run
from tests.e2e.proc import ROOT, free_port, wait_ready
from tests.payloads import alert, message
from tests.pg import SERVER, Outage, fresh_database

TOKEN = "pg-startup-token"


def write_config(tmp_path: Path, url: str, port: int = 0) -> Path:
    path = tmp_path / "alertmedic.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "server": {"listen": f"127.0.0.1:{port}", "auth": {"bearer_token": TOKEN}},
                "storage": {"url": url},
                "receivers": [{"name": "a", "file_configs": [{"path": str(tmp_path / "inbox.log")}]}],
                "route": {"receiver": "a"},
            }
        )
    )
    return path


@pytest.fixture
def outage() -> Iterator[Outage]:
    relay = Outage()
    yield relay
    relay.close()


async def answer(
    url: str, proc: subprocess.Popen[bytes], timeout: float = 20
) -> tuple[int, dict[str, object]]:
    """The first answer of GET `url` (any status), while `proc` runs."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as s:
        while True:
            assert proc.poll() is None, "serve exited"
            try:
                async with s.get(url) as r:
                    return r.status, await r.json()
            except aiohttp.ClientError:
                assert time.monotonic() < deadline, f"{url} never answered"
                await asyncio.sleep(0.05)


@pytest.mark.slow
async def test_serve_started_while_postgres_is_away_stays_up_unready_then_serves(
    tmp_path: Path, outage: Outage
) -> None:
    port = free_port()
    with fresh_database() as db:
        # a password in the URL (trust auth ignores it) must not reach the log
        url = outage.url(db).replace("postgres@", "postgres:pw-in-url@")
        config = write_config(tmp_path, url, port)
        log_path = tmp_path / "serve.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "app", "serve", "--config", str(config)],
                cwd=ROOT,
                stdout=log,
                stderr=log,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        try:
            status, body = await answer(f"{base}/readyz", proc)
            assert status == 503, body
            assert any(f"127.0.0.1:{outage.port}" in p and p.startswith("store: ") for p in body["problems"])  # type: ignore[union-attr]
            async with aiohttp.ClientSession(headers=headers) as s:
                async with s.post(f"{base}/webhook/alertmanager", json=message("g", [alert("A", "f")])) as r:
                    assert r.status == 503
                await asyncio.sleep(1.5)
                assert proc.poll() is None  # still up: no crash loop
                outage.up()
                await wait_ready(f"{base}/readyz", proc, log_path, timeout=30)
                async with s.post(f"{base}/webhook/alertmanager", json=message("g", [alert("A", "f")])) as r:
                    assert r.status == 200
                inbox = tmp_path / "inbox.log"
                deadline = time.monotonic() + 15
                while not (inbox.exists() and "[FIRING:1] A" in inbox.read_text()):
                    assert time.monotonic() < deadline, "not delivered after the database appeared"
                    await asyncio.sleep(0.05)
        finally:
            proc.terminate()
            code = proc.wait(30)
        text = log_path.read_text()
        assert code == 0, text[-2000:]
        assert "pw-in-url" not in text
        assert "Traceback" not in text
        lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        unreachable = [x for x in lines if x.get("msg", "").startswith("store unreachable")]
        assert len(unreachable) == 1  # once, not once per retry
        assert any(x.get("msg") == "store connected" for x in lines)


@pytest.mark.slow
def test_serve_on_an_unknown_database_is_one_line_and_exit_1(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"{SERVER}/no_such_alertmedic_db")
    assert_one_line(
        run("serve", "--config", str(config)), "cannot start", "no_such_alertmedic_db", "does not exist"
    )
