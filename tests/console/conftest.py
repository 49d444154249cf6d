"""The console under test: the real app (create_app) with a console, self-healing against fake
Kubernetes and a manual clock, driven by Debian's chromium through Playwright (never a browser
Playwright downloads)."""

from __future__ import annotations

import asyncio
import math
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import bcrypt
import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from app.core.incidents import IncidentFilter
from app.engine.clock import ManualClock
from app.store.remediations import Remediation
from app.web.app import create_app
from app.web.state import STATE
from tests.conftest import make_config
from tests.enrich.png import colour_stats, dimensions
from tests.fakes.kubernetes import FakeKubernetes
from tests.fakes.loki import FakeLoki
from tests.fakes.prometheus import FakePrometheus
from tests.fakes.telegram import FakeTelegram
from tests.payloads import alert, message
from tests.remediate.support import CHAT, SCALE
from tests.remediate.test_end_to_end import latency, post

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOG_LINES = [
    "ERROR timeout calling feature-store after 2.0s",
    "WARN p95 latency 812ms over budget (500ms)",
    "ERROR upstream connect error: feature-store:8080 reset",
    "INFO request served in 734ms",
]
LOGQL = '{namespace="{{ labels.namespace }}", app="{{ labels.deployment }}"}'
EXPR = "histogram_quantile(0.95, rate(model_latency_seconds_bucket[5m])) > 0.5"
PASSWORDS = {"alice": "alice-pass-1", "bob": "bob-pass-2", "carol": "carol-pass-3"}
"""alice may approve and reject; bob is a user with no right to act; carol may approve on
staging only."""

Client = TestClient  # type: ignore[type-arg]


@dataclass
class Console:
    client: Client
    clock: ManualClock
    kube: FakeKubernetes
    browser: Browser
    shots: Path
    telegram: FakeTelegram

    def url(self, path: str) -> str:
        return str(self.client.make_url(path))

    async def context(self, **options: Any) -> BrowserContext:
        return await self.browser.new_context(**options)

    async def login(self, context: BrowserContext, user: str = "alice", *, then: str = "/ui") -> Page:
        page = await context.new_page()
        await page.goto(self.url(then))
        assert "/ui/login" in page.url
        await page.fill("#user", user)
        await page.fill("#password", PASSWORDS[user])
        await page.click("button[type=submit]")
        await page.wait_for_load_state()
        return page

    async def fire_awaiting_approval(self) -> Remediation:
        """A warning latency alert whose scale-out waits for approval."""
        body = latency(severity="warning")
        body["alerts"][0]["generatorURL"] = (
            f"http://prometheus:9090/graph?g0.expr={quote(EXPR, safe='')}&g0.tab=1"
        )
        started = datetime.fromtimestamp(self.clock.now() - 90, UTC)
        body["alerts"][0]["startsAt"] = started.isoformat().replace("+00:00", "Z")
        body["alerts"][0]["annotations"]["runbook_url"] = "https://runbooks.example/model-latency"
        await post(self.client, body)
        rec = await self.until_state(None, "awaiting_approval")
        for _ in range(2000):  # notified, as people would have seen it (small steps of the clock:
            if self.telegram.messages(CHAT):  # the graph and the sends take real time)
                return rec
            await asyncio.sleep(0.01)
            await self.clock.advance(0.05)
        raise AssertionError("the alert was never sent to Telegram")

    async def fire(self, name: str, fingerprint: str, **labels: str) -> None:
        """A group of one alert that started now (on the manual clock)."""
        a = alert(name, fingerprint, **labels)
        a["startsAt"] = datetime.fromtimestamp(self.clock.now(), UTC).isoformat().replace("+00:00", "Z")
        await post(self.client, message(f'{{}}:{{alertname="{name}"}}', [a]))

    async def chat_state_of(self, title: str) -> str:
        """The id of the open incident `title` once its Telegram copy is out (it then has chat
        state: acks, silences, escalations)."""
        store = self.client.app[STATE].store
        [found] = [i for i in await store.incidents(IncidentFilter()) if i.title == title]
        for _ in range(2000):  # small steps: the real work (graph, sends) takes real time
            if await store.chat_group(found.id) is not None:
                return found.id
            await asyncio.sleep(0.01)
            await self.clock.advance(0.05)
        raise AssertionError(f"{title}: no chat state")

    async def until_state(self, rid: int | None, state: str, *, step: float = 1.0) -> Remediation:
        store = self.client.app[STATE].store
        for _ in range(300):
            recs = await store.remediations()
            found = [r for r in recs if (rid is None or r.id == rid) and r.state == state]
            if found:
                return found[0]
            await asyncio.sleep(0.01)
            await self.clock.advance(step)
        raise AssertionError(f"action {rid} never reached {state}: {[(r.id, r.state) for r in recs]}")

    async def screenshot(self, page: Page, name: str) -> Path:
        """A full-page PNG under the test's directory, checked not blank."""
        path = self.shots / f"{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        png = path.read_bytes()
        width, height = dimensions(png)
        assert width >= 300 and height >= 200
        distinct, _ = colour_stats(png)
        assert distinct >= 8, f"{name}: {distinct} colours: blank?"
        return path


