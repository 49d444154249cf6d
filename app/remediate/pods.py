"""`delete_pod`: delete a pod by name with its uid as a precondition, so a replay after a crash
never deletes the replacement a StatefulSet made under the same name."""

from __future__ import annotations

from app.core.errors import DeliveryError, PermanentError
from app.core.remediation.targets import Target
from app.remediate.errors import Operation
from app.remediate.kube import Kube, Obj


def _op(verb: str, target: Target) -> Operation:
    return Operation(verb, "pods", "", target.namespace, target.name)


async def read_pod(kube: Kube, target: Target) -> Obj | None:
    """The pod, or None when it does not exist (any more)."""
    try:
        return await kube.call(
            _op("get", target), kube.core.read_namespaced_pod, target.name, target.namespace
        )
    except PermanentError as exc:
        if exc.reason == "not_found":
            return None
        raise


async def delete_pod(kube: Kube, target: Target, *, uid: str) -> None:
    """Delete the pod whose uid is `uid`. Already gone (404) or already replaced (409 on the uid
    precondition) counts as done: that is the state a replay finds."""
    body = {"preconditions": {"uid": uid}}
    method = kube.core.delete_namespaced_pod
    try:
        await kube.call(_op("delete", target), method, target.name, target.namespace, body=body)
    except DeliveryError as exc:
        if exc.reason not in ("not_found", "conflict"):
            raise
