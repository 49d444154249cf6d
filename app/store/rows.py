"""What both stores share above their SQL: the ingest's per-plan values, and records built from
the rows their (identical) SELECT column lists return."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from app.core.dedup import signature
from app.core.plan import Destination, Planned
from app.store.base import ChatGroup, Job

JOB_COLUMNS = (
    "j.id, j.type, j.lane, j.group_key, j.kind, j.receiver, j.integration, j.payload,"
    " j.accepted_at, j.attempts, j.not_before, t.message_ref"
)
"""Of `jobs j LEFT JOIN threads t` (the thread's message reference), in `job_from_row`'s order."""
CHAT_GROUP_COLUMNS = (
    "ref, group_key, payload, resolved, first_notified_at, ack_by, ack_at, ack_cleared_by,"
    " silence_id, silence_by, silence_until, escalations"
)
"""Of `chat_groups`, in `chat_group_from_row`'s order."""

Prepared = tuple[Destination, str, str, frozenset[str], str, str]
"""(destination, group key, signature, firing fingerprints, firing as JSON, group as JSON)."""


def prepare(plans: Sequence[Planned]) -> list[Prepared]:
    """The values `ingest` stores per plan. Destinations that take the same alerts share one Group
    (Router.plan): it is serialised once."""
    out: list[Prepared] = []
    done: dict[int, tuple[str, frozenset[str], str, str]] = {}
    for p in plans:
        if id(p.group) not in done:
            firing = frozenset(a.fingerprint for a in p.group.alerts if a.status == "firing")
            sig = signature(p.group.alerts)
            done[id(p.group)] = (sig, firing, json.dumps(sorted(firing)), p.group.model_dump_json())
        out.append((p.destination, p.group.groupKey, *done[id(p.group)]))
    return out


def job_from_row(r: Sequence[Any]) -> Job:
    return Job(
        id=r[0],
        type=r[1],
        lane=r[2],
        group_key=r[3],
        kind=r[4],
        receiver=r[5],
        integration=r[6],
        payload=r[7],
        accepted_at=r[8],
        attempts=r[9],
        not_before=r[10],
        message_ref=json.loads(r[11]) if r[11] else None,
    )


def chat_group_from_row(r: Sequence[Any]) -> ChatGroup:
    return ChatGroup(
        ref=r[0],
        group_key=r[1],
        payload=r[2],
        resolved=bool(r[3]),
        first_notified_at=r[4],
        ack_by=r[5],
        ack_at=r[6],
        ack_cleared_by=r[7],
        silence_id=r[8],
        silence_by=r[9],
        silence_until=r[10],
        escalations=tuple((str(e[0]), float(e[1])) for e in json.loads(r[11])),
    )
