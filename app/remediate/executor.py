"""The body of the remediate and verify jobs, without the queue: read what the live guard needs,
act, and check the outcome. The job queue persists `Pinned` with the decision and `Acted` with the
verify job, so a replay after `kill -9` repeats the same request (same restartedAt, same replicas,
same pod uid, same Job name) and never a second, different action.

    remediate job:  live = await read_live(...)          (None for delete_pod's absence: not found)
                    decision = guards.decide(..., live=live)
                    pinned = pin(spec, decision, live)   persist with the decision
                    acted = await act(...)               persist with the verify job
    verify job:     verdict = await check(kube, session, acted)
                    verdict.next_verify(...) -> report, or come back later
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

from app.config import HTTPClientConfig
from app.core.errors import PermanentError
from app.core.remediation.actions import ActionKind, ActionSpec
from app.core.remediation.guards import Decision
from app.core.remediation.targets import Target
from app.core.remediation.verdict import Verdict
from app.remediate.http_call import call_http
from app.remediate.jobs import start_job
from app.remediate.kube import Kube, Obj
from app.remediate.pods import delete_pod, read_pod
from app.remediate.restart import rollout_restart
from app.remediate.scale import read_scale, scale_to
from app.remediate.verify import verify_job, verify_pod_deleted, verify_rollout
from app.remediate.workloads import read_workload


@dataclass(frozen=True)
class Pinned:
    """Values fixed when the action is decided, so every attempt makes the same request."""

    at: float
    """The decision time (epoch seconds): restartedAt for a rollout restart."""
    replicas: int | None = None
    replicas_before: int | None = None
    resource_version: str | None = None
    pod_uid: str | None = None


@dataclass(frozen=True)
class Acted:
    """What was done: enough for the verify job (JSON-serialisable for a job payload)."""

    action: str
    kind: ActionKind
    target_kind: str
    namespace: str
    name: str
    at: float
    job_name: str = ""
    pod_uid: str = ""
    detail: str = ""
    """Words for the report, e.g. "3 → 4" for a scale."""
    http_state: str = ""
    http_detail: str = ""
    http_reason: str = ""

    @property
    def target(self) -> Target:
        return Target(self.target_kind, self.namespace, self.name)  # type: ignore[arg-type]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Acted:
        return cls(**data)


async def read_live(kube: Kube, spec: ActionSpec, target: Target) -> Obj | None:
    """The object the live guard and `pin` need: the workload (rollout_restart), its Scale (scale),
    the pod (delete_pod: a missing pod is a PermanentError not_found). None for other kinds."""
    if spec.kind == "rollout_restart":
        return await read_workload(kube, target)
    if spec.kind == "scale":
        return await read_scale(kube, target)
    if spec.kind == "delete_pod":
        pod = await read_pod(kube, target)
        if pod is None:
            raise PermanentError(f"pods {target.namespace}/{target.name} not found", reason="not_found")
        return pod
    return None


def pin(decision: Decision, live: Obj | None, *, now: float) -> Pinned:
    meta = (live or {}).get("metadata") or {}
    return Pinned(
        at=now,
        replicas=decision.replicas,
        replicas_before=((live or {}).get("spec") or {}).get("replicas")
        if decision.replicas is not None
        else None,
        resource_version=meta.get("resourceVersion") if decision.replicas is not None else None,
        pod_uid=meta.get("uid") if live is not None and live.get("kind") == "Pod" else None,
    )


async def act(
    kube: Kube | None,
    session: aiohttp.ClientSession | None,
    spec: ActionSpec,
    target: Target,
    pinned: Pinned,
    *,
    intent_id: str,
    alertname: str,
    fingerprint: str,
    http_config: HTTPClientConfig | None = None,
) -> Acted:
    """Do the action once. Raises RetryableError / PermanentError / ActionRefused."""

    def acted(**extra: str) -> Acted:
        return Acted(spec.name, spec.kind, target.kind, target.namespace, target.name, pinned.at, **extra)

    if spec.kind == "http":
        assert session is not None and spec.http is not None
        verdict = await call_http(session, spec.http, http_config=http_config)
        return acted(http_state=verdict.state, http_detail=verdict.detail, http_reason=verdict.reason)
    assert kube is not None
    if spec.kind == "rollout_restart":
        await rollout_restart(kube, target, at=datetime.fromtimestamp(pinned.at, UTC))
        return acted()
    if spec.kind == "scale":
        assert pinned.replicas is not None
        await scale_to(kube, target, replicas=pinned.replicas, resource_version=pinned.resource_version)
        return acted(detail=f"{pinned.replicas_before} → {pinned.replicas}")
    if spec.kind == "delete_pod":
        assert pinned.pod_uid is not None
        await delete_pod(kube, target, uid=pinned.pod_uid)
        return acted(pod_uid=pinned.pod_uid)
    job = await start_job(
        kube, target, intent_id=intent_id, action=spec.name, alertname=alertname, fingerprint=fingerprint
    )
    return acted(job_name=str(job["metadata"]["name"]))


async def check(kube: Kube | None, acted: Acted) -> Verdict:
    """One verification read."""
    if acted.kind == "http":
        return Verdict(acted.http_state, acted.http_detail, acted.http_reason)  # type: ignore[arg-type]
    assert kube is not None
    if acted.kind in ("rollout_restart", "scale"):
        return await verify_rollout(kube, acted.target)
    if acted.kind == "delete_pod":
        return await verify_pod_deleted(kube, acted.target, uid=acted.pod_uid)
    return await verify_job(kube, acted.namespace, acted.job_name)
