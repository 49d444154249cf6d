"""What verification concluded from one read of the target, and when to read again.

A verification job reads the target, gets a Verdict, and either reports it (succeeded / failed) or
comes back after `poll_delay` until `verify.timeout` has passed since the action.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from app.core.remediation.actions import HttpCall

VerdictState = Literal["pending", "succeeded", "failed"]


@dataclass(frozen=True)
class Verdict:
    state: VerdictState
    detail: str
    """Human words for the report, e.g. "3/3 pods updated and available"."""
    reason: str = ""
    """For failures: a short machine word from the API (ProgressDeadlineExceeded, BackoffLimitExceeded,
    timeout, ...), usable as a metrics label."""

    @property
    def done(self) -> bool:
        return self.state != "pending"


def poll_delay(polls: int, *, first: float = 1.0, cap: float = 10.0) -> float:
    """Seconds before read number `polls + 1`: 1, 2, 4, 8, then every 10 s."""
    return min(cap, first * float(2 ** min(polls, 16)))


def timed_out(last: Verdict | None, *, timeout: float) -> Verdict:
    """The verdict once `verify.timeout` has passed with the target still pending."""
    from app.core.durations import format_duration

    seen = f" (last seen: {last.detail})" if last is not None and last.detail else ""
    return Verdict("failed", f"not done within {format_duration(timeout)}{seen}", "timeout")


def verify_deadline_passed(*, acted_at: float, now: float, timeout: float) -> bool:
    return now - acted_at >= timeout


def pod_verdict(original_uid: str, pod: Mapping[str, Any] | None) -> Verdict:
    """`delete_pod`: done when the pod is gone (a 404: pass None) or replaced (another uid)."""
    if pod is None:
        return Verdict("succeeded", "pod deleted")
    meta = pod.get("metadata") or {}
    if meta.get("uid") != original_uid:
        return Verdict("succeeded", "pod deleted and replaced")
    if meta.get("deletionTimestamp"):
        return Verdict("pending", "pod terminating")
    return Verdict("pending", "pod deletion not yet observed")


def http_verdict(call: HttpCall, status: int) -> Verdict:
    """`http`: the status code decides."""
    if call.expected(status):
        return Verdict("succeeded", f"HTTP {status}")
    wanted = ", ".join(str(s) for s in sorted(call.expect_status)) or "2xx"
    return Verdict("failed", f"HTTP {status} (expected {wanted})", f"http_{status}")


def next_verify(
    verdict: Verdict, *, acted_at: float, now: float, timeout: float, polls: int
) -> Verdict | float:
    """After one read: the final verdict to report, or the seconds until the next read. Pending past
    `timeout` (counted from the action) is a failure; the last read never overshoots the deadline."""
    if verdict.done:
        return verdict
    if verify_deadline_passed(acted_at=acted_at, now=now, timeout=timeout):
        return timed_out(verdict, timeout=timeout)
    return min(poll_delay(polls), acted_at + timeout - now)
