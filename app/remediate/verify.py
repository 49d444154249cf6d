"""Verification reads: read the target once and return the pure verdict. The verify job calls
one of these per attempt and comes back after `poll_delay` until `verify.timeout` has passed."""

from __future__ import annotations

from app.core.remediation.jobs import job_status
from app.core.remediation.rollout import rollout_status
from app.core.remediation.targets import Target
from app.core.remediation.verdict import Verdict, pod_verdict
from app.remediate.jobs import read_job
from app.remediate.kube import Kube
from app.remediate.pods import read_pod
from app.remediate.workloads import read_workload


async def verify_rollout(kube: Kube, target: Target) -> Verdict:
    """rollout_restart and scale: `kubectl rollout status` rules on the workload as read now."""
    return rollout_status(target.kind, await read_workload(kube, target))


async def verify_job(kube: Kube, namespace: str, name: str) -> Verdict:
    """job_from_cronjob: the created Job's conditions."""
    return job_status(await read_job(kube, namespace, name))


async def verify_pod_deleted(kube: Kube, target: Target, *, uid: str) -> Verdict:
    """delete_pod: the pod with `uid` is gone or replaced."""
    return pod_verdict(uid, await read_pod(kube, target))
