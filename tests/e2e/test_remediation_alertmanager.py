"""Each kind of self-healing action end to end behind the real Alertmanager: a firing alert posted
to Alertmanager, routed by it to alertmedic's webhook, makes alertmedic send the right request to
the fake Kubernetes API server (through the official client) or to an HTTP endpoint, and the
outcome arrives as a reply in the alert's Telegram thread. `scale` waits for an approval given
through the HTTP API. Real time: the fakes finish a rollout, a Job or a pod's replacement on their
first status reads, so each verification takes a second or two."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from app.web.app import create_app
from tests.conftest import TOKEN, make_config
from tests.e2e.alertmanager import Alertmanager, am_alert, to_alertmedic
from tests.e2e.proc import free_port
from tests.fakes.kubernetes import FakeKubernetes, RolloutScript
from tests.fakes.telegram import FakeTelegram, TgMessage
from tests.fakes.webhook import WebhookSink
from tests.remediate.support import API_TOKEN, CHAT, RESTART, RETRAIN, SCALE, mutating, replied_to, replies

pytestmark = pytest.mark.slow

POD = "model-api-7f9c8d6b5-x2k4q"
RELOAD_TOKEN = "model-admin-s3cret"
VERIFY = {"timeout": "30s"}
KILL = {
    "name": "kill-stuck-pod",
    "matchers": ['alertname="PodRestartLoop"'],
    "kind": "delete_pod",
    "target": {"namespace": "{{ labels.namespace }}", "name": "{{ labels.pod }}"},
    "verify": VERIFY,
}


@dataclass
class Healing:
    am: Alertmanager
    url: str
    """alertmedic's base URL."""
    reload: WebhookSink
    """The model server's admin endpoint the `http` action calls."""


@pytest.fixture
async def reload_sink() -> AsyncIterator[WebhookSink]:
    async with WebhookSink(token=RELOAD_TOKEN, status=202) as sink:
        yield sink


@pytest.fixture
async def healing(
    aiohttp_server: Any,
    tmp_path: Path,
    fake_telegram: FakeTelegram,
    fake_kubernetes: FakeKubernetes,
    fake_kubeconfig: Path,
    reload_sink: WebhookSink,
) -> AsyncIterator[Healing]:
    """alertmedic with one action of each kind, the real Alertmanager sending every alert to it,
    and a cluster whose controllers finish on the first status reads."""
    fake_kubernetes.add_deployment("prod", "model-api", replicas=3)
    fake_kubernetes.script_rollout("deployments", "prod", "model-api", RolloutScript(complete_after=2))
    fake_kubernetes.add_cronjob("prod", "retrain")
    fake_kubernetes.script_job("complete", after=1)
    fake_kubernetes.add_pod("prod", POD, replace=True, terminate_reads=0)
    (tmp_path / "api-token").write_text(API_TOKEN + "\n")
    (tmp_path / "reload-token").write_text(RELOAD_TOKEN + "\n")
    reload_action = {
        "name": "reload-model",
        "matchers": ['alertname="ModelAccuracyDrop"'],
        "kind": "http",
        "url": reload_sink.url_for("/admin/reload"),
        "method": "POST",
        "expect_status": [200, 202, 204],
        "http_config": {"authorization": {"credentials_file": str(tmp_path / "reload-token")}},
    }
    actions = [
        {**RESTART, "verify": VERIFY},
        {**SCALE, "verify": VERIFY},
        {**RETRAIN, "verify": VERIFY},
        KILL,
        reload_action,
    ]
    config = make_config(
        tmp_path,
        [
            {
                "name": "oncall",
                "telegram_configs": [
                    {"bot_token": fake_telegram.token, "chat_id": CHAT, "api_url": fake_telegram.url}
                ],
            }
        ],
        {"receiver": "oncall"},
        remediation={
            "kubernetes": {"kubeconfig": str(fake_kubeconfig), "context": "fake"},
            "allowed_namespaces": ["prod"],
            "actions": actions,
        },
        api={"bearer_token_file": str(tmp_path / "api-token")},
    )
    port = free_port()
    await aiohttp_server(create_app(config), host="127.0.0.1", port=port)
    (tmp_path / "token").write_text(TOKEN + "\n")
    am = Alertmanager(tmp_path, to_alertmedic(port, tmp_path / "token", group_by=["alertname", "severity"]))
    await am.start()
    try:
        yield Healing(am, f"http://127.0.0.1:{port}", reload_sink)
    finally:
        am.stop()


async def reports(tg: FakeTelegram, n: int) -> list[TgMessage]:
    """The first `n` reports, each a reply to the one alert message Alertmanager's webhook made."""
    await tg.wait_until(lambda: len(replies(tg)) >= n, timeout=30, what=f"{n} report(s)")
    alerts = [m for m in tg.messages(CHAT) if "reply_parameters" not in m.params]
    assert len(alerts) == 1, [m.text for m in alerts]
    got = replies(tg)[:n]
    assert all(replied_to(m) == alerts[0].message_id for m in got)
    return got


