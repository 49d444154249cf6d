"""Each kind from a firing alert to the line in the thread, through the pieces the jobs will run:
plan → read live → guards → pin → act (twice, as after a crash) → verify reads on a fake clock →
report. The queue and the store are not involved here; the slot table is the documented rule."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from app.config.remediation import ActionSettings, KubernetesSettings
from app.core.models import Alert
from app.core.remediation.actions import ActionSpec, Policy
from app.core.remediation.guards import decide, slot_keys
from app.core.remediation.planner import plan
from app.core.remediation.report import Report, report_text
from app.core.remediation.verdict import Verdict, next_verify
from app.remediate.executor import Acted, act, check, pin, read_live
from app.remediate.kube import Kube
from tests.core.remediation.conftest import SlotTable
from tests.fakes.kubernetes import FakeKubernetes, RolloutScript
from tests.fakes.webhook import WebhookSink
from tests.payloads import alert

T0 = 1_800_000_000.0
POLICY = Policy(allowed_namespaces=frozenset({"prod", "ml"}))


@pytest.fixture
async def kube(fake_kubeconfig: Path) -> AsyncIterator[Kube]:
    k = Kube.from_settings(KubernetesSettings(kubeconfig=fake_kubeconfig))
    yield k
    await k.aclose()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def spec_of(**raw: Any) -> ActionSpec:
    return ActionSettings.model_validate({"name": "act", "matchers": ['alertname="A"'], **raw}).spec


def firing(**labels: str) -> Alert:
    raw = alert("A", "fp1", **labels)
    raw["annotations"]["retrain_cronjob"] = "retrain"
    return Alert.model_validate(raw)


async def remediate(
    kube: Kube, session: aiohttp.ClientSession, spec: ActionSpec, a: Alert, *, policy: Policy = POLICY
) -> str:
    """What the remediate + verify jobs do, with time as numbers; returns the report line."""
    table = SlotTable()
    [intent] = plan([a], [spec], policy)
    assert intent.target is not None
    live = await read_live(kube, spec, intent.target) if intent.refusal is None else None
    decision = decide(
        intent,
        spec,
        policy,
        slots=table.read(slot_keys(intent, spec, policy)),
        holder="job-1",
        now=T0,
        live=live,
    )
    if decision.kind == "refused":
        return report_text(Report(spec.name, spec.kind, intent.target, "refused", refusal=decision.refusal))
    if decision.kind == "would":
        return report_text(Report(spec.name, spec.kind, intent.target, "would"))
    assert table.claim(decision.claims, "job-1", T0)
    pinned = pin(decision, live, now=T0)
    kwargs = {"intent_id": "job-1", "alertname": "A", "fingerprint": "fp1"}
    acted = await act(kube, session, spec, intent.target, pinned, **kwargs)
    replay = await act(kube, session, spec, intent.target, pinned, **kwargs)  # kill -9 before recording
    assert replay == acted
    acted = Acted.from_json(acted.to_json())  # through the verify job's payload
    now, polls = T0 + 1, 0
    while True:
        step = next_verify(
            await check(kube, acted), acted_at=acted.at, now=now, timeout=spec.verify_timeout, polls=polls
        )
        if isinstance(step, Verdict):
            break
        now, polls = now + step, polls + 1
    outcome = "succeeded" if step.state == "succeeded" else "failed"
    detail = f"{acted.detail}, {step.detail}" if acted.detail else step.detail
    return report_text(Report(spec.name, spec.kind, intent.target, outcome, detail=detail, seconds=now - T0))


RESTART = {
    "kind": "rollout_restart",
    "target": {
        "kind": "Deployment",
        "namespace": "{{ labels.namespace }}",
        "name": "{{ labels.deployment }}",
    },
}


async def test_rollout_restart(
    fake_kubernetes: FakeKubernetes, kube: Kube, session: aiohttp.ClientSession
) -> None:
    fake_kubernetes.add_deployment("prod", "model-api", replicas=3)
    fake_kubernetes.script_rollout("deployments", "prod", "model-api", RolloutScript(complete_after=4))
    line = await remediate(kube, session, spec_of(**RESTART), firing(deployment="model-api"))
    assert line == "🔧 rollout restart prod/model-api: complete in 4 s (3/3 pods updated and available)"
    assert [r.method for r in fake_kubernetes.requests].count("PATCH") == 2  # the replay changed nothing
    assert fake_kubernetes.get("deployments", "prod", "model-api")["metadata"]["generation"] == 2  # type: ignore[index]


async def test_rollout_restart_that_never_finishes(
    fake_kubernetes: FakeKubernetes, kube: Kube, session: aiohttp.ClientSession
) -> None:
    fake_kubernetes.add_deployment("prod", "model-api")
    fake_kubernetes.script_rollout("deployments", "prod", "model-api", RolloutScript(stall=True))
    spec = spec_of(**RESTART, verify={"timeout": "1m"})
    line = await remediate(kube, session, spec, firing(deployment="model-api"))
    assert line == (
        "❌ rollout restart prod/model-api: failed in 1 min (not done within 1m "
        "(last seen: 1 of 3 new replicas updated))"
    )


async def test_paused_deployment_is_refused(
    fake_kubernetes: FakeKubernetes, kube: Kube, session: aiohttp.ClientSession
) -> None:
    fake_kubernetes.add_deployment("prod", "model-api", paused=True)
    line = await remediate(kube, session, spec_of(**RESTART), firing(deployment="model-api"))
    assert line == (
        "⛔ rollout restart prod/model-api: refused by paused: "
        "the Deployment is paused (kubectl refuses to restart it too)"
    )
    assert [r.method for r in fake_kubernetes.requests] == ["GET"]


async def test_dry_run_changes_nothing(
    fake_kubernetes: FakeKubernetes, kube: Kube, session: aiohttp.ClientSession
) -> None:
    fake_kubernetes.add_deployment("prod", "model-api")
    dry = Policy(allowed_namespaces=frozenset({"prod"}), dry_run=True)
    line = await remediate(kube, session, spec_of(**RESTART), firing(deployment="model-api"), policy=dry)
    assert line == "🧪 would rollout restart prod/model-api (dry run)"
    assert {r.method for r in fake_kubernetes.requests} == {"GET"}


async def test_scale(fake_kubernetes: FakeKubernetes, kube: Kube, session: aiohttp.ClientSession) -> None:
    fake_kubernetes.add_deployment("prod", "model-api", replicas=3)
    spec = spec_of(kind="scale", target=RESTART["target"], replicas="+1", max_replicas=8)
    line = await remediate(kube, session, spec, firing(deployment="model-api"))
    assert line == "🔧 scale prod/model-api: complete in 4 s (3 → 4, 4/4 pods updated and available)"
    assert fake_kubernetes.get("deployments", "prod", "model-api")["spec"]["replicas"] == 4  # type: ignore[index]


async def test_delete_pod(
    fake_kubernetes: FakeKubernetes, kube: Kube, session: aiohttp.ClientSession
) -> None:
    fake_kubernetes.add_pod("prod", "model-api-x2", replace=True, terminate_reads=2)
    spec = spec_of(
        kind="delete_pod", target={"namespace": "{{ labels.namespace }}", "name": "{{ labels.pod }}"}
    )
    line = await remediate(kube, session, spec, firing(pod="model-api-x2"))
    assert line == "🔧 delete pod prod/model-api-x2: succeeded in 4 s (pod deleted and replaced)"
    assert [r.status for r in fake_kubernetes.requests if r.method == "DELETE"] == [200, 200]


async def test_job_from_cronjob(
    fake_kubernetes: FakeKubernetes, kube: Kube, session: aiohttp.ClientSession
) -> None:
    fake_kubernetes.add_cronjob("ml", "retrain")
    fake_kubernetes.script_job("failed", after=2)
    spec = spec_of(
        kind="job_from_cronjob",
        target={"namespace": "{{ labels.namespace }}", "name": "{{ annotations.retrain_cronjob }}"},
    )
    line = await remediate(kube, session, spec, firing(namespace="ml"))
    assert line.startswith("❌ create job from cronjob ml/retrain: failed in 1 s (Job retrain-")
    assert "failed, BackoffLimitExceeded: Job has reached the specified backoff limit" in line
    assert len([k for k in fake_kubernetes.objects if k[0] == "jobs"]) == 1


async def test_http(kube: Kube, session: aiohttp.ClientSession) -> None:
    async with WebhookSink(status=204, response_body="") as sink:
        spec = spec_of(kind="http", url=sink.url_for("/admin/reload"), expect_status=[204])
        line = await remediate(kube, session, spec, firing())
    assert line == f"🔧 call POST {sink.url}/admin/reload: succeeded in 1 s (HTTP 204)"
