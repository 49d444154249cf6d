"""`job_from_cronjob`: create the Job `kubectl create job --from=cronjob/NAME` would, named for the
intent so that a retry after a crash finds its own Job (409 AlreadyExists counts as created)."""

from __future__ import annotations

from app.core.errors import PermanentError
from app.core.remediation.jobs import created_by, job_from_cronjob, job_name
from app.core.remediation.targets import Target
from app.remediate.errors import Operation
from app.remediate.kube import Kube, Obj


async def read_cronjob(kube: Kube, target: Target) -> Obj:
    op = Operation("get", "cronjobs", "batch", target.namespace, target.name)
    return await kube.call(op, kube.batch.read_namespaced_cron_job, target.name, target.namespace)


async def read_job(kube: Kube, namespace: str, name: str) -> Obj:
    op = Operation("get", "jobs", "batch", namespace, name)
    return await kube.call(op, kube.batch.read_namespaced_job, name, namespace)


async def start_job(
    kube: Kube, target: Target, *, intent_id: str, action: str, alertname: str, fingerprint: str
) -> Obj:
    """Create the Job from the CronJob `target`; returns the Job (created now or by an earlier
    attempt of the same intent)."""
    cronjob = await read_cronjob(kube, target)
    name = job_name(target.name, intent_id)
    manifest = job_from_cronjob(
        cronjob, name=name, action=action, alertname=alertname, fingerprint=fingerprint, intent_id=intent_id
    )
    op = Operation("create", "jobs", "batch", target.namespace, name)
    try:
        return await kube.request(
            op, "POST", f"/apis/batch/v1/namespaces/{target.namespace}/jobs", body=manifest
        )
    except PermanentError as exc:
        if exc.reason != "already_exists":
            raise
    existing = await read_job(kube, target.namespace, name)
    if not created_by(existing, str((cronjob.get("metadata") or {}).get("uid")), intent_id):
        raise PermanentError(
            f"a Job {target.namespace}/{name} exists that this action did not create", reason="already_exists"
        )
    return existing
