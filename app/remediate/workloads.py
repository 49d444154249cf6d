"""Reading Deployments, StatefulSets and DaemonSets (shared by restart, scale and verification)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.core.remediation.targets import Target
from app.remediate.errors import Operation
from app.remediate.kube import Kube, Obj

RESOURCES = {"Deployment": "deployments", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets"}


def operation(verb: str, target: Target, *, subresource: str = "") -> Operation:
    resource = RESOURCES[target.kind] + (f"/{subresource}" if subresource else "")
    return Operation(verb, resource, "apps", target.namespace, target.name)


def _method(kube: Kube, verb: str, target: Target, suffix: str = "") -> Callable[..., Any]:
    snake = {"Deployment": "deployment", "StatefulSet": "stateful_set", "DaemonSet": "daemon_set"}
    method: Callable[..., Any] = getattr(kube.apps, f"{verb}_namespaced_{snake[target.kind]}{suffix}")
    return method


async def read_workload(kube: Kube, target: Target) -> Obj:
    """The workload as the API has it now (spec, metadata.generation, status)."""
    return await kube.call(
        operation("get", target), _method(kube, "read", target), target.name, target.namespace
    )


async def patch_workload(kube: Kube, target: Target, body: Obj, *, content_type: str) -> Obj:
    method = _method(kube, "patch", target)
    op = operation("patch", target)
    return await kube.call(op, method, target.name, target.namespace, body, _content_type=content_type)


async def read_scale(kube: Kube, target: Target) -> Obj:
    """The workload's Scale (spec.replicas and the resourceVersion to patch against)."""
    op = operation("get", target, subresource="scale")
    return await kube.call(op, _method(kube, "read", target, "_scale"), target.name, target.namespace)


async def patch_scale(kube: Kube, target: Target, body: Obj) -> Obj:
    op = operation("patch", target, subresource="scale")
    method = _method(kube, "patch", target, "_scale")
    return await kube.call(
        op, method, target.name, target.namespace, body, _content_type="application/merge-patch+json"
    )
