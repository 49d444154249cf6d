"""Self-healing survives `kill -9` of the real process: killed between accept and act, the action
runs once after the restart; killed during verification, the verification goes on and no second
rollout is started (a replayed request is the same request: same restartedAt)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import TOKEN
from tests.e2e.proc import ServiceProcess
from tests.fakes.kubernetes import FakeKubernetes
from tests.fakes.telegram import FakeTelegram
from tests.payloads import alert, message
from tests.remediate.support import replies

pytestmark = pytest.mark.slow
CHAT = 4242


def config(tmp_path: Path, tg: FakeTelegram, kubeconfig: Path) -> dict[str, Any]:
    return {
        "server": {"auth": {"bearer_token": TOKEN}, "shutdown_timeout": "5s"},
        "storage": {"url": f"sqlite:///{tmp_path}/state.db"},
        "delivery": {"retry_initial": "200ms", "retry_max": "1s"},
        "receivers": [
            {
                "name": "oncall",
                "telegram_configs": [{"bot_token": tg.token, "chat_id": CHAT, "api_url": tg.url}],
            }
        ],
        "route": {"receiver": "oncall"},
        "remediation": {
            "kubernetes": {"kubeconfig": str(kubeconfig), "context": "fake"},
            "allowed_namespaces": ["prod"],
            "actions": [
                {
                    "name": "restart-on-latency",
                    "matchers": ['alertname="ModelHighLatencyP95"'],
                    "kind": "rollout_restart",
                    "target": {
                        "kind": "Deployment",
                        "namespace": "{{ labels.namespace }}",
                        "name": "{{ labels.deployment }}",
                    },
                }
            ],
        },
    }


async def post_alert(url: str) -> None:
    body = message(
        '{}:{alertname="ModelHighLatencyP95"}', [alert("ModelHighLatencyP95", "fp1", deployment="model-api")]
    )
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"{url}/webhook/alertmanager", json=body, headers={"Authorization": f"Bearer {TOKEN}"}) as r,
    ):
        assert r.status == 200, await r.text()


def patch_bodies(k: FakeKubernetes) -> list[bytes]:
    return [r.body for r in k.requests if r.method == "PATCH"]


async def finish(svc: ServiceProcess, tg: FakeTelegram, k: FakeKubernetes) -> None:
    await svc.start()
    await tg.wait_until(lambda: len(replies(tg, CHAT)) >= 1, timeout=30)
    await asyncio.sleep(1.0)  # a second report or patch would come within this
    [reply] = replies(tg, CHAT)
    assert reply.text.startswith("🔧 rollout restart prod/model-api: complete in ")
    bodies = patch_bodies(k)
    assert bodies and all(b == bodies[0] for b in bodies)  # at most the same request again
    deployment = k.get("deployments", "prod", "model-api")
    assert deployment is not None and deployment["metadata"]["generation"] == 2  # one rollout


async def test_kill_9_between_accept_and_act_then_one_action(
    tmp_path: Path, fake_telegram: FakeTelegram, fake_kubernetes: FakeKubernetes, fake_kubeconfig: Path
) -> None:
    fake_kubernetes.add_deployment("prod", "model-api")
    svc = ServiceProcess(tmp_path, config(tmp_path, fake_telegram, fake_kubeconfig))
    await svc.start()
    try:
        fake_kubernetes.hold()
        await post_alert(svc.url)
        await fake_kubernetes.wait_held(1, timeout=10)  # the read before acting
        svc.kill()
        await asyncio.sleep(0.3)
        fake_kubernetes.release()
        assert patch_bodies(fake_kubernetes) == []
        await finish(svc, fake_telegram, fake_kubernetes)
        assert len(patch_bodies(fake_kubernetes)) == 1
    finally:
        svc.stop()


async def test_kill_9_during_verification_then_verified_without_a_second_rollout(
    tmp_path: Path, fake_telegram: FakeTelegram, fake_kubernetes: FakeKubernetes, fake_kubeconfig: Path
) -> None:
    fake_kubernetes.add_deployment("prod", "model-api")
    svc = ServiceProcess(tmp_path, config(tmp_path, fake_telegram, fake_kubeconfig))
    await svc.start()
    try:
        await post_alert(svc.url)
        await fake_kubernetes.wait_until(lambda: bool(patch_bodies(fake_kubernetes)), timeout=10)
        await asyncio.sleep(0.3)  # the first verification read; the next one is a second later
        svc.kill()
        assert replies(fake_telegram, CHAT) == []
        await finish(svc, fake_telegram, fake_kubernetes)
        restarted = json.loads(patch_bodies(fake_kubernetes)[0])
        assert "kubectl.kubernetes.io/restartedAt" in restarted["spec"]["template"]["metadata"]["annotations"]
    finally:
        svc.stop()
