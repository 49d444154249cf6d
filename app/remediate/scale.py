"""`scale`: a merge PATCH of the `/scale` subresource, guarded by the resourceVersion read with the
current replicas, so a change by someone else in between is a 409 (retried with a fresh read)."""

from __future__ import annotations

from app.core.errors import RetryableError
from app.core.remediation.targets import Target
from app.remediate.kube import Kube, Obj
from app.remediate.workloads import patch_scale, read_scale

__all__ = ["read_scale", "scale_to"]


async def scale_to(kube: Kube, target: Target, *, replicas: int, resource_version: str | None) -> Obj:
    """Set `replicas` (absolute: decided once by the guards, so a replay sets the same number).
    Returns the new Scale. A 409 whose fresh read already shows `replicas` is an earlier attempt of
    this action that went through (a replay after a crash): done. Any other 409 is a change by
    someone else since the decision: RetryableError("conflict"), decide again on a fresh read."""
    body: Obj = {"spec": {"replicas": replicas}}
    if resource_version is not None:
        body["metadata"] = {"resourceVersion": resource_version}
    try:
        return await patch_scale(kube, target, body)
    except RetryableError as exc:
        if exc.reason != "conflict":
            raise
        current = await read_scale(kube, target)
        if (current.get("spec") or {}).get("replicas") == replicas:
            return current
        raise
