"""Approve or reject an action awaiting approval: the one code path of the CLI, the HTTP API and
(later) the chat buttons. Deciding enqueues the next step on the target's lane in the same
transaction: `act` after an approval, the `rejected` report after a rejection."""

from __future__ import annotations

import json
from collections.abc import Callable

from app.store.base import NewJob
from app.store.remediations import Remediation, RemediationStore, remediation_lane


async def decide_approval(
    store: RemediationStore,
    rid: int,
    *,
    approve: bool,
    actor: str,
    now: float,
    wake: Callable[[str], None] | None = None,
) -> Remediation | str:
    """The record after the decision, or why it cannot be taken (unknown, not awaiting, expired)."""
    rec = await store.remediation(rid)
    if rec is None:
        return f"no action {rid}"
    lane = remediation_lane(rec.target)
    step = "act" if approve else "finish"
    job = NewJob(
        "remediate",
        lane,
        json.dumps({"id": rid, "step": step}),
        now,
        receiver="remediation",
        integration=rec.kind,
    )
    result = await store.decide_approval(rid, approve=approve, actor=actor, now=now, job=job)
    if not isinstance(result, str) and wake is not None:
        wake(lane)
    return result
