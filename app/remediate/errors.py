"""The one place where answers of the Kubernetes API become what the engine should do.

    RetryableError   409 Conflict, 429, 5xx, unreachable / timeout: try again with backoff
                     (within the verification window)
    PermanentError   401, 403 (naming the missing permission), 404, 422 Invalid, other 4xx
    ActionRefused    a guard found at act time (a paused Deployment): report "refused", count it

`reason` is a short word for metrics and for callers that treat one answer specially
(`already_exists` on a Job create, `not_found` when a pod is already gone).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from app.core.errors import DeliveryError, PermanentError, RetryableError
from app.core.remediation.refusals import Refusal


class ActionRefused(PermanentError):
    """A guard refused the action at the moment of acting."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(f"refused by {refusal.guard.value}: {refusal.reason}", reason=refusal.guard.value)
        self.refusal = refusal


@dataclass(frozen=True)
class Operation:
    """What was asked of the API, to say what failed in words a person can act on."""

    verb: str
    resource: str
    """Plural resource, with its subresource: "deployments", "deployments/scale", "pods"."""
    group: str
    namespace: str
    name: str = ""

    @property
    def qualified(self) -> str:
        return f"{self.resource.split('/')[0]}.{self.group}" if self.group else self.resource.split("/")[0]

    def __str__(self) -> str:
        return f"{self.verb} {self.resource} {self.namespace}/{self.name}".rstrip("/")


def _status(body: str | bytes | None) -> dict[str, Any]:
    try:
        parsed = json.loads(body or b"")
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def translate(op: Operation, *, status: int, body: str | bytes | None, headers: Any = None) -> DeliveryError:
    """The error for an API answer `status` with its Status `body`."""
    st = _status(body)
    api_reason = str(st.get("reason") or "")
    api_message = " ".join(str(st.get("message") or f"HTTP {status}").split())[:300]
    if status == 401:
        return PermanentError(
            f"{op}: the API server rejected alertmedic's credentials", reason="unauthorized"
        )
    if status == 403:
        scope = f"in namespace {op.namespace}" if op.namespace else "cluster-wide"
        return PermanentError(
            f"forbidden: alertmedic may not {op.verb} {op.resource} (API group {op.group or 'core'!r}) "
            f"{scope}; grant it in that namespace's Role (deploy/kubernetes/rbac)",
            reason="forbidden",
        )
    if status == 404:
        return PermanentError(f"{op.qualified} {op.namespace}/{op.name} not found", reason="not_found")
    if status == 409:
        if api_reason == "AlreadyExists":
            return PermanentError(f"{op}: {api_message}", reason="already_exists")
        return RetryableError(f"{op}: conflict: {api_message}", reason="conflict")
    if status == 422:
        return PermanentError(f"{op}: invalid: {api_message}", reason="invalid")
    if status == 429:
        return RetryableError(f"{op}: throttled", reason="throttled", retry_after=_retry_after(headers))
    if status >= 500:
        return RetryableError(
            f"{op}: API server error {status}: {api_message}",
            reason="server_error",
            retry_after=_retry_after(headers),
        )
    return PermanentError(f"{op}: HTTP {status}: {api_message}", reason="bad_request")


def unreachable(op: Operation, exc: BaseException) -> RetryableError:
    """A transport failure (refused, reset, timeout): the API server may be back later."""
    return RetryableError(f"{op}: API server unreachable ({type(exc).__name__})", reason="unreachable")
