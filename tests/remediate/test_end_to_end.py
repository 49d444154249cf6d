"""Self-healing end to end in the real app (create_app): an Alertmanager webhook in, the official
Kubernetes client against FakeKubernetes, the outcome as a reply in the alert's Telegram thread
and in its Slack thread. Time is a ManualClock: verification polls and cooldowns take
milliseconds."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient

from app.cli import main
from app.config import Config
from app.engine.clock import ManualClock
from app.web.app import create_app
from app.web.state import STATE
from tests.conftest import TOKEN, make_config
from tests.fakes.kubernetes import FakeKubernetes
from tests.fakes.slack import FakeSlack
from tests.fakes.telegram import FakeTelegram, TgMessage
from tests.payloads import alert, message
from tests.pg import fresh_schema
from tests.remediate.support import (
    API_TOKEN,
    CHAT,
    RESTART,
    RETRAIN,
    SCALE,
    mutating,
    patches,
    replied_to,
    replies,
)

Client = TestClient  # type: ignore[type-arg]
Start = Callable[..., Awaitable[Client]]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_900_000_000.0)


@pytest.fixture
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """SQLite, unless a test asks for both stores (`indirect` parametrisation: "postgres")."""
    if getattr(request, "param", "sqlite") == "sqlite":
        return f"sqlite:///{tmp_path}/state.db"
    return fresh_schema(request.getfixturevalue("pg_database"))


@pytest.fixture
def start(
    aiohttp_client: Any,
    tmp_path: Path,
    storage_url: str,
    fake_telegram: FakeTelegram,
    fake_slack: FakeSlack,
    fake_kubernetes: FakeKubernetes,
    fake_kubeconfig: Path,
    clock: ManualClock,
) -> Start:
    fake_kubernetes.add_deployment("prod", "model-api", replicas=3)
    fake_kubernetes.add_deployment("staging", "model-api", replicas=3)
    fake_kubernetes.add_cronjob("prod", "retrain")
    (tmp_path / "api-token").write_text(API_TOKEN + "\n")
    receivers = [
        {
            "name": "oncall",
            "telegram_configs": [
                {"bot_token": fake_telegram.token, "chat_id": CHAT, "api_url": fake_telegram.url}
            ],
            "slack_configs": [
                {"app_token": fake_slack.token, "channel": "#oncall", "app_url": f"{fake_slack.url}/api"}
            ],
        }
    ]

    async def go(
        actions: list[dict[str, Any]] | None = None, *, api_token: bool = True, **remediation: Any
    ) -> Client:
        section = {
            "kubernetes": {"kubeconfig": str(fake_kubeconfig), "context": "fake"},
            "allowed_namespaces": ["prod", "staging"],
            "dry_run": False,
            "circuit_breaker": {"max_actions": 3, "within": "1h"},
            "actions": actions if actions is not None else [RESTART, RETRAIN, SCALE],
            **remediation,
        }
        config = make_config(
            tmp_path,
            receivers,
            {"receiver": "oncall"},
            remediation=section,
            api={"bearer_token_file": str(tmp_path / "api-token")} if api_token else {},
            storage={"url": storage_url},
        )
        (tmp_path / "config.yaml").write_text(yaml.safe_dump(config_dict(config, receivers)))
        client: Client = await aiohttp_client(create_app(config, clock=clock))
        return client

    return go


def config_dict(config: Config, receivers: list[dict[str, Any]]) -> dict[str, Any]:
    """The config as YAML data again (its secrets as given), for the CLI."""
    raw: dict[str, Any] = json.loads(config.model_dump_json(by_alias=True, exclude_none=True))
    raw["server"]["auth"] = {"bearer_token": TOKEN}
    raw["receivers"] = receivers
    for compiled in ("time_intervals", "mute_time_intervals"):  # dumped as the compiled table
        raw.pop(compiled, None)
    return raw


def latency(fp: str = "fp1", *, namespace: str = "prod", severity: str = "critical") -> dict[str, Any]:
    return message(
        f'{{}}:{{alertname="ModelHighLatencyP95",fp="{fp}"}}',
        [alert("ModelHighLatencyP95", fp, namespace=namespace, severity=severity, deployment="model-api")],
    )


def drift() -> dict[str, Any]:
    a = alert("ModelDataDriftDetected", "fp-drift", remediation="retrain")
    a["annotations"]["retrain_cronjob"] = "retrain"
    return message('{}:{alertname="ModelDataDriftDetected"}', [a])


async def post(client: Client, body: dict[str, Any]) -> None:
    resp = await client.post("/webhook/alertmanager", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status == 200, await resp.text()


async def until(
    clock: ManualClock, check: Callable[[], bool], *, step: float = 1.0, limit: int = 600
) -> None:
    """Let the app run, moving the clock by `step` each round, until `check()` holds."""
    for _ in range(limit):
        for _ in range(20):
            await asyncio.sleep(0.005)
            if check():
                return
        await clock.advance(step)
    raise AssertionError("condition not met")


async def test_restart_is_verified_and_reported_in_the_alerts_threads(
    start: Start,
    clock: ManualClock,
    fake_telegram: FakeTelegram,
    fake_slack: FakeSlack,
    fake_kubernetes: FakeKubernetes,
) -> None:
    client = await start()
    await post(client, latency())
    await until(clock, lambda: len(replies(fake_telegram)) >= 1)
    [alert_msg] = [m for m in fake_telegram.messages(CHAT) if "reply_parameters" not in m.params]
    [reply] = replies(fake_telegram)
    assert replied_to(reply) == alert_msg.message_id
    assert reply.text.startswith("🔧 rollout restart prod/model-api: complete in ")
    assert reply.text.endswith(" s (3/3 pods updated and available)")
    [patch] = patches(fake_kubernetes)
    restarted = json.loads(patch.body)["spec"]["template"]["metadata"]["annotations"]
    assert "kubectl.kubernetes.io/restartedAt" in restarted
    await until(clock, lambda: any(m.thread_ts for m in fake_slack.messages("#oncall")))
    [slack_alert] = [m for m in fake_slack.messages("#oncall") if not m.thread_ts]
    [slack_reply] = [m for m in fake_slack.messages("#oncall") if m.thread_ts]
    assert slack_reply.thread_ts == slack_alert.ts
    assert slack_reply.text == reply.text
    state = client.app[STATE]
    [rec] = await state.store.remediations()
    assert (rec.state, rec.action, rec.target) == (
        "succeeded",
        "restart-on-latency",
        "Deployment/prod/model-api",
    )
    metrics = await (await client.get("/metrics")).text()
    assert (
        'alertmedic_remediations_total{action="restart-on-latency",kind="rollout_restart",'
        'outcome="succeeded"} 1.0' in metrics
    )


async def test_the_same_webhook_twice_acts_once(
    start: Start, clock: ManualClock, fake_telegram: FakeTelegram, fake_kubernetes: FakeKubernetes
) -> None:
    client = await start()
    await post(client, latency())
    await post(client, latency())  # the other Alertmanager of an HA pair
    await until(clock, lambda: len(replies(fake_telegram)) >= 1)
    await clock.advance(60)
    await asyncio.sleep(0.2)
    assert len(patches(fake_kubernetes)) == 1
    assert len(replies(fake_telegram)) == 1
    assert len(await client.app[STATE].store.remediations()) == 1


async def test_a_fourth_action_within_the_breaker_window_is_refused_and_reported(
    start: Start, clock: ManualClock, fake_telegram: FakeTelegram, fake_kubernetes: FakeKubernetes
) -> None:
    client = await start([{**RESTART, "cooldown": "0s"}])
    for i in range(4):
        await post(client, latency(f"fp{i}"))
        await until(clock, lambda n=i: len(replies(fake_telegram)) >= n + 1)
    texts = [m.text for m in replies(fake_telegram)]
    assert all(t.startswith("🔧 rollout restart prod/model-api: complete") for t in texts[:3])
    assert texts[3].startswith("⛔ rollout restart prod/model-api: refused by circuit_breaker: 3 actions")
    assert len(patches(fake_kubernetes)) == 3
    metrics = await (await client.get("/metrics")).text()
    assert (
        'alertmedic_remediation_refusals_total{action="restart-on-latency",guard="circuit_breaker"} 1.0'
        in metrics
    )


LONG = "a" * 300


@pytest.mark.parametrize(
    ("labels", "said"),
    [
        ({"namespace": "dev"}, "⛔ rollout restart dev/model-api: refused by namespace: namespace 'dev'"),
        ({"deployment": "../x"}, "refused by target: name '../x' must be lower-case letters"),
        ({"deployment": "a b"}, "refused by target: name 'a b' must be lower-case letters"),
        ({"deployment": LONG}, "refused by target: name 'aaaa"),
        (
            {"deployment": "x\n🔧 rollout restart prod/model-api: complete"},
            "⛔ rollout restart prod/x 🔧 rollout restart prod/model-api: complete: refused by target: "
            "name 'x\\n🔧",
        ),
    ],
    ids=["namespace-not-allowed", "dot-dot-slash", "space", "300-characters", "newline"],
)
async def test_a_crafted_target_is_refused_without_an_api_call(
    start: Start,
    clock: ManualClock,
    fake_telegram: FakeTelegram,
    fake_kubernetes: FakeKubernetes,
    labels: dict[str, str],
    said: str,
) -> None:
    client = await start()
    body = latency()
    body["alerts"][0]["labels"].update(labels)
    await post(client, body)
    await until(clock, lambda: len(replies(fake_telegram)) >= 1)
    [reply] = replies(fake_telegram)
    assert said in reply.text
    assert "\n" not in reply.text  # one line: a label cannot forge a second report in the thread
    assert fake_kubernetes.requests == []
    [rec] = await client.app[STATE].store.remediations()
    assert (rec.state, rec.guard) == ("refused", "namespace" if "namespace" in labels else "target")
    if labels.get("deployment") == LONG:
        assert "is 300 characters long (at most 253)" in reply.text


async def test_dry_run_reports_would_and_changes_nothing(
    start: Start, clock: ManualClock, fake_telegram: FakeTelegram, fake_kubernetes: FakeKubernetes
) -> None:
    client = await start(dry_run=True)
    await post(client, latency())
    await until(clock, lambda: len(replies(fake_telegram)) >= 1)
    [reply] = replies(fake_telegram)
    assert reply.text == "🧪 would rollout restart prod/model-api (dry run)"
    assert mutating(fake_kubernetes) == []


async def test_drift_starts_the_retraining_job_from_the_cronjob(
    start: Start, clock: ManualClock, fake_telegram: FakeTelegram, fake_kubernetes: FakeKubernetes
) -> None:
    client = await start()
    await post(client, drift())
    await until(clock, lambda: len(replies(fake_telegram)) >= 1)
    [reply] = replies(fake_telegram)
    assert reply.text.startswith("🔧 create job from cronjob prod/retrain: succeeded in ")
    [create] = [r for r in fake_kubernetes.requests if r.method == "POST"]
    job = create.json
    assert job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    [owner] = job["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"]) == ("CronJob", "retrain")
    assert job["metadata"]["name"].startswith("retrain-")
    assert len(job["metadata"]["name"]) <= 63
    assert client is not None


async def test_approval_waits_for_an_authenticated_approve(
    start: Start, clock: ManualClock, fake_telegram: FakeTelegram, fake_kubernetes: FakeKubernetes
) -> None:
    client = await start()
    await post(client, latency(severity="warning"))
    await until(clock, lambda: len(replies(fake_telegram)) >= 1)
    assert replies(fake_telegram)[0].text.startswith("⏳ scale prod/model-api (3 → 4): awaiting approval")
    assert mutating(fake_kubernetes) == []
    api = {"Authorization": f"Bearer {API_TOKEN}"}
    listed = await client.get("/api/v1/actions?pending=1", headers=api)
    [action] = (await listed.json())["actions"]
    assert action["state"] == "awaiting_approval"
    nobody = await client.post(f"/api/v1/actions/{action['id']}/approve")
    assert nobody.status == 401
    wrong = await client.post(
        f"/api/v1/actions/{action['id']}/approve", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert wrong.status == 401  # the webhook's token is not the API's
    assert mutating(fake_kubernetes) == []
    [still] = (await (await client.get("/api/v1/actions?pending=1", headers=api)).json())["actions"]
    assert (still["id"], still["state"]) == (action["id"], "awaiting_approval")
    ok = await client.post(
        f"/api/v1/actions/{action['id']}/approve", headers={"Authorization": f"Bearer {API_TOKEN}"}
    )
    assert ok.status == 200, await ok.text()
    await until(clock, lambda: len(replies(fake_telegram)) >= 2)
    assert replies(fake_telegram)[1].text.startswith("🔧 scale prod/model-api: complete in ")
    [patch] = patches(fake_kubernetes)
    assert patch.path.endswith("/deployments/model-api/scale")
    again = await client.post(
        f"/api/v1/actions/{action['id']}/approve", headers={"Authorization": f"Bearer {API_TOKEN}"}
    )
    assert again.status == 409


async def test_an_approval_expires_after_its_timeout(
    start: Start, clock: ManualClock, fake_telegram: FakeTelegram, fake_kubernetes: FakeKubernetes
) -> None:
    client = await start()
    await post(client, latency(severity="warning"))
    await until(clock, lambda: len(replies(fake_telegram)) >= 1)
    await until(clock, lambda: len(replies(fake_telegram)) >= 2, step=60)
    assert replies(fake_telegram)[1].text == "⌛ scale prod/model-api: expired, no approval within 30 min"
    assert mutating(fake_kubernetes) == []
    [rec] = await client.app[STATE].store.remediations()
    assert rec.state == "expired"


async def test_a_resolve_cancels_an_action_awaiting_approval(
    start: Start, clock: ManualClock, fake_telegram: FakeTelegram, fake_kubernetes: FakeKubernetes
) -> None:
    client = await start()
    await post(client, latency(severity="warning"))
    await until(clock, lambda: len(replies(fake_telegram)) >= 1)
    body = latency(severity="warning")
    body["status"] = body["alerts"][0]["status"] = "resolved"
    body["alerts"][0]["endsAt"] = "2026-11-24T10:05:00Z"
    await post(client, body)
    await until(clock, lambda: len(replies(fake_telegram)) >= 2)
    assert replies(fake_telegram)[1].text == "✖️ scale prod/model-api: cancelled, the alert resolved first"
    assert mutating(fake_kubernetes) == []


async def test_after_a_crash_between_act_and_verify_the_verify_goes_on_without_a_second_patch(
    start: Start,
    clock: ManualClock,
    tmp_path: Path,
    fake_telegram: FakeTelegram,
    fake_kubernetes: FakeKubernetes,
) -> None:
    first = await start()
    await post(first, latency())
    store = first.app[STATE].store

    async def verifying() -> bool:
        recs = await store.remediations()
        return bool(recs) and recs[0].state == "verifying"

    for _ in range(400):
        if await verifying():
            break
        await asyncio.sleep(0.01)
    assert await verifying()
    assert len(patches(fake_kubernetes)) == 1
    await first.close()
    # As after kill -9: the remediate job's own completion was never recorded.
    import sqlite3

    with sqlite3.connect(tmp_path / "state.db") as conn:
        n = conn.execute(
            "UPDATE jobs SET state = 'pending', finished_at = NULL WHERE type = 'remediate'"
        ).rowcount
    assert n == 1
    second = await start()
    await until(clock, lambda: len(replies(fake_telegram)) >= 1)
    [reply] = replies(fake_telegram)
    assert reply.text.startswith("🔧 rollout restart prod/model-api: complete in ")
    assert len(patches(fake_kubernetes)) == 1
    [rec] = await second.app[STATE].store.remediations()
    assert rec.state == "succeeded"


async def test_a_crash_between_the_patch_and_its_record_repeats_the_same_patch_only(
    start: Start,
    clock: ManualClock,
    tmp_path: Path,
    fake_telegram: FakeTelegram,
    fake_kubernetes: FakeKubernetes,
) -> None:
    first = await start()
    await post(first, latency())
    for _ in range(400):
        if patches(fake_kubernetes):
            break
        await asyncio.sleep(0.01)
    await first.close()
    import sqlite3

    # As if killed after the PATCH and before `acting → verifying` was recorded.
    with sqlite3.connect(tmp_path / "state.db") as conn:
        [rid] = conn.execute("SELECT id FROM remediations").fetchone()
        [job_id] = conn.execute("SELECT id FROM jobs WHERE type = 'remediate'").fetchone()
        conn.execute("DELETE FROM jobs WHERE type = 'verify'")
        conn.execute(
            "UPDATE remediations SET state = 'acting', acted = NULL, job_id = ? WHERE id = ?", (job_id, rid)
        )
        conn.execute("UPDATE jobs SET state = 'pending', finished_at = NULL WHERE id = ?", (job_id,))
    await start()
    await until(clock, lambda: len(replies(fake_telegram)) >= 1)
    assert replies(fake_telegram)[0].text.startswith("🔧 rollout restart prod/model-api: complete in ")
    first_patch, second_patch = patches(fake_kubernetes)
    assert first_patch.body == second_patch.body  # the same restartedAt: no second rollout
    deployment = fake_kubernetes.get("deployments", "prod", "model-api")
    assert deployment is not None and deployment["metadata"]["generation"] == 2


@pytest.mark.parametrize("storage_url", ["sqlite", "postgres"], indirect=True)
async def test_the_cli_lists_and_approves_and_the_running_service_acts(
    start: Start,
    clock: ManualClock,
    tmp_path: Path,
    fake_telegram: FakeTelegram,
    fake_kubernetes: FakeKubernetes,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = await start()
    await post(client, latency(severity="warning"))
    await until(clock, lambda: len(replies(fake_telegram)) >= 1)
    config = str(tmp_path / "config.yaml")
    assert await asyncio.to_thread(main, ["actions", "list", "--pending", "--config", config]) == 0
    [line] = capsys.readouterr().out.splitlines()
    row = json.loads(line)
    assert (row["state"], row["action"]) == ("awaiting_approval", "scale-out-on-saturation")
    code = await asyncio.to_thread(
        main, ["actions", "approve", "--config", config, "--actor", "alice", str(row["id"])]
    )
    assert code == 0, capsys.readouterr().err
    await until(clock, lambda: len(replies(fake_telegram)) >= 2)
    assert replies(fake_telegram)[1].text.startswith("🔧 scale prod/model-api: complete in ")
    [rec] = await client.app[STATE].store.remediations()
    assert (rec.state, rec.actor) == ("succeeded", "alice")
    assert await asyncio.to_thread(main, ["actions", "reject", "--config", config, str(row["id"])]) == 1
    assert "is succeeded, not awaiting approval" in capsys.readouterr().err


@pytest.mark.parametrize("storage_url", ["sqlite", "postgres"], indirect=True)
async def test_actions_test_explains_what_would_happen_now(
    start: Start,
    clock: ManualClock,
    tmp_path: Path,
    fake_telegram: FakeTelegram,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = await start()
    config = str(tmp_path / "config.yaml")
    args = ["actions", "test", "--config", config, "alertname=ModelHighLatencyP95", "severity=critical"]
    assert await asyncio.to_thread(main, [*args, "namespace=prod", "deployment=model-api"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "restart-on-latency: rollout_restart prod/model-api: would act now "
        "(paused / rolling not checked without the API)"
    ]
    await post(client, latency())
    await until(clock, lambda: len(replies(fake_telegram)) >= 1)
    assert await asyncio.to_thread(main, [*args, "namespace=prod", "deployment=model-api"]) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith("restart-on-latency: ⛔ rollout restart prod/model-api: refused by cooldown")
    assert await asyncio.to_thread(main, [*args, "namespace=kube-system", "deployment=x"]) == 0
    assert "refused by namespace" in capsys.readouterr().out


async def test_a_storm_restarts_once_and_reports_one_refusal_but_counts_each(
    start: Start, clock: ManualClock, fake_telegram: FakeTelegram, fake_kubernetes: FakeKubernetes
) -> None:
    client = await start()
    n = 300
    storm = message(
        '{}:{alertname="ModelHighLatencyP95"}',
        [alert("ModelHighLatencyP95", f"fp{i}", deployment="model-api", pod=f"p{i}") for i in range(n)],
    )
    await post(client, storm)
    store = client.app[STATE].store

    async def settled() -> bool:
        recs = await store.remediations(limit=n + 1)
        return len(recs) == n and all(r.state in ("refused", "succeeded") for r in recs)

    for _ in range(600):
        if await settled():
            break
        await asyncio.sleep(0.01)
        await clock.advance(1)
    assert await settled()
    await until(clock, lambda: len(replies(fake_telegram)) >= 2)
    await clock.advance(30)
    await asyncio.sleep(0.2)
    assert len(patches(fake_kubernetes)) == 1
    texts = sorted(m.text for m in replies(fake_telegram))
    assert len(texts) == 2, texts
    assert texts[0].startswith("⛔ rollout restart prod/model-api: refused by cooldown")
    assert texts[1].startswith("🔧 rollout restart prod/model-api: complete")
    metrics = await (await client.get("/metrics")).text()
    refused = (
        f'alertmedic_remediation_refusals_total{{action="restart-on-latency",guard="cooldown"}} {n - 1}.0'
    )
    assert refused in metrics


async def test_a_forbidden_namespace_fails_naming_the_missing_permission(
    start: Start, clock: ManualClock, fake_telegram: FakeTelegram, fake_kubernetes: FakeKubernetes
) -> None:
    fake_kubernetes.deny("staging")
    client = await start()
    await post(client, latency(namespace="staging"))
    await until(clock, lambda: len(replies(fake_telegram)) >= 1)
    [reply] = replies(fake_telegram)
    assert reply.text.startswith(
        "❌ rollout restart staging/model-api: failed (forbidden: alertmedic may not get"
    )
    assert "deployments" in reply.text and "in namespace staging" in reply.text
    assert mutating(fake_kubernetes) == []
    [rec] = await client.app[STATE].store.remediations()
    assert (rec.state, rec.guard) == ("failed", "forbidden")


async def test_a_rejection_through_the_api_is_reported_and_nothing_is_changed(
    start: Start, clock: ManualClock, fake_telegram: FakeTelegram, fake_kubernetes: FakeKubernetes
) -> None:
    client = await start()
    await post(client, latency(severity="warning"))
    await until(clock, lambda: len(replies(fake_telegram)) >= 1)
    [rec] = await client.app[STATE].store.remediations()
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    resp = await client.post(f"/api/v1/actions/{rec.id}/reject", headers=headers)
    assert resp.status == 200, await resp.text()
    await until(clock, lambda: len(replies(fake_telegram)) >= 2)
    assert replies(fake_telegram)[1].text == "🚫 scale prod/model-api: rejected by api"
    assert mutating(fake_kubernetes) == []
    assert (await client.post("/api/v1/actions/999/approve", headers=headers)).status == 404
    await clock.advance(3600)  # its expiry timer passes: nothing more is reported
    await asyncio.sleep(0.2)
    assert len(replies(fake_telegram)) == 2


async def test_without_an_api_token_the_api_serves_nobody(start: Start) -> None:
    client = await start(api_token=False)
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": f"Bearer {TOKEN}"}):
        assert (await client.get("/api/v1/actions", headers=headers)).status == 401
        assert (await client.post("/api/v1/actions/1/approve", headers=headers)).status == 401


async def test_a_conflict_is_retried_and_an_api_down_past_the_window_fails_and_is_reported(
    start: Start, clock: ManualClock, fake_telegram: FakeTelegram, fake_kubernetes: FakeKubernetes
) -> None:
    fake_kubernetes.conflict_next(1)  # 409 once: retried, then the restart goes through
    client = await start(
        [
            RESTART,
            {
                **RESTART,
                "name": "restart-staging",
                "matchers": ['namespace="staging"'],
                "verify": {"timeout": "30s"},
            },
        ]
    )
    await post(client, latency())
    await until(clock, lambda: len(replies(fake_telegram)) >= 1)
    assert replies(fake_telegram)[0].text.startswith("🔧 rollout restart prod/model-api: complete")
    assert len(patches(fake_kubernetes)) == 2
    fake_kubernetes.fail_next(503, 10_000, path="/apis/apps/v1/namespaces/staging/deployments/model-api")
    await post(client, latency("fp-s", namespace="staging", severity="info"))
    await until(clock, lambda: len(replies(fake_telegram)) >= 2, step=10)
    text = replies(fake_telegram)[1].text
    assert text.startswith(
        "❌ rollout restart staging/model-api: failed "
        "(get deployments staging/model-api: API server error 503"
    )
    assert mutating(fake_kubernetes)[2:] == []


@pytest.mark.parametrize("storage_url", ["sqlite", "postgres"], indirect=True)
async def test_a_cli_approval_after_a_restart_is_carried_out_by_the_running_service(
    start: Start,
    clock: ManualClock,
    tmp_path: Path,
    fake_telegram: FakeTelegram,
    fake_kubernetes: FakeKubernetes,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = await start()
    await post(first, latency(severity="warning"))
    await until(clock, lambda: len(replies(fake_telegram)) >= 1)
    [rec] = await first.app[STATE].store.remediations()
    await first.close()
    second = await start()  # knows no lane of that target: nothing is pending there
    assert "remediate:Deployment/prod/model-api" not in second.app[STATE].dispatcher.lanes
    config = str(tmp_path / "config.yaml")
    assert await asyncio.to_thread(main, ["actions", "approve", "--config", config, str(rec.id)]) == 0
    await until(clock, lambda: len(replies(fake_telegram)) >= 2)
    assert replies(fake_telegram)[1].text.startswith("🔧 scale prod/model-api: complete in ")
    assert len(patches(fake_kubernetes)) == 1
    capsys.readouterr()


def latency_for(deployment: str, fp: str = "fp1") -> dict[str, Any]:
    body = latency(fp)
    body["alerts"][0]["labels"]["deployment"] = deployment
    return body


async def test_a_paused_deployment_is_not_restarted_and_the_refusal_names_the_guard(
    start: Start, clock: ManualClock, fake_telegram: FakeTelegram, fake_kubernetes: FakeKubernetes
) -> None:
    fake_kubernetes.add_deployment("prod", "paused-api", paused=True)
    client = await start()
    await post(client, latency_for("paused-api"))
    await until(clock, lambda: len(replies(fake_telegram)) >= 1)
    [reply] = replies(fake_telegram)
    assert reply.text.startswith(
        "⛔ rollout restart prod/paused-api: refused by paused: the Deployment is paused"
    )
    assert mutating(fake_kubernetes) == []
    [rec] = await client.app[STATE].store.remediations()
    assert (rec.state, rec.guard) == ("refused", "paused")
    metrics = await (await client.get("/metrics")).text()
    assert 'alertmedic_remediation_refusals_total{action="restart-on-latency",guard="paused"} 1.0' in metrics


async def test_a_deployment_still_rolling_out_is_not_restarted(
    start: Start, clock: ManualClock, fake_telegram: FakeTelegram, fake_kubernetes: FakeKubernetes
) -> None:
    rolling = fake_kubernetes.add_deployment("prod", "rolling-api", replicas=3)
    rolling["metadata"]["generation"] = 2  # a spec change the controller is still rolling out
    rolling["status"].update(observedGeneration=2, replicas=4, updatedReplicas=1, availableReplicas=3)
    client = await start()
    await post(client, latency_for("rolling-api"))
    await until(clock, lambda: len(replies(fake_telegram)) >= 1)
    [reply] = replies(fake_telegram)
    assert reply.text == (
        "⛔ rollout restart prod/rolling-api: refused by rolling: "
        "the previous rollout has not finished (1 of 3 new replicas updated)"
    )
    assert mutating(fake_kubernetes) == []
    [rec] = await client.app[STATE].store.remediations()
    assert (rec.state, rec.guard) == ("refused", "rolling")
    metrics = await (await client.get("/metrics")).text()
    assert 'alertmedic_remediation_refusals_total{action="restart-on-latency",guard="rolling"} 1.0' in metrics


async def test_a_storm_of_1000_alerts_in_10_s_restarts_once_and_counts_every_refusal(
    start: Start, clock: ManualClock, fake_telegram: FakeTelegram, fake_kubernetes: FakeKubernetes
) -> None:
    """1,000 firing alerts for one deployment reach alertmedic over 10 s the way Alertmanager
    sends a growing group: every webhook repeats the group's alerts so far plus 100 new ones."""
    client = await start()
    n, waves = 1000, 10
    group = '{}:{alertname="ModelHighLatencyP95"}'
    alerts = [
        alert("ModelHighLatencyP95", f"fp{i:04d}", deployment="model-api", pod=f"p{i}") for i in range(n)
    ]
    for wave in range(1, waves + 1):
        await post(client, message(group, alerts[: wave * n // waves]))
        await clock.advance(10 / waves)
    store = client.app[STATE].store

    async def decided() -> bool:
        recs = await store.remediations(limit=n + 1)
        return len(recs) == n and all(r.state in ("refused", "verifying", "succeeded") for r in recs)

    # Deciding needs no clock: it stays within the 10 s, far inside the 30 min cooldown.
    deadline = time.monotonic() + 120
    for _ in range(10_000):
        if await decided() or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert await decided()
    await until(clock, lambda: len(replies(fake_telegram)) >= 2)
    await clock.advance(60)
    await asyncio.sleep(0.2)
    assert len(patches(fake_kubernetes)) == 1
    recs = await store.remediations(limit=n + 1)
    assert sorted({r.fingerprint for r in recs}) == sorted(a["fingerprint"] for a in alerts)
    assert [r.state for r in recs].count("succeeded") == 1
    guards = {r.guard for r in recs if r.state == "refused"}
    assert guards <= {"cooldown", "once_until_resolved"}, guards
    texts = sorted(m.text for m in replies(fake_telegram))
    assert len(texts) == 1 + len(guards), texts  # one report per group, action, target and guard
    assert texts[-1].startswith("🔧 rollout restart prod/model-api: complete")
    assert all(t.startswith("⛔ rollout restart prod/model-api: refused by ") for t in texts[:-1])
    metrics = await (await client.get("/metrics")).text()
    counted = 0.0
    for line in metrics.splitlines():
        if line.startswith('alertmedic_remediation_refusals_total{action="restart-on-latency"'):
            counted += float(line.rsplit(" ", 1)[1])
    assert counted == n - 1


# --- the alert's own message shows the last outcome -------------------------------------------


@pytest.fixture
def start_chat(
    aiohttp_client: Any,
    tmp_path: Path,
    fake_telegram: FakeTelegram,
    fake_slack: FakeSlack,
    fake_kubernetes: FakeKubernetes,
    fake_kubeconfig: Path,
    clock: ManualClock,
) -> Start:
    """The app with self-healing and, unless `chatops=False`, responding from chat (buttons)."""
    fake_kubernetes.add_deployment("prod", "model-api", replicas=3)

    async def go(actions: list[dict[str, Any]] | None = None, *, chatops: bool = True) -> Client:
        receivers = [
            {
                "name": "oncall",
                "telegram_configs": [
                    {"bot_token": fake_telegram.token, "chat_id": CHAT, "api_url": fake_telegram.url}
                ],
                "slack_configs": [
                    {"app_token": fake_slack.token, "channel": "#oncall", "app_url": f"{fake_slack.url}/api"}
                ],
            }
        ]
        chat = {
            "telegram": {"bot_token": fake_telegram.token, "api_url": fake_telegram.url},
            "slack": {"signing_secret": "slack-signing-secret"},
            "permissions": [{"users": ["telegram:111111111"], "allow": ["ack"]}],
        }
        config = make_config(
            tmp_path,
            receivers,
            {"receiver": "oncall"},
            remediation={
                "kubernetes": {"kubeconfig": str(fake_kubeconfig), "context": "fake"},
                "allowed_namespaces": ["prod"],
                "dry_run": False,
                "actions": actions if actions is not None else [RESTART],
            },
            **({"chatops": chat} if chatops else {}),
        )
        client: Client = await aiohttp_client(create_app(config, clock=clock))
        return client

    return go


def alert_messages(fake: FakeTelegram) -> list[TgMessage]:
    return [m for m in fake.messages(CHAT) if "reply_parameters" not in m.params]


def shows(fake: FakeTelegram, index: int, line: str) -> bool:
    """The `index`th Telegram alert message shows `line` (after its last edit)."""
    found = alert_messages(fake)
    return len(found) > index and line in found[index].visible_text


def slack_shows(fake: FakeSlack, line: str) -> bool:
    return any(line in json.dumps(m.blocks or [], ensure_ascii=False) for m in fake.messages("#oncall"))


async def test_the_alerts_message_shows_the_last_outcome_and_keeps_its_buttons(
    start_chat: Start, clock: ManualClock, fake_telegram: FakeTelegram, fake_slack: FakeSlack
) -> None:
    client = await start_chat()
    await post(client, latency())
    line = "🔧 rollout restart prod/model-api: complete in "
    await until(clock, lambda: shows(fake_telegram, 0, line))
    [msg] = alert_messages(fake_telegram)
    assert msg.edited
    [row] = [ln for ln in msg.visible_text.splitlines() if ln.startswith(line)]
    assert row.endswith(" s (3/3 pods updated and available)")
    assert msg.reply_markup is not None
    assert "✅ Ack" in [b["text"] for r in msg.reply_markup["inline_keyboard"] for b in r]
    await until(clock, lambda: slack_shows(fake_slack, line))
    [slack_msg] = [m for m in fake_slack.messages("#oncall") if not m.thread_ts]
    assert slack_msg.edited


async def test_a_refusal_shows_on_the_alerts_message_naming_the_guard(
    start_chat: Start, clock: ManualClock, fake_telegram: FakeTelegram, fake_slack: FakeSlack
) -> None:
    client = await start_chat()
    await post(client, latency("fp1"))
    await until(clock, lambda: shows(fake_telegram, 0, "🔧 rollout restart prod/model-api: complete"))
    await post(client, latency("fp2"))
    refused = "⛔ rollout restart prod/model-api: refused by cooldown: "
    await until(clock, lambda: shows(fake_telegram, 1, refused))
    await until(clock, lambda: slack_shows(fake_slack, refused))
    first, second = alert_messages(fake_telegram)
    assert "complete" not in second.visible_text  # each group shows its own actions
    assert "refused" not in first.visible_text


async def test_an_edit_of_a_resolved_message_keeps_the_outcome_line(
    start_chat: Start, clock: ManualClock, fake_telegram: FakeTelegram
) -> None:
    client = await start_chat()
    await post(client, latency())
    line = "🔧 rollout restart prod/model-api: complete in "
    await until(clock, lambda: shows(fake_telegram, 0, line))
    resolved = latency()
    resolved["status"] = "resolved"
    for a in resolved["alerts"]:
        a["status"] = "resolved"
        a["endsAt"] = "2030-03-17T17:50:00Z"
    await post(client, resolved)
    await until(clock, lambda: "RESOLVED" in alert_messages(fake_telegram)[0].visible_text.upper())
    [msg] = alert_messages(fake_telegram)
    assert line in msg.visible_text


async def test_without_chatops_the_message_shows_the_outcome_without_buttons(
    start_chat: Start, clock: ManualClock, fake_telegram: FakeTelegram, fake_slack: FakeSlack
) -> None:
    client = await start_chat(chatops=False)
    await post(client, latency())
    line = "🔧 rollout restart prod/model-api: complete in "
    await until(clock, lambda: shows(fake_telegram, 0, line))
    [msg] = alert_messages(fake_telegram)
    assert msg.reply_markup is None
    await until(clock, lambda: slack_shows(fake_slack, line))
    [slack_msg] = [m for m in fake_slack.messages("#oncall") if not m.thread_ts]
    assert "actions" not in [b.get("type") for b in slack_msg.blocks or []]
    await until(clock, lambda: len(replies(fake_telegram)) == 1)  # the thread's reply as before
    assert replies(fake_telegram)[0].text.startswith(line)
