"""Each Kubernetes action kind through the official client against FakeKubernetes: the request on
the wire, the verification verdicts, and the translation of API errors."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.config.remediation import KubernetesSettings
from app.core.errors import PermanentError, RetryableError
from app.core.remediation.jobs import ANNOTATION_INTENT, INSTANTIATE, job_name
from app.core.remediation.refusals import Guard
from app.core.remediation.targets import Target
from app.remediate.errors import ActionRefused
from app.remediate.jobs import start_job
from app.remediate.kube import Kube, KubeConfigError
from app.remediate.pods import delete_pod, read_pod
from app.remediate.restart import RESTARTED_AT, rollout_restart
from app.remediate.scale import read_scale, scale_to
from app.remediate.verify import verify_job, verify_pod_deleted, verify_rollout
from tests.fakes.kubernetes import FakeKubernetes, RolloutScript

AT = datetime(2026, 11, 25, 3, 14, 15, tzinfo=UTC)
DEPLOY = Target("Deployment", "prod", "model-api")


@pytest.fixture
async def kube(fake_kubeconfig: Path) -> AsyncIterator[Kube]:
    k = Kube.from_settings(KubernetesSettings(kubeconfig=fake_kubeconfig, context="fake"))
    yield k
    await k.aclose()


def patches(fake: FakeKubernetes) -> list[tuple[str, str, object]]:
    return [(r.path, r.content_type, json.loads(r.body)) for r in fake.requests if r.method == "PATCH"]


async def until_done(kube: Kube, target: Target, reads: int = 20) -> list[str]:
    states = []
    for _ in range(reads):
        verdict = await verify_rollout(kube, target)
        states.append(verdict.state)
        if verdict.done:
            break
    return states


# --- rollout_restart -------------------------------------------------------------------------


async def test_restart_patches_like_kubectl_and_verifies_until_complete(
    fake_kubernetes: FakeKubernetes, kube: Kube
) -> None:
    fake_kubernetes.add_deployment("prod", "model-api", replicas=3)
    fake_kubernetes.script_rollout("deployments", "prod", "model-api", RolloutScript(complete_after=4))
    patched = await rollout_restart(kube, DEPLOY, at=AT)
    assert patched["metadata"]["generation"] == 2
    assert patches(fake_kubernetes) == [
        (
            "/apis/apps/v1/namespaces/prod/deployments/model-api",
            "application/strategic-merge-patch+json",
            {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: "2026-11-25T03:14:15Z"}}}}},
        )
    ]
    assert await until_done(kube, DEPLOY) == ["pending", "pending", "pending", "succeeded"]
    last = await verify_rollout(kube, DEPLOY)
    assert last.detail == "3/3 pods updated and available"


async def test_replayed_restart_with_the_recorded_time_starts_no_second_rollout(
    fake_kubernetes: FakeKubernetes, kube: Kube
) -> None:
    fake_kubernetes.add_deployment("prod", "model-api")
    await rollout_restart(kube, DEPLOY, at=AT)
    again = await rollout_restart(kube, DEPLOY, at=AT)
    assert again["metadata"]["generation"] == 2


@pytest.mark.parametrize("kind", ["StatefulSet", "DaemonSet"])
async def test_restart_statefulset_and_daemonset(
    fake_kubernetes: FakeKubernetes, kube: Kube, kind: str
) -> None:
    target = Target(kind, "prod", "store")  # type: ignore[arg-type]
    if kind == "StatefulSet":
        fake_kubernetes.add_statefulset("prod", "store", replicas=2)
    else:
        fake_kubernetes.add_daemonset("prod", "store", nodes=2)
    await rollout_restart(kube, target, at=AT)
    resource = "statefulsets" if kind == "StatefulSet" else "daemonsets"
    assert patches(fake_kubernetes)[0][0] == f"/apis/apps/v1/namespaces/prod/{resource}/store"
    states = await until_done(kube, target)
    assert states[0] == "pending" and states[-1] == "succeeded"


async def test_paused_deployment_is_refused_without_a_patch(
    fake_kubernetes: FakeKubernetes, kube: Kube
) -> None:
    fake_kubernetes.add_deployment("prod", "model-api", paused=True)
    with pytest.raises(ActionRefused) as info:
        await rollout_restart(kube, DEPLOY, at=AT)
    assert info.value.refusal.guard is Guard.PAUSED
    assert patches(fake_kubernetes) == []


async def test_stalled_rollout_stays_pending(fake_kubernetes: FakeKubernetes, kube: Kube) -> None:
    fake_kubernetes.add_deployment("prod", "model-api")
    fake_kubernetes.script_rollout("deployments", "prod", "model-api", RolloutScript(stall=True))
    await rollout_restart(kube, DEPLOY, at=AT)
    states = await until_done(kube, DEPLOY, reads=8)
    assert states == ["pending"] * 8


async def test_progress_deadline_exceeded_fails_verification(
    fake_kubernetes: FakeKubernetes, kube: Kube
) -> None:
    fake_kubernetes.add_deployment("prod", "model-api")
    fake_kubernetes.script_rollout(
        "deployments", "prod", "model-api", RolloutScript(stall=True, fail_after=3)
    )
    await rollout_restart(kube, DEPLOY, at=AT)
    await until_done(kube, DEPLOY)
    verdict = await verify_rollout(kube, DEPLOY)
    assert (verdict.state, verdict.reason) == ("failed", "ProgressDeadlineExceeded")
    assert "has timed out progressing" in verdict.detail


# --- errors, translated in one place ---------------------------------------------------------


async def test_forbidden_names_verb_resource_and_namespace(
    fake_kubernetes: FakeKubernetes, kube: Kube
) -> None:
    fake_kubernetes.add_deployment("prod", "model-api")
    fake_kubernetes.deny("prod")
    with pytest.raises(PermanentError) as info:
        await rollout_restart(kube, DEPLOY, at=AT, live={"spec": {}})
    assert info.value.reason == "forbidden"
    assert "may not patch deployments (API group 'apps') in namespace prod" in str(info.value)


async def test_not_found_is_permanent(fake_kubernetes: FakeKubernetes, kube: Kube) -> None:
    with pytest.raises(PermanentError) as info:
        await rollout_restart(kube, DEPLOY, at=AT)
    assert (info.value.reason, str(info.value)) == ("not_found", "deployments.apps prod/model-api not found")


@pytest.mark.parametrize(("status", "reason"), [(409, "conflict"), (500, "server_error"), (429, "throttled")])
async def test_conflict_throttling_and_server_errors_are_retried(
    fake_kubernetes: FakeKubernetes, kube: Kube, status: int, reason: str
) -> None:
    fake_kubernetes.add_deployment("prod", "model-api")
    fake_kubernetes.fail_next(status, method="PATCH")
    with pytest.raises(RetryableError) as info:
        await rollout_restart(kube, DEPLOY, at=AT)
    assert info.value.reason == reason
    assert info.value.retry_after == (1.0 if status == 429 else None)
    await rollout_restart(kube, DEPLOY, at=AT)  # the retry goes through
    assert fake_kubernetes.get("deployments", "prod", "model-api")["metadata"]["generation"] == 2  # type: ignore[index]


async def test_unreachable_api_server_is_retried(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    fake = FakeKubernetes()
    fake._url = f"http://127.0.0.1:{port}"
    kube = Kube.from_settings(KubernetesSettings(kubeconfig=fake.write_kubeconfig(tmp_path / "kc")))
    with pytest.raises(RetryableError) as info:
        await rollout_restart(kube, DEPLOY, at=AT)
    assert info.value.reason == "unreachable"
    await kube.aclose()


def test_bad_kubeconfig_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "kc").write_text("not: [a kubeconfig", encoding="utf-8")
    with pytest.raises(KubeConfigError, match=r"remediation\.kubernetes: cannot configure a client"):
        Kube.from_settings(KubernetesSettings(kubeconfig=tmp_path / "kc"))
    with pytest.raises(KubeConfigError, match="in-cluster ServiceAccount"):
        Kube.from_settings(KubernetesSettings())


async def test_event_loop_keeps_running_during_a_slow_api(
    fake_kubernetes: FakeKubernetes, kube: Kube
) -> None:
    fake_kubernetes.add_deployment("prod", "model-api")
    fake_kubernetes.hold()
    call = asyncio.create_task(verify_rollout(kube, DEPLOY))
    await fake_kubernetes.wait_held()  # the fake (on this loop) answers nothing: the client is stuck
    for _ in range(100):  # ... in its thread, while the loop goes on serving other work
        await asyncio.sleep(0)
    assert not call.done() and fake_kubernetes.held == 1
    fake_kubernetes.release()
    assert (await call).state == "succeeded"


# --- scale -----------------------------------------------------------------------------------


async def test_scale_merge_patches_the_subresource_against_its_resource_version(
    fake_kubernetes: FakeKubernetes, kube: Kube
) -> None:
    fake_kubernetes.add_deployment("prod", "model-api", replicas=3)
    scale = await read_scale(kube, DEPLOY)
    rv = scale["metadata"]["resourceVersion"]
    await scale_to(kube, DEPLOY, replicas=4, resource_version=rv)
    assert patches(fake_kubernetes) == [
        (
            "/apis/apps/v1/namespaces/prod/deployments/model-api/scale",
            "application/merge-patch+json",
            {"spec": {"replicas": 4}, "metadata": {"resourceVersion": rv}},
        )
    ]
    states = await until_done(kube, DEPLOY)
    assert states[-1] == "succeeded"
    assert (await verify_rollout(kube, DEPLOY)).detail == "4/4 pods updated and available"
    replay = await scale_to(kube, DEPLOY, replicas=4, resource_version=rv)  # after a crash: 409, done
    assert replay["spec"]["replicas"] == 4
    with pytest.raises(RetryableError) as info:  # someone scaled in between: 409, decide again
        await scale_to(kube, DEPLOY, replicas=5, resource_version=rv)
    assert info.value.reason == "conflict"


# --- delete_pod ------------------------------------------------------------------------------


async def test_delete_pod_then_gone_and_replay_is_harmless(
    fake_kubernetes: FakeKubernetes, kube: Kube
) -> None:
    fake_kubernetes.add_pod("prod", "model-api-7d9-x2", terminate_reads=1)
    target = Target("Pod", "prod", "model-api-7d9-x2")
    pod = await read_pod(kube, target)
    assert pod is not None
    uid = pod["metadata"]["uid"]
    await delete_pod(kube, target, uid=uid)
    assert (await verify_pod_deleted(kube, target, uid=uid)).state == "pending"
    assert (await verify_pod_deleted(kube, target, uid=uid)).detail == "pod deleted"
    await delete_pod(kube, target, uid=uid)  # after a crash: already gone counts as done


async def test_delete_pod_replaced_under_the_same_name_is_not_deleted_again(
    fake_kubernetes: FakeKubernetes, kube: Kube
) -> None:
    fake_kubernetes.add_pod("prod", "db-0", replace=True, terminate_reads=0)
    target = Target("Pod", "prod", "db-0")
    pod = await read_pod(kube, target)
    assert pod is not None
    uid = pod["metadata"]["uid"]
    await delete_pod(kube, target, uid=uid)
    assert (await verify_pod_deleted(kube, target, uid=uid)).detail == "pod deleted and replaced"
    await delete_pod(kube, target, uid=uid)  # the replay hits the uid precondition: 409, done
    replacement = await read_pod(kube, target)
    assert replacement is not None and replacement["metadata"]["uid"] != uid
    assert "deletionTimestamp" not in replacement["metadata"]


# --- job_from_cronjob ------------------------------------------------------------------------


async def test_job_from_cronjob_like_kubectl_and_verified(
    fake_kubernetes: FakeKubernetes, kube: Kube
) -> None:
    cronjob = fake_kubernetes.add_cronjob("ml", "retrain", labels={"team": "ml"}, annotations={"owner": "ml"})
    fake_kubernetes.script_job("complete", after=2)
    target = Target("CronJob", "ml", "retrain")
    job = await start_job(
        kube, target, intent_id="job-17", action="retrain-on-drift", alertname="Drift", fingerprint="abc"
    )
    name = job_name("retrain", "job-17")
    posted = next(r for r in fake_kubernetes.requests if r.method == "POST")
    assert posted.path == "/apis/batch/v1/namespaces/ml/jobs"
    assert posted.content_type == "application/json"
    meta = job["metadata"]
    assert meta["name"] == name
    assert meta["labels"] == {"team": "ml", "alertmedic.io/action": "retrain-on-drift"}
    assert meta["annotations"][INSTANTIATE] == "manual"
    assert meta["annotations"]["owner"] == "ml"
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "name": "retrain",
            "uid": cronjob["metadata"]["uid"],
            "controller": True,
        }
    ]
    assert job["spec"] == cronjob["spec"]["jobTemplate"]["spec"]
    assert (await verify_job(kube, "ml", name)).state == "pending"
    done = await verify_job(kube, "ml", name)
    assert done.state == "succeeded"


async def test_job_create_replayed_after_a_crash_counts_409_as_created(
    fake_kubernetes: FakeKubernetes, kube: Kube
) -> None:
    fake_kubernetes.add_cronjob("ml", "retrain")
    target = Target("CronJob", "ml", "retrain")
    kwargs = {"intent_id": "job-17", "action": "a", "alertname": "Drift", "fingerprint": "abc"}
    first = await start_job(kube, target, **kwargs)
    second = await start_job(kube, target, **kwargs)
    assert second["metadata"]["uid"] == first["metadata"]["uid"]
    assert [r.status for r in fake_kubernetes.requests if r.method == "POST"] == [201, 409]
    assert second["metadata"]["annotations"][ANNOTATION_INTENT] == "job-17"


async def test_job_failure_reason_is_reported(fake_kubernetes: FakeKubernetes, kube: Kube) -> None:
    fake_kubernetes.add_cronjob("ml", "retrain")
    fake_kubernetes.script_job("failed", after=1)
    job = await start_job(
        kube, Target("CronJob", "ml", "retrain"), intent_id="i", action="a", alertname="x", fingerprint="f"
    )
    verdict = await verify_job(kube, "ml", job["metadata"]["name"])
    assert (verdict.state, verdict.reason) == ("failed", "BackoffLimitExceeded")


async def test_missing_cronjob_is_not_found(fake_kubernetes: FakeKubernetes, kube: Kube) -> None:
    with pytest.raises(PermanentError) as info:
        await start_job(
            kube, Target("CronJob", "ml", "nope"), intent_id="i", action="a", alertname="x", fingerprint="f"
        )
    assert str(info.value) == "cronjobs.batch ml/nope not found"