@pytest.fixture
async def console(
    aiohttp_client: Any,
    tmp_path: Path,
    fake_kubernetes: FakeKubernetes,
    fake_kubeconfig: Path,
    fake_loki: FakeLoki,
    fake_telegram: FakeTelegram,
) -> AsyncIterator[Console]:
    fake_kubernetes.add_deployment("prod", "model-api", replicas=3)
    clock = ManualClock(start=1_900_000_000.0)
    ns = int(clock.now()) * 1_000_000_000
    fake_loki.push(
        {"namespace": "prod", "app": "model-api"},
        [(ns - (4 - i) * 60_000_000_000, line) for i, line in enumerate(LOG_LINES)],
    )
    series = [
        (
            {"namespace": "prod", "pod": f"model-api-{i}"},
            lambda t, i=i: 0.4 + 0.15 * i + 0.1 * math.sin(t / 600),
        )
        for i in range(2)
    ]
    users = tmp_path / "console-users"
    users.write_text(
        "".join(
            f"{u}:{bcrypt.hashpw(p.encode(), bcrypt.gensalt(rounds=4)).decode().replace('$2b$', '$2y$')}\n"
            for u, p in PASSWORDS.items()
        )
    )
    async with FakePrometheus(series) as prometheus:
        config = make_config(
            tmp_path,
            [
                {
                    "name": "oncall",
                    "file_configs": [{"path": str(tmp_path / "inbox.log")}],
                    "telegram_configs": [
                        {"bot_token": fake_telegram.token, "chat_id": CHAT, "api_url": fake_telegram.url}
                    ],
                }
            ],
            {"receiver": "oncall"},
            remediation={
                "kubernetes": {"kubeconfig": str(fake_kubeconfig), "context": "fake"},
                "allowed_namespaces": ["prod"],
                "dry_run": False,
                "actions": [SCALE],
            },
            enrichment={
                "loki": {"url": fake_loki.url, "timeout": "2s"},
                "prometheus": {"url": prometheus.url, "timeout": "5s"},
                "rules": [
                    {
                        "matchers": ['namespace="prod"', 'deployment!=""'],
                        "logs": {"query": LOGQL, "before": "15m", "limit": 12},
                        "graph": {"range": "1h"},
                    }
                ],
            },
            chatops={
                "permissions": [
                    {
                        "users": ["console:alice"],
                        "allow": ["ack", "unack", "approve", "reject", "postmortem"],
                    },
                    {"users": ["console:bob"], "allow": ["ack"]},
                    {"users": ["console:carol"], "allow": ["approve"], "matchers": ['namespace="staging"']},
                ]
            },
            console={"enabled": True, "users_file": str(users), "session_ttl": "12h"},
        )
        client: Client = await aiohttp_client(create_app(config, clock=clock))
        shots = tmp_path / "screenshots"
        shots.mkdir()
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                yield Console(client, clock, fake_kubernetes, browser, shots, fake_telegram)
            finally:
                await browser.close()
    if target := os.environ.get("ALERTMEDIC_SCREENSHOTS"):  # scripts/screenshots.sh: README images
        for shot in shots.glob("*.png"):
            shutil.copy(shot, Path(target) / f"console-{shot.name}")