async def test_rollout_restart(
    healing: Healing, fake_telegram: FakeTelegram, fake_kubernetes: FakeKubernetes
) -> None:
    await healing.am.post_alerts([am_alert("ModelHighLatencyP95", "critical", deployment="model-api")])
    [report] = await reports(fake_telegram, 1)
    assert report.text.startswith("🔧 rollout restart prod/model-api: complete in ")
    assert report.text.endswith(" (3/3 pods updated and available)")
    [patch] = mutating(fake_kubernetes)
    assert (patch.method, patch.path) == ("PATCH", "/apis/apps/v1/namespaces/prod/deployments/model-api")
    assert patch.headers["Content-Type"] == "application/strategic-merge-patch+json"
    annotations = json.loads(patch.body)["spec"]["template"]["metadata"]["annotations"]
    assert list(annotations) == ["kubectl.kubernetes.io/restartedAt"]
    deployment = fake_kubernetes.get("deployments", "prod", "model-api")
    assert deployment is not None and deployment["metadata"]["generation"] == 2


async def test_scale_approved_through_the_api(
    healing: Healing, fake_telegram: FakeTelegram, fake_kubernetes: FakeKubernetes
) -> None:
    await healing.am.post_alerts([am_alert("ModelHighLatencyP95", "warning", deployment="model-api")])
    [waiting] = await reports(fake_telegram, 1)
    assert waiting.text.startswith("⏳ scale prod/model-api (3 → 4): awaiting approval")
    assert mutating(fake_kubernetes) == []
    api = {"Authorization": f"Bearer {API_TOKEN}"}
    async with aiohttp.ClientSession(base_url=healing.url) as s:
        async with s.get("/api/v1/actions", params={"pending": "1"}, headers=api) as r:
            assert r.status == 200, await r.text()
            [action] = (await r.json())["actions"]
        assert (action["action"], action["state"]) == ("scale-out-on-saturation", "awaiting_approval")
        async with s.post(f"/api/v1/actions/{action['id']}/approve", headers=api) as r:
            assert r.status == 200, await r.text()
    _, done = await reports(fake_telegram, 2)
    assert done.text.startswith("🔧 scale prod/model-api: complete in ")
    [patch] = mutating(fake_kubernetes)
    assert (patch.method, patch.path) == (
        "PATCH",
        "/apis/apps/v1/namespaces/prod/deployments/model-api/scale",
    )
    assert json.loads(patch.body)["spec"]["replicas"] == 4
    deployment = fake_kubernetes.get("deployments", "prod", "model-api")
    assert deployment is not None and deployment["spec"]["replicas"] == 4


async def test_delete_pod(
    healing: Healing, fake_telegram: FakeTelegram, fake_kubernetes: FakeKubernetes
) -> None:
    uid = fake_kubernetes.objects[("pods", "prod", POD)]["metadata"]["uid"]
    await healing.am.post_alerts([am_alert("PodRestartLoop", "warning", pod=POD)])
    [report] = await reports(fake_telegram, 1)
    assert report.text.startswith(f"🔧 delete pod prod/{POD}: succeeded in ")
    assert report.text.endswith(" (pod deleted and replaced)")
    [delete] = mutating(fake_kubernetes)
    assert (delete.method, delete.path) == ("DELETE", f"/api/v1/namespaces/prod/pods/{POD}")
    assert json.loads(delete.body)["preconditions"]["uid"] == uid
    replacement = fake_kubernetes.get("pods", "prod", POD)
    assert replacement is not None and replacement["metadata"]["uid"] != uid


async def test_job_from_cronjob(
    healing: Healing, fake_telegram: FakeTelegram, fake_kubernetes: FakeKubernetes
) -> None:
    drift = am_alert("ModelDataDriftDetected", "warning", remediation="retrain")
    drift["annotations"]["retrain_cronjob"] = "retrain"
    await healing.am.post_alerts([drift])
    [report] = await reports(fake_telegram, 1)
    assert report.text.startswith("🔧 create job from cronjob prod/retrain: succeeded in ")
    [create] = mutating(fake_kubernetes)
    assert (create.method, create.path) == ("POST", "/apis/batch/v1/namespaces/prod/jobs")
    job = create.json
    assert job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    [owner] = job["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"]) == ("CronJob", "retrain")
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example/train:1.4"


async def test_http(healing: Healing, fake_telegram: FakeTelegram, fake_kubernetes: FakeKubernetes) -> None:
    await healing.am.post_alerts([am_alert("ModelAccuracyDrop", "warning", deployment="model-api")])
    [report] = await reports(fake_telegram, 1)
    url = healing.reload.url_for("/admin/reload")
    assert report.text.startswith(f"🔧 call POST {url}: succeeded in ")
    assert report.text.endswith(" (HTTP 202)")
    [call] = healing.reload.deliveries
    assert (call.method, call.path) == ("POST", "/admin/reload")
    assert call.headers["Authorization"] == f"Bearer {RELOAD_TOKEN}"
    assert RELOAD_TOKEN not in report.text
    assert fake_kubernetes.requests == []
