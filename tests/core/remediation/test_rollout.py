"""Rollout status by the rules of `kubectl rollout status`, one case per rule."""

from __future__ import annotations

from typing import Any

import pytest

from app.core.remediation.refusals import Guard
from app.core.remediation.rollout import rollout_status, workload_refusal


def deployment(
    gen: int = 2,
    observed: int = 2,
    want: int | None = 3,
    replicas: int = 3,
    updated: int = 3,
    available: int = 3,
    progressing: str | None = None,
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "observedGeneration": observed,
        "replicas": replicas,
        "updatedReplicas": updated,
        "availableReplicas": available,
    }
    if progressing:
        status["conditions"] = [
            {
                "type": "Progressing",
                "status": "False",
                "reason": progressing,
                "message": 'ReplicaSet "x" has timed out progressing.',
            }
        ]
    spec = {} if want is None else {"replicas": want}
    return {"metadata": {"generation": gen}, "spec": spec, "status": status}


@pytest.mark.parametrize(
    ("obj", "state", "detail"),
    [
        (deployment(gen=3, observed=2), "pending", "waiting for the spec update to be observed"),
        (deployment(updated=1), "pending", "1 of 3 new replicas updated"),
        (deployment(replicas=4), "pending", "1 old replicas pending termination"),
        (deployment(available=2), "pending", "2 of 3 updated replicas available"),
        (deployment(), "succeeded", "3/3 pods updated and available"),
        (
            deployment(want=None, replicas=2, updated=2, available=2),
            "succeeded",
            "2/2 pods updated and available",
        ),
        (
            deployment(updated=1, progressing="ProgressDeadlineExceeded"),
            "failed",
            'ProgressDeadlineExceeded: ReplicaSet "x" has timed out progressing.',
        ),
        # the deadline counts only once the generation is observed, as in kubectl
        (
            deployment(gen=3, progressing="ProgressDeadlineExceeded"),
            "pending",
            "waiting for the spec update to be observed",
        ),
    ],
)
def test_deployment(obj: dict[str, Any], state: str, detail: str) -> None:
    verdict = rollout_status("Deployment", obj)
    assert (verdict.state, verdict.detail) == (state, detail)


def sts(
    observed: int = 2,
    ready: int = 3,
    updated: int = 3,
    partition: int | None = 0,
    strategy: str = "RollingUpdate",
    revisions: tuple[str, str] = ("r2", "r2"),
) -> dict[str, Any]:
    update: dict[str, Any] = {"type": strategy}
    if partition is not None:
        update["rollingUpdate"] = {"partition": partition}
    return {
        "metadata": {"generation": 2},
        "spec": {"replicas": 3, "updateStrategy": update},
        "status": {
            "observedGeneration": observed,
            "readyReplicas": ready,
            "updatedReplicas": updated,
            "currentReplicas": 3,
            "currentRevision": revisions[0],
            "updateRevision": revisions[1],
        },
    }


@pytest.mark.parametrize(
    ("obj", "state"),
    [
        (sts(observed=0), "pending"),
        (sts(observed=1), "pending"),
        (sts(ready=2), "pending"),
        (sts(updated=2), "pending"),
        (sts(updated=2, partition=1), "succeeded"),
        (sts(), "succeeded"),
        (sts(partition=None, revisions=("r1", "r2")), "pending"),
        (sts(partition=None), "succeeded"),
        (sts(strategy="OnDelete", partition=None), "failed"),
    ],
)
def test_statefulset(obj: dict[str, Any], state: str) -> None:
    assert rollout_status("StatefulSet", obj).state == state


@pytest.mark.parametrize(
    ("status", "state"),
    [
        (
            {
                "observedGeneration": 1,
                "desiredNumberScheduled": 3,
                "updatedNumberScheduled": 3,
                "numberAvailable": 3,
            },
            "pending",
        ),
        (
            {
                "observedGeneration": 2,
                "desiredNumberScheduled": 3,
                "updatedNumberScheduled": 2,
                "numberAvailable": 3,
            },
            "pending",
        ),
        (
            {
                "observedGeneration": 2,
                "desiredNumberScheduled": 3,
                "updatedNumberScheduled": 3,
                "numberAvailable": 2,
            },
            "pending",
        ),
        (
            {
                "observedGeneration": 2,
                "desiredNumberScheduled": 3,
                "updatedNumberScheduled": 3,
                "numberAvailable": 3,
            },
            "succeeded",
        ),
    ],
)
def test_daemonset(status: dict[str, Any], state: str) -> None:
    obj = {
        "metadata": {"generation": 2},
        "spec": {"updateStrategy": {"type": "RollingUpdate"}},
        "status": status,
    }
    assert rollout_status("DaemonSet", obj).state == state


def test_workload_guard() -> None:
    assert workload_refusal("Deployment", deployment()) is None
    paused = deployment()
    paused["spec"]["paused"] = True
    assert workload_refusal("Deployment", paused).guard is Guard.PAUSED  # type: ignore[union-attr]
    assert workload_refusal("Deployment", deployment(updated=1)).guard is Guard.ROLLING  # type: ignore[union-attr]
    failed = workload_refusal("Deployment", deployment(progressing="ProgressDeadlineExceeded"))
    assert failed is not None and "failed" in failed.reason
    on_delete = workload_refusal("StatefulSet", sts(strategy="OnDelete", partition=None))
    assert on_delete is not None and "OnDelete" in on_delete.reason
