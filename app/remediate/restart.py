"""`rollout_restart`: what `kubectl rollout restart` does, a strategic-merge PATCH of the pod
template's `kubectl.kubernetes.io/restartedAt` annotation; a paused Deployment is refused."""

from __future__ import annotations

from datetime import UTC, datetime

from app.core.remediation.refusals import Guard, Refusal
from app.core.remediation.targets import Target
from app.remediate.errors import ActionRefused
from app.remediate.kube import Kube, Obj
from app.remediate.workloads import patch_workload, read_workload

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


def restarted_at(when: datetime) -> str:
    """RFC 3339 in UTC, seconds precision, as kubectl writes it."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def restart_patch(when: datetime) -> Obj:
    return {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: restarted_at(when)}}}}}


async def rollout_restart(kube: Kube, target: Target, *, at: datetime, live: Obj | None = None) -> Obj:
    """Restart `target` and return the patched object (its metadata.generation is the one to
    watch). `at` is the time recorded with the intent when it was decided: a replay after a crash
    writes the same value, the spec does not change, and no second rollout starts. `live` is the
    object as just read by the guards (read here when not given)."""
    obj = live if live is not None else await read_workload(kube, target)
    if target.kind == "Deployment" and (obj.get("spec") or {}).get("paused") is True:
        raise ActionRefused(
            Refusal(Guard.PAUSED, "the Deployment is paused (run `kubectl rollout resume` first)")
        )
    return await patch_workload(
        kube, target, restart_patch(at), content_type="application/strategic-merge-patch+json"
    )
