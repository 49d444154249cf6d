"""Rollout status of a Deployment, StatefulSet or DaemonSet decided by the rules of
`kubectl rollout status` (k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go), and the
workload guard: a paused Deployment, or one whose previous rollout has not finished, is not
restarted. Objects are the API's JSON (camelCase dicts) as read; absent fields count as 0."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.core.remediation.refusals import Guard, Refusal
from app.core.remediation.targets import TargetKind
from app.core.remediation.verdict import Verdict

Obj = Mapping[str, Any]


def _int(obj: Obj, *path: str) -> int:
    node: Any = obj
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, int) and not isinstance(node, bool) else 0


def _opt_int(obj: Obj, *path: str) -> int | None:
    node: Any = obj
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, int) and not isinstance(node, bool) else None


def _condition(obj: Obj, kind: str) -> Obj | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(cond, Mapping) and cond.get("type") == kind:
            return cond
    return None


def deployment_status(obj: Obj) -> Verdict:
    if _int(obj, "metadata", "generation") > _int(obj, "status", "observedGeneration"):
        return Verdict("pending", "waiting for the spec update to be observed")
    progressing = _condition(obj, "Progressing")
    if progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
        message = str(progressing.get("message") or "exceeded its progress deadline")
        return Verdict("failed", f"ProgressDeadlineExceeded: {message}", "ProgressDeadlineExceeded")
    want = _opt_int(obj, "spec", "replicas")
    replicas = _int(obj, "status", "replicas")
    updated = _int(obj, "status", "updatedReplicas")
    available = _int(obj, "status", "availableReplicas")
    if want is not None and updated < want:
        return Verdict("pending", f"{updated} of {want} new replicas updated")
    if replicas > updated:
        return Verdict("pending", f"{replicas - updated} old replicas pending termination")
    if available < updated:
        return Verdict("pending", f"{available} of {updated} updated replicas available")
    total = want if want is not None else updated
    return Verdict("succeeded", f"{available}/{total} pods updated and available")


def _rolling_update(obj: Obj) -> bool:
    strategy = ((obj.get("spec") or {}).get("updateStrategy") or {}).get("type")
    return strategy in (None, "RollingUpdate")  # the API defaults it to RollingUpdate


def statefulset_status(obj: Obj) -> Verdict:
    if not _rolling_update(obj):
        return Verdict("failed", "rollout status needs the RollingUpdate strategy", "OnDelete")
    observed = _int(obj, "status", "observedGeneration")
    if observed == 0 or _int(obj, "metadata", "generation") > observed:
        return Verdict("pending", "waiting for the spec update to be observed")
    want = _opt_int(obj, "spec", "replicas")
    ready = _int(obj, "status", "readyReplicas")
    updated = _int(obj, "status", "updatedReplicas")
    if want is not None and ready < want:
        return Verdict("pending", f"{ready} of {want} pods ready")
    partition = _opt_int(obj, "spec", "updateStrategy", "rollingUpdate", "partition")
    rolling = ((obj.get("spec") or {}).get("updateStrategy") or {}).get("rollingUpdate")
    if isinstance(rolling, Mapping):
        if want is not None and partition is not None and updated < want - partition:
            return Verdict("pending", f"{updated} of {want - partition} new pods updated")
        return Verdict("succeeded", f"{updated} pods updated, {ready} ready")
    status = obj.get("status") or {}
    if status.get("updateRevision") != status.get("currentRevision"):
        return Verdict("pending", f"{updated} pods at the new revision")
    return Verdict("succeeded", f"{_int(obj, 'status', 'currentReplicas')} pods updated, {ready} ready")


def daemonset_status(obj: Obj) -> Verdict:
    if not _rolling_update(obj):
        return Verdict("failed", "rollout status needs the RollingUpdate strategy", "OnDelete")
    if _int(obj, "metadata", "generation") > _int(obj, "status", "observedGeneration"):
        return Verdict("pending", "waiting for the spec update to be observed")
    desired = _int(obj, "status", "desiredNumberScheduled")
    updated = _int(obj, "status", "updatedNumberScheduled")
    available = _int(obj, "status", "numberAvailable")
    if updated < desired:
        return Verdict("pending", f"{updated} of {desired} new pods updated")
    if available < desired:
        return Verdict("pending", f"{available} of {desired} updated pods available")
    return Verdict("succeeded", f"{available}/{desired} pods updated and available")


def rollout_status(kind: TargetKind, obj: Obj) -> Verdict:
    """The verdict for a workload of `kind` as read from the API."""
    if kind == "Deployment":
        return deployment_status(obj)
    if kind == "StatefulSet":
        return statefulset_status(obj)
    if kind == "DaemonSet":
        return daemonset_status(obj)
    raise ValueError(f"no rollout status for {kind}")


def workload_refusal(kind: TargetKind, obj: Obj) -> Refusal | None:
    """The paused / still-rolling guard before a rollout restart."""
    if kind == "Deployment" and (obj.get("spec") or {}).get("paused") is True:
        return Refusal(Guard.PAUSED, "the Deployment is paused (kubectl refuses to restart it too)")
    if not _rolling_update(obj):
        return Refusal(Guard.ROLLING, "the OnDelete update strategy would roll no pod on a restart")
    verdict = rollout_status(kind, obj)
    if verdict.state == "pending":
        return Refusal(Guard.ROLLING, f"the previous rollout has not finished ({verdict.detail})")
    if verdict.state == "failed":
        return Refusal(Guard.ROLLING, f"the previous rollout failed ({verdict.detail}); humans decide")
    return None
