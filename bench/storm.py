"""An alert storm into one Telegram group chat: 10,000 alerts in 1,000 groups, real time.

`alertmedic serve` (SQLite, default `delivery.storm`) sends to the fake Telegram, which enforces
Telegram's limits (20 messages in any 60 s per group, 1/s per chat, 30/s per bot) and answers
429 with `retry_after` past them. Measured: seconds from the first webhook sent until every
group (so every alert) is represented in the chat — its own message, or counted in a digest's
headline — the messages sent, and the 429s received. `python -m bench storm` runs only this.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from tests.fakes.telegram import FakeTelegram

GROUPS = 1000
ALERTS = 10
CHAT = -1001000000001
CONCURRENCY = 16
SETTLE = 10.0
"""Seconds watched after every group is represented: nothing more may arrive (no backlog)."""
DEADLINE = 150.0
ROOT = Path(__file__).resolve().parent.parent
HEAD = re.compile(r"Alert storm: (\d+) alert groups? \(")


def body(i: int) -> bytes:
    alerts = [
        {
            "status": "firing",
            "labels": {
                "alertname": f"KubePodCrashLooping{i % 50}",
                "severity": "critical" if i % 10 == 0 else "warning",
                "namespace": "prod",
                "pod": f"api-{i}-{j}",
            },
            "annotations": {"summary": "pod restarting"},
            "startsAt": "2026-11-24T10:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.local:9090/graph?g0.expr=up",
            "fingerprint": f"{i:05d}{j:03d}",
        }
        for j in range(ALERTS)
    ]
    return json.dumps(
        {
            "version": "4",
            "groupKey": f'{{}}:{{group="{i}"}}',
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "alertmedic",
            "groupLabels": {"group": str(i)},
            "commonLabels": {"namespace": "prod"},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager.local:9093",
            "alerts": alerts,
        }
    ).encode()


def represented(fake: FakeTelegram) -> tuple[int, int]:
    """(groups represented, digests): one per own message, a digest's headline count."""
    groups = digests = 0
    for m in fake.messages(CHAT):
        found = HEAD.search(m.visible_text)
        if found is None:
            groups += 1
        else:
            groups += int(found.group(1))
            digests += 1
    return groups, digests


async def rows(
    work: Path,
    token: str,
    *,
    port: int,
    spawn: Callable[[list[str], Path], subprocess.Popen[bytes]],
    ready: Callable[[str], Awaitable[None]],
) -> list[tuple[str, str, str]]:
    """The storm figures; `spawn` and `ready` are the main benchmark's process helpers."""
    async with FakeTelegram(enforce_rate_limits=True) as fake:
        cfg = work / "storm.yml"
        cfg.write_text(
            f"""
server:
  listen: "127.0.0.1:{port}"
  auth: {{bearer_token: {token}}}
storage: {{url: "sqlite:///{work}/storm.db"}}
receivers:
  - name: oncall
    telegram_configs: [{{bot_token: "{fake.token}", chat_id: {CHAT}, api_url: "{fake.url}"}}]
route: {{receiver: oncall}}
"""
        )
        args = [sys.executable, "-m", "app", "serve", "--config", str(cfg), "--log-level", "error"]
        proc = spawn(args, ROOT)
        try:
            await ready(f"http://127.0.0.1:{port}/readyz")
            url = f"http://127.0.0.1:{port}/webhook/alertmanager"
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            bodies = [body(i) for i in range(GROUPS)]
            failed = 0
            t0 = time.perf_counter()
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as session:

                async def post(data: bytes) -> None:
                    nonlocal failed
                    async with session.post(url, data=data, headers=headers) as resp:
                        await resp.read()
                        failed += resp.status >= 300

                queue = list(reversed(bodies))

                async def worker() -> None:
                    while queue:
                        await post(queue.pop())

                await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
                ingested = time.perf_counter() - t0
                for _ in range(int(DEADLINE / 0.05)):  # bounded: the deadline at most
                    if represented(fake)[0] >= GROUPS or time.perf_counter() - t0 > DEADLINE:
                        break
                    await asyncio.sleep(0.05)
                done = time.perf_counter() - t0
                count, _ = represented(fake)
                await asyncio.sleep(SETTLE)
                groups, digests = represented(fake)
        finally:
            proc.terminate()
            proc.wait(10)
        messages = len(fake.messages(CHAT))
        times = sorted(m.at for m in fake.messages(CHAT))
        busiest = max((sum(1 for t in times if s <= t < s + 60) for s in times), default=0)
        return [
            (
                f"storm: {GROUPS * ALERTS} alerts in {GROUPS} groups -> 1 Telegram group chat, "
                "seconds until all represented (target < 120)",
                f"{done:.1f}" if count >= GROUPS else f">{DEADLINE:.0f}",
                f"{count} groups represented; webhooks took {ingested:.1f} s, {failed} failed",
            ),
            (
                "storm: messages sent (one per group would take 50 min at 20/min)",
                str(messages),
                f"{digests} digests; {groups} groups after {SETTLE:.0f} s more; "
                f"busiest 60 s: {busiest} messages (limit 20)",
            ),
            ("storm: 429 answers received (target 0)", str(fake.rate_limited), ""),
        ]
