"""An incident from start to post-mortem through the real app (create_app) and the real webhook:
an alert fires, its log lines (fake Loki) and graph (fake Prometheus) are attached, the first
Telegram send fails and is retried, Alice acknowledges from Telegram and approves a scale-out
that acts on (fake) Kubernetes and is verified, the alert resolves. Every event of the timeline
is asserted with its order and actor, and the post-mortem draft is built from it (and written to
docs/postmortem-example.md when ALERTMEDIC_WRITE_EXAMPLE=1).

Time is a ManualClock; the alert's `startsAt` is 2m30s before the webhook arrives.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient

from app.core.incidents import IncidentFilter, TimelineEvent, format_utc
from app.engine import incidents
from app.engine.clock import ManualClock
from app.web.app import create_app
from app.web.state import STATE
from tests.chatops.test_respond import button
from tests.conftest import TOKEN, make_config
from tests.fakes.kubernetes import FakeKubernetes
from tests.fakes.loki import FakeLoki
from tests.fakes.prometheus import FakePrometheus
from tests.fakes.telegram import FakeTelegram, TgMessage
from tests.payloads import ZERO
from tests.remediate.support import CHAT, SCALE, patches

Client = TestClient  # type: ignore[type-arg]
ALICE = 111111111
START = 1_900_000_000.0
STARTS_AT = START - 150
EXPR = 'histogram_quantile(0.95, sum by (le) (rate(model_request_seconds_bucket{app="model-api"}[5m]))) > 0.5'
RUNBOOK = "https://runbooks.example.com/model-api/latency"
GROUP_KEY = '{}/{severity="critical"}:{alertname="ModelHighLatencyP95"}'
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "postmortem-example.md"
SCALE_CRITICAL = {
    **SCALE,
    "name": "scale-out-model-api",
    "matchers": ['alertname="ModelHighLatencyP95"', 'severity="critical"'],
}


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def latency(status: str = "firing", ends_at: float | None = None) -> dict[str, Any]:
    alert = {
        "status": status,
        "labels": {
            "alertname": "ModelHighLatencyP95",
            "severity": "critical",
            "namespace": "prod",
            "deployment": "model-api",
        },
        "annotations": {
            "summary": "p95 latency of model-api above 500 ms",
            "description": "Requests to model-api are slow; users see timeouts.",
            "runbook_url": RUNBOOK,
        },
        "startsAt": iso(STARTS_AT),
        "endsAt": iso(ends_at) if ends_at is not None else ZERO,
        "generatorURL": f"http://prometheus.monitoring:9090/graph?g0.expr={quote(EXPR, safe='')}&g0.tab=1",
        "fingerprint": "6f1e2d3c4b5a6978",
    }
    return {
        "version": "4",
        "groupKey": GROUP_KEY,
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "oncall",
        "groupLabels": {"alertname": "ModelHighLatencyP95"},
        "commonLabels": alert["labels"],
        "commonAnnotations": alert["annotations"],
        "externalURL": "http://alertmanager.monitoring:9093",
        "alerts": [alert],
    }


@pytest.fixture
async def fake_prometheus() -> Any:
    series = [({"app": "model-api"}, lambda t: 0.35 + 0.4 * max(0.0, math.sin((t - STARTS_AT) / 900)))]
    async with FakePrometheus(series) as fake:  # type: ignore[arg-type]
        yield fake


async def start(
    tmp_path: Path,
    aiohttp_client: Any,
    clock: ManualClock,
    tg: FakeTelegram,
    kube: FakeKubernetes,
    kubeconfig: Path,
    loki: FakeLoki,
    prometheus: FakePrometheus,
) -> Client:
    kube.add_deployment("prod", "model-api", replicas=3)
    config = make_config(
        tmp_path,
        [
            {
                "name": "oncall",
                "telegram_configs": [{"bot_token": tg.token, "chat_id": CHAT, "api_url": tg.url}],
            }
        ],
        {"receiver": "oncall"},
        enrichment={
            "loki": {"url": loki.url, "timeout": "2s"},
            "prometheus": {"url": prometheus.url, "timeout": "5s"},
            "rules": [
                {
                    "matchers": ['namespace="prod"', 'deployment!=""'],
                    "logs": {"query": '{app="{{ labels.deployment }}"} |~ "(?i)error|timeout"', "limit": 5},
                    "graph": {"range": "1h"},
                }
            ],
        },
        remediation={
            "kubernetes": {"kubeconfig": str(kubeconfig), "context": "fake"},
            "allowed_namespaces": ["prod"],
            "dry_run": False,
            "actions": [SCALE_CRITICAL],
        },
        chatops={
            "telegram": {"bot_token": tg.token, "api_url": tg.url},
            "permissions": [{"users": [f"telegram:{ALICE}"], "allow": ["ack", "approve"]}],
        },
    )
    client: Client = await aiohttp_client(create_app(config, clock=clock))
    return client


async def post(client: Client, body: dict[str, Any]) -> None:
    resp = await client.post("/webhook/alertmanager", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status == 200, await resp.text()


async def until(clock: ManualClock, check: Callable[[], Awaitable[bool]], *, step: float = 1.0) -> None:
    """Let the app run, the clock moving `step` at a time, until `check()` holds."""
    for _ in range(600):
        for _ in range(10):
            await asyncio.sleep(0.005)
            if await check():
                return
        await clock.advance(step)
    raise AssertionError("condition not met")


def alert_message(tg: FakeTelegram) -> TgMessage | None:
    found = [m for m in tg.messages(CHAT) if m.kind == "text" and "reply_parameters" not in m.params]
    return found[0] if found else None


@pytest.mark.slow
async def test_incident_timeline_and_postmortem_of_a_full_scenario(
    tmp_path: Path,
    aiohttp_client: Any,
    fake_telegram: FakeTelegram,
    fake_kubernetes: FakeKubernetes,
    fake_kubeconfig: Path,
    fake_loki: FakeLoki,
    fake_prometheus: FakePrometheus,
) -> None:
    clock = ManualClock(start=START)
    ns = 1_000_000_000
    fake_loki.push(
        {"app": "model-api", "namespace": "prod"},
        [
            (int((STARTS_AT - 240) * ns), "ERROR timeout calling feature-store after 2000ms"),
            (int((STARTS_AT - 120) * ns), "ERROR db login failed password=hunter2-s3cr3t"),
            (int((STARTS_AT - 30) * ns), "WARN request queue 480/500, shedding load timeout"),
        ],
    )
    client = await start(
        tmp_path,
        aiohttp_client,
        clock,
        fake_telegram,
        fake_kubernetes,
        fake_kubeconfig,
        fake_loki,
        fake_prometheus,
    )
    store = client.app[STATE].store
    fake_telegram.fail_next(1, status=429, retry_after=5, method="sendMessage")

    # fire: the first send is refused (429), retried, delivered with the Approve button
    await post(client, latency())
    ref = (await incidents.list_incidents(store, IncidentFilter()))[0].id

    async def delivered_offering_approve() -> bool:
        msg = alert_message(fake_telegram)
        if msg is None or msg.reply_markup is None or "▶ Approve" not in str(msg.reply_markup):
            return False
        detail = await incidents.incident(store, ref)
        return detail is not None and any(e.kind == "notified" for e in detail.events)

    await until(clock, delivered_offering_approve)

    # Alice acknowledges from Telegram 2 minutes later
    await clock.advance(120 - (clock.now() - START))
    msg = alert_message(fake_telegram)
    assert msg is not None
    fake_telegram.push_update(
        fake_telegram.callback_update(msg, button(msg, "✅ Ack"), user_id=ALICE, username="alice")
    )

    async def acked() -> bool:
        return any(a.action == "ack" for a in await store.chat_audits())

    await until(clock, acked, step=0.0)

    # ... and approves the scale-out a minute later; it acts on Kubernetes and is verified
    await clock.advance(60)
    msg = alert_message(fake_telegram)
    assert msg is not None
    fake_telegram.push_update(
        fake_telegram.callback_update(msg, button(msg, "▶ Approve"), user_id=ALICE, username="alice")
    )

    async def verified() -> bool:
        return [r.state for r in await store.remediations()] == ["succeeded"]

    await until(clock, verified)
    assert len(patches(fake_kubernetes)) == 1

    # the alert resolves 10 minutes after it started
    await clock.advance(STARTS_AT + 600 - clock.now())
    await post(client, latency("resolved", ends_at=STARTS_AT + 570))

    async def resolve_delivered() -> bool:
        detail = await incidents.incident(store, ref)
        assert detail is not None
        return detail.events[-1].kind == "notified" and detail.summary.state == "resolved"

    await until(clock, resolve_delivered)

    detail = await incidents.incident(store, ref)
    assert detail is not None
    got = [(e.kind, e.actor) for e in detail.events]
    assert got == [
        ("fired", "alertmanager"),
        ("remediation_planned", "alertmedic"),
        ("remediation_awaiting_approval", "alertmedic"),
        ("enriched", "alertmedic"),
        ("retried", "alertmedic"),
        ("notified", "alertmedic"),
        ("acked", "alice (telegram)"),
        ("remediation_approved", "alice (telegram)"),
        ("remediation_started", "alertmedic"),
        ("remediation_verified", "alertmedic"),
        ("resolved", "alertmanager"),
        ("notified", "alertmedic"),
    ], got
    by_kind: dict[str, TimelineEvent] = {}
    for e in detail.events:
        by_kind.setdefault(e.kind, e)  # the first of each kind
    assert by_kind["fired"].at == START and by_kind["acked"].at == START + 120
    assert by_kind["remediation_approved"].at == START + 180
    assert by_kind["resolved"].at == STARTS_AT + 600
    assert (
        by_kind["fired"].detail["alerts"]
        == by_kind["resolved"].detail["alerts"]
        == [{"fingerprint": "6f1e2d3c4b5a6978", "name": "ModelHighLatencyP95"}]
    )
    assert by_kind["retried"].detail["destination"] == "oncall/telegram[0]"
    assert "Flood control exceeded" in by_kind["retried"].detail["error"]
    assert by_kind["notified"].summary == "sent to oncall/telegram[0]"
    assert detail.events[-1].summary == "updated to oncall/telegram[0]"
    assert by_kind["enriched"].detail["log_lines"] == 3 and by_kind["enriched"].detail["graphs"] == 1
    assert by_kind["acked"].detail["source"] == "telegram"
    assert by_kind["remediation_verified"].detail["target"] == "Deployment/prod/model-api"
    assert START < by_kind["remediation_started"].at <= by_kind["remediation_verified"].at
    assert by_kind["notified"].at > START  # after the retry's backoff

    s = detail.summary
    assert (s.id, s.state, s.severity, s.namespace, s.receiver) == (
        ref,
        "resolved",
        "critical",
        "prod",
        "oncall",
    )
    assert (s.first_fired, s.resolved_at, s.acked_by) == (STARTS_AT, STARTS_AT + 600, "@alice")
    assert detail.ended_at == STARTS_AT + 570 and detail.expression == EXPR
    assert detail.links["runbook"] == RUNBOOK and detail.graph_png is not None
    assert any("feature-store" in line for line in detail.log_lines)
    assert not any("hunter2" in line for line in detail.log_lines)

    # time to acknowledge and to resolve, once each, from the first startsAt
    metrics = (await (await client.get("/metrics")).text()).splitlines()
    for name, seconds in (("acknowledge", 270.0), ("resolve", 600.0)):
        assert f'alertmedic_time_to_{name}_seconds_count{{severity="critical"}} 1.0' in metrics
        assert f'alertmedic_time_to_{name}_seconds_sum{{severity="critical"}} {seconds}' in metrics

    # the post-mortem draft
    now = STARTS_AT + 3600
    assert await incidents.resolve_id(store, ref[:6]) == ref
    pm = await incidents.postmortem(store, ref, now=now)
    assert pm is not None
    for heading in (
        "## Summary",
        "## Impact",
        "## Detection",
        "## Response",
        "## Actions taken",
        "## Evidence",
        "## Timeline",
        "## Root cause",
        "## Contributing factors",
        "## Follow-ups",
    ):
        assert f"\n{heading}\n" in pm, heading
    assert pm.startswith("# Post-mortem: ModelHighLatencyP95 (critical)")
    assert f"| Impact window | {format_utc(STARTS_AT)} → {format_utc(STARTS_AT + 570)} (9m30s) |" in pm
    assert "| Time to acknowledge | 4m30s, by alice (telegram) |" in pm
    assert "| Time to resolve | 10m00s |" in pm
    assert f"  {EXPR}" in pm and f"- Runbook: <{RUNBOOK}>" in pm
    assert "| scale-out-model-api | Deployment/prod/model-api | alice (telegram) | ✅ verified" in pm
    assert "ERROR timeout calling feature-store after 2000ms" in pm and "hunter2" not in pm
    assert "attached in chat" in pm
    assert re.search(r"\| \+4m30s \| acknowledged by @alice from telegram \| alice \(telegram\) \|", pm)
    first_row = pm.split("## Timeline")[1].splitlines()[4]
    assert "| +2m30s | ModelHighLatencyP95 fired (1 alert) | alertmanager |" in first_row
    assert f"- [ ] Review the runbook against what happened: <{RUNBOOK}>" in pm
    assert "Responders: alice (telegram)." in pm
    (tmp_path / "postmortem.md").write_text(pm)
    if os.environ.get("ALERTMEDIC_WRITE_EXAMPLE") == "1":
        EXAMPLE.write_text(pm)
    # the committed example is what this code renders (its structure: the same sections, in order)
    headings = [line for line in pm.splitlines() if line.startswith("#")]
    assert [line for line in EXAMPLE.read_text().splitlines() if line.startswith("#")] == headings
