"""FakeKubernetes driven by the official `kubernetes` client (kubeconfig + context): wire format,
Status errors, patch content types, the scale subresource and the simulated controllers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.fakes.kubernetes import FakeKubernetes, RolloutScript, merge_patch, strategic_merge_patch

T = TypeVar("T")


@pytest.fixture
def api(fake_kubeconfig: Path) -> Iterator[client.ApiClient]:
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(fake_kubeconfig), context="fake", client_configuration=cfg)
    cfg.retries = False
    with client.ApiClient(cfg) as api_client:
        yield api_client


async def run(fn: Callable[[], T]) -> T:
    """The blocking client in a thread, so the fake keeps serving on the loop."""
    return await asyncio.to_thread(fn)


def raw(resp: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(resp.data)
    return body


async def error_of(fn: Callable[[], Any]) -> ApiException:
    with pytest.raises(ApiException) as info:
        await run(fn)
    return info.value


async def test_read_deployment_as_a_typed_model(
    fake_kubernetes: FakeKubernetes, api: client.ApiClient
) -> None:
    fake_kubernetes.add_deployment("prod", "model-api", replicas=3)
    dep = await run(lambda: client.AppsV1Api(api).read_namespaced_deployment("model-api", "prod"))
    assert dep.metadata.generation == 1
    assert dep.status.observed_generation == 1
    assert dep.status.updated_replicas == dep.status.available_replicas == 3
    assert fake_kubernetes.requests[-1].headers["Authorization"] == f"Bearer {fake_kubernetes.token}"


async def test_dict_patch_is_sent_as_strategic_merge_and_bumps_generation(
    fake_kubernetes: FakeKubernetes, api: client.ApiClient
) -> None:
    fake_kubernetes.add_deployment("prod", "model-api")
    body = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "t1"}}}}}
    out = await run(lambda: client.AppsV1Api(api).patch_namespaced_deployment("model-api", "prod", body))
    assert fake_kubernetes.requests[-1].content_type == "application/strategic-merge-patch+json"
    assert out.metadata.generation == 2
    assert out.spec.template.metadata.annotations == {"kubectl.kubernetes.io/restartedAt": "t1"}
    assert out.spec.template.metadata.labels == {"app": "model-api"}  # merged, not replaced
    same = await run(lambda: client.AppsV1Api(api).patch_namespaced_deployment("model-api", "prod", body))
    assert same.metadata.generation == 2  # no spec change, no new generation


async def test_rollout_is_unobserved_then_progresses_then_completes(
    fake_kubernetes: FakeKubernetes, api: client.ApiClient
) -> None:
    fake_kubernetes.add_deployment("prod", "model-api", replicas=3)
    fake_kubernetes.script_rollout("deployments", "prod", "model-api", RolloutScript(complete_after=3))
    apps = client.AppsV1Api(api)
    body = {"spec": {"template": {"metadata": {"annotations": {"a": "b"}}}}}
    await run(lambda: apps.patch_namespaced_deployment("model-api", "prod", body))
    seen = [await run(lambda: apps.read_namespaced_deployment_status("model-api", "prod")) for _ in range(3)]
    assert [d.status.observed_generation for d in seen] == [1, 2, 2]
    assert seen[1].status.updated_replicas < 3
    assert seen[2].status.updated_replicas == seen[2].status.available_replicas == 3


async def test_progress_deadline_exceeded(fake_kubernetes: FakeKubernetes, api: client.ApiClient) -> None:
    fake_kubernetes.add_deployment("prod", "model-api")
    fake_kubernetes.script_rollout(
        "deployments", "prod", "model-api", RolloutScript(stall=True, fail_after=3)
    )
    apps = client.AppsV1Api(api)
    await run(lambda: apps.patch_namespaced_deployment("model-api", "prod", {"spec": {"replicas": 4}}))
    for _ in range(3):
        dep = await run(lambda: apps.read_namespaced_deployment("model-api", "prod"))
    progressing = [c for c in dep.status.conditions if c.type == "Progressing"]
    assert [(c.status, c.reason) for c in progressing] == [("False", "ProgressDeadlineExceeded")]


async def test_scale_subresource_merge_patch_with_resource_version(
    fake_kubernetes: FakeKubernetes, api: client.ApiClient
) -> None:
    fake_kubernetes.add_deployment("prod", "model-api", replicas=3)
    apps = client.AppsV1Api(api)
    scale = await run(lambda: apps.read_namespaced_deployment_scale("model-api", "prod"))
    assert (scale.kind, scale.api_version, scale.spec.replicas) == ("Scale", "autoscaling/v1", 3)
    body = {"metadata": {"resourceVersion": scale.metadata.resource_version}, "spec": {"replicas": 4}}
    out = await run(
        lambda: apps.patch_namespaced_deployment_scale(
            "model-api", "prod", body, _content_type="application/merge-patch+json"
        )
    )
    assert out.spec.replicas == 4
    assert fake_kubernetes.requests[-1].content_type == "application/merge-patch+json"
    assert fake_kubernetes.get("deployments", "prod", "model-api")["spec"]["replicas"] == 4  # type: ignore[index]
    stale = await error_of(
        lambda: apps.patch_namespaced_deployment_scale(
            "model-api", "prod", body, _content_type="application/merge-patch+json"
        )
    )
    assert stale.status == 409
    assert json.loads(stale.body)["reason"] == "Conflict"


async def test_errors_are_status_objects(fake_kubernetes: FakeKubernetes, api: client.ApiClient) -> None:
    fake_kubernetes.add_deployment("prod", "model-api")
    fake_kubernetes.deny("staging")
    apps = client.AppsV1Api(api)
    missing = await error_of(lambda: apps.read_namespaced_deployment("nope", "prod"))
    assert missing.status == 404
    assert json.loads(missing.body) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'deployments.apps "nope" not found',
        "reason": "NotFound",
        "details": {"name": "nope", "group": "apps", "kind": "deployments"},
        "code": 404,
    }
    denied = await error_of(lambda: apps.patch_namespaced_deployment("x", "staging", {"spec": {}}))
    assert denied.status == 403
    assert json.loads(denied.body)["message"] == (
        'deployments.apps "x" is forbidden: User "system:serviceaccount:monitoring:alertmedic" cannot '
        'patch resource "deployments" in API group "apps" in the namespace "staging"'
    )


async def test_wrong_token_is_401(fake_kubernetes: FakeKubernetes, tmp_path: Path) -> None:
    fake_kubernetes.token = "another"
    path = fake_kubernetes.write_kubeconfig(tmp_path / "kc")
    fake_kubernetes.token = "the-real-one"
    api_client = config.new_client_from_config(config_file=str(path))
    with api_client:
        err = await error_of(lambda: client.CoreV1Api(api_client).read_namespaced_pod("p", "prod"))
    assert err.status == 401


async def test_job_create_conflict_and_outcome(
    fake_kubernetes: FakeKubernetes, api: client.ApiClient
) -> None:
    fake_kubernetes.add_cronjob("ml", "retrain")
    fake_kubernetes.script_job("failed", after=2)
    batch = client.BatchV1Api(api)
    cj = await run(lambda: batch.read_namespaced_cron_job("retrain", "ml"))
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "retrain-abcde"}, "spec": {}}
    job["spec"] = api.sanitize_for_serialization(cj.spec.job_template.spec)
    created = await run(lambda: batch.create_namespaced_job("ml", job, _preload_content=False))
    assert created.status == 201
    again = await error_of(lambda: batch.create_namespaced_job("ml", job))
    assert (again.status, json.loads(again.body)["reason"]) == (409, "AlreadyExists")
    first = raw(await run(lambda: batch.read_namespaced_job("retrain-abcde", "ml", _preload_content=False)))
    second = raw(await run(lambda: batch.read_namespaced_job("retrain-abcde", "ml", _preload_content=False)))
    assert "conditions" not in first["status"]
    assert [c["type"] for c in second["status"]["conditions"]] == ["FailureTarget", "Failed"]
    bad = dict(job, metadata={"name": "Bad_Name"})
    invalid = await error_of(lambda: batch.create_namespaced_job("ml", bad))
    assert (invalid.status, json.loads(invalid.body)["reason"]) == (422, "Invalid")


async def test_pod_delete_honours_uid_precondition_and_is_replaced(
    fake_kubernetes: FakeKubernetes, api: client.ApiClient
) -> None:
    pod = fake_kubernetes.add_pod("prod", "db-0", replace=True, terminate_reads=1)
    core = client.CoreV1Api(api)
    wrong = await error_of(
        lambda: core.delete_namespaced_pod("db-0", "prod", body={"preconditions": {"uid": "x"}})
    )
    assert wrong.status == 409
    uid = pod["metadata"]["uid"]
    await run(lambda: core.delete_namespaced_pod("db-0", "prod", body={"preconditions": {"uid": uid}}))
    assert json.loads(fake_kubernetes.requests[-1].body) == {"preconditions": {"uid": uid}}
    terminating = await run(lambda: core.read_namespaced_pod("db-0", "prod"))
    assert terminating.metadata.deletion_timestamp is not None
    replaced = await run(lambda: core.read_namespaced_pod("db-0", "prod"))
    assert replaced.metadata.uid != uid


async def test_injected_failures_carry_retry_after(
    fake_kubernetes: FakeKubernetes, api: client.ApiClient
) -> None:
    fake_kubernetes.add_deployment("prod", "model-api")
    fake_kubernetes.fail_next(429)
    err = await error_of(lambda: client.AppsV1Api(api).read_namespaced_deployment("model-api", "prod"))
    assert err.status == 429
    assert err.headers["Retry-After"] == "1"


def test_merge_patch_and_strategic_merge_differ_on_named_lists() -> None:
    base = {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "1"}]}
    patch = {"containers": [{"name": "b", "image": "2"}]}
    assert merge_patch(base, patch) == {"containers": [{"name": "b", "image": "2"}]}
    assert strategic_merge_patch(base, patch) == {
        "containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "2"}]
    }
    assert merge_patch({"a": 1, "b": 2}, {"a": None}) == {"b": 2}
