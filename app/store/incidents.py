"""Incidents in SQLite: one row per alert group (its current episode) and the append-only events
that no other table holds (firing and resolving, retries, approvals, post-mortems sent).

Everything else on a timeline is read from where it is already recorded: deliveries and dead
letters from `jobs`, enrichment from `enrichments`, chat actions from `chat_audit`, escalations
from `chat_groups`, remediation steps from `remediations` (app.engine.incidents joins them).
The store classes delegate here in one line each.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.core.incidents import (
    IncidentFilter,
    IncidentNote,
    IncidentState,
    IncidentSummary,
    TimelineEvent,
    advance,
    redact_event,
)
from app.store.base import ChatAudit, group_ref
from app.store.remediations import REMEDIATION_COLUMNS, Remediation, row_to_remediation

OPEN_REMEDIATION = ("pending", "awaiting_approval", "approved", "acting", "verifying")

_SEVERITY_SQL = (
    "CASE lower(i.severity) WHEN 'critical' THEN 0 WHEN 'error' THEN 1 WHEN 'high' THEN 2"
    " WHEN 'warning' THEN 3 WHEN 'medium' THEN 4 WHEN 'low' THEN 5 WHEN 'info' THEN 6"
    " WHEN 'none' THEN 7 ELSE 8 END"
)
"""app.core.incidents.severity_rank in SQL."""

SUMMARY_COLUMNS = (
    "i.ref, i.group_key, i.title, i.severity, i.namespace, i.receiver, i.started_at, i.last_change,"
    " i.resolved_at, g.ack_by, g.ack_at, g.silence_until, g.escalations, i.firing, i.alerts_total,"
    " i.labels, EXISTS (SELECT 1 FROM remediations r WHERE r.group_key = i.group_key"
    " AND r.state IN ('pending', 'awaiting_approval', 'approved', 'acting', 'verifying'))"
)
SUMMARY_FROM = " FROM incidents i LEFT JOIN chat_groups g ON g.ref = i.ref"


@dataclass(frozen=True)
class ResolvedIncident:
    """An incident that the webhook just resolved (once per episode): for the metrics."""

    severity: str
    seconds: float
    """From its first `startsAt` to its resolution."""


@dataclass(frozen=True)
class Delivery:
    """A notify job of the incident's group, as the `jobs` table holds it."""

    id: int
    destination: str
    kind: str
    receiver: str
    integration: str
    state: str
    attempts: int
    error: str | None
    accepted_at: float
    finished_at: float | None


@dataclass(frozen=True)
class IncidentFacts:
    """Everything the store holds about one incident; app.engine.incidents makes a timeline."""

    summary: IncidentSummary
    payload: str
    """The group (JSON) as last changed, with the most alerts any destination got."""
    receivers: tuple[str, ...]
    opened_at: float
    ended_at: float | None
    episode: int
    events: list[TimelineEvent]
    deliveries: list[Delivery]
    enrichments: list[tuple[float, str]]
    """(stored at, Enrichment JSON) of each group state enriched, oldest first."""
    audits: list[ChatAudit]
    remediations: list[Remediation]
    escalations: tuple[tuple[str, float], ...]


def note_incident(
    conn: sqlite3.Connection, note: IncidentNote, payload: str, now: float
) -> ResolvedIncident | None:
    """At ingest, in its transaction: advance the incident and append the events it implies."""
    row = conn.execute(
        "SELECT firing, started_at, opened_at, last_change, resolved_at, ended_at, episode, alerts_total"
        " FROM incidents WHERE group_key = ?",
        (note.group_key,),
    ).fetchone()
    prev = None if row is None else _state(row)
    step = advance(prev, note, now=now)
    if step is None:
        return None
    state, events = step
    conn.execute(
        "INSERT INTO incidents (ref, group_key, title, severity, namespace, receiver, receivers, labels,"
        " payload, firing, alerts_total, started_at, opened_at, last_change, resolved_at, ended_at,"
        " episode) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (group_key) DO UPDATE SET title = excluded.title, severity = excluded.severity,"
        " namespace = excluded.namespace, receiver = excluded.receiver, receivers = excluded.receivers,"
        " labels = excluded.labels, payload = excluded.payload, firing = excluded.firing,"
        " alerts_total = excluded.alerts_total, started_at = excluded.started_at,"
        " opened_at = excluded.opened_at, last_change = excluded.last_change,"
        " resolved_at = excluded.resolved_at, ended_at = excluded.ended_at, episode = excluded.episode,"
        " acked_at = CASE WHEN excluded.episode = incidents.episode THEN incidents.acked_at END",
        (
            group_ref(note.group_key),
            note.group_key,
            note.title,
            note.severity,
            note.namespace,
            note.receiver,
            json.dumps(list(note.receivers)),
            json.dumps(dict(note.labels)),
            payload,
            state.to_firing_json(),
            state.alerts_total,
            state.started_at,
            state.opened_at,
            state.last_change,
            state.resolved_at,
            state.ended_at,
            state.episode,
        ),
    )
    for e in events:
        _insert_event(conn, note.group_key, e)
    if prev is not None and prev.resolved_at is None and state.resolved_at is not None:
        return ResolvedIncident(note.severity, max(0.0, state.resolved_at - state.started_at))
    return None


def _state(r: Sequence[Any]) -> IncidentState:
    return IncidentState(
        firing=frozenset(json.loads(r[0])),
        started_at=r[1],
        opened_at=r[2],
        last_change=r[3],
        resolved_at=r[4],
        ended_at=r[5],
        episode=r[6],
        alerts_total=r[7],
    )


def _insert_event(conn: sqlite3.Connection, group_key: str, e: TimelineEvent) -> None:
    conn.execute(
        "INSERT INTO incident_events (group_key, at, kind, actor, summary, detail) VALUES (?, ?, ?, ?, ?, ?)",
        (group_key, e.at, e.kind, e.actor, e.summary[:2000], json.dumps(e.detail, ensure_ascii=False)),
    )


def append_event(conn: sqlite3.Connection, group_key: str, event: TimelineEvent) -> None:
    """Append one event (redacted here: whoever calls, no secret is stored)."""
    _insert_event(conn, group_key, redact_event(event))


def approval_event(conn: sqlite3.Connection, rec: Remediation, now: float) -> None:
    """In the decision's transaction: the event of an approval or a rejection (the remediation
    record keeps only its last step and actor)."""
    word = "approved" if rec.state == "approved" else "rejected"
    event = TimelineEvent(
        now,
        f"remediation_{word}",
        rec.actor,
        f"{word} {rec.action} ({rec.kind} {rec.target or '?'}) by {rec.actor}",
        {"remediation": rec.id, "action": rec.action, "kind": rec.kind, "target": rec.target},
    )
    append_event(conn, rec.group_key, event)


def acked(conn: sqlite3.Connection, group_key: str, now: float) -> ResolvedIncident | None:
    """The first acknowledgement of the incident's episode: (severity, seconds since its first
    `startsAt`); None for any later one. The conditional update makes it once across replicas."""
    row = conn.execute(
        "UPDATE incidents SET acked_at = ? WHERE group_key = ? AND acked_at IS NULL"
        " RETURNING severity, started_at",
        (now, group_key),
    ).fetchone()
    return None if row is None else ResolvedIncident(row[0], max(0.0, now - row[1]))


def _filter_sql(flt: IncidentFilter) -> tuple[str, list[Any]]:
    where: list[str] = []
    args: list[Any] = []
    if flt.state == "open":
        where.append("i.resolved_at IS NULL")
    elif flt.state == "resolved":
        where.append("i.resolved_at IS NOT NULL")
    if flt.namespace is not None:
        where.append("i.namespace = ?")
        args.append(flt.namespace)
    if flt.severity is not None:
        where.append("lower(i.severity) = lower(?)")
        args.append(flt.severity)
    if flt.receiver is not None:
        where.append("(i.receiver = ? OR instr(i.receivers, ?) > 0)")
        args += [flt.receiver, json.dumps(flt.receiver)]
    if flt.since is not None:
        where.append("i.last_change >= ?")
        args.append(flt.since)
    if flt.until is not None:
        where.append("i.started_at < ?")
        args.append(flt.until)
    return (" WHERE " + " AND ".join(where) if where else ""), args


def list_incidents(conn: sqlite3.Connection, flt: IncidentFilter, limit: int) -> list[IncidentSummary]:
    """Open ones first, by severity then age (oldest first); then resolved ones, newest first."""
    where, args = _filter_sql(flt)
    rows = conn.execute(
        f"SELECT {SUMMARY_COLUMNS}{SUMMARY_FROM}{where}"
        f" ORDER BY i.resolved_at IS NOT NULL, CASE WHEN i.resolved_at IS NULL THEN {_SEVERITY_SQL}"
        " ELSE 0 END, CASE WHEN i.resolved_at IS NULL THEN i.started_at ELSE -i.resolved_at END, i.ref"
        " LIMIT ?",
        (*args, limit),
    ).fetchall()
    return [summary_of(r) for r in rows]


def summary_of(r: Sequence[Any]) -> IncidentSummary:
    return IncidentSummary(
        id=r[0],
        group_key=r[1],
        title=r[2],
        severity=r[3],
        namespace=r[4],
        receiver=r[5],
        state="open" if r[8] is None else "resolved",
        first_fired=r[6],
        last_change=r[7],
        resolved_at=r[8],
        acked_by=r[9],
        acked_at=r[10],
        silenced_until=r[11],
        escalated=bool(r[12]) and r[12] != "[]",
        remediating=bool(r[16]),
        alerts_firing=len(json.loads(r[13])),
        alerts_total=r[14],
        labels=json.loads(r[15]),
    )


def refs_with_prefix(conn: sqlite3.Connection, prefix: str, limit: int) -> list[str]:
    """Incident ids starting with `prefix` (an exact id first), at most `limit`."""
    rows = conn.execute(
        "SELECT ref FROM incidents WHERE substr(ref, 1, ?) = ? ORDER BY ref != ?, ref LIMIT ?",
        (len(prefix), prefix, prefix, limit),
    ).fetchall()
    return [r[0] for r in rows]


def read_facts(conn: sqlite3.Connection, ref: str) -> IncidentFacts | None:
    r = conn.execute(
        f"SELECT {SUMMARY_COLUMNS}, i.payload, i.receivers, i.opened_at, i.ended_at, i.episode,"
        f" g.escalations{SUMMARY_FROM} WHERE i.ref = ?",
        (ref,),
    ).fetchone()
    if r is None:
        return None
    summary = summary_of(r)
    key = summary.group_key
    events = [
        TimelineEvent(at, kind, actor, text, json.loads(detail))
        for at, kind, actor, text, detail in conn.execute(
            "SELECT at, kind, actor, summary, detail FROM incident_events WHERE group_key = ? ORDER BY id",
            (key,),
        )
    ]
    deliveries = [
        Delivery(*d)
        for d in conn.execute(
            "SELECT id, lane, kind, receiver, integration, state, attempts, last_error, accepted_at,"
            " finished_at FROM jobs WHERE group_key = ? AND type = 'notify' ORDER BY id",
            (key,),
        )
    ]
    enrichments = [
        (at, result)
        for at, result in conn.execute(
            "SELECT created_at, result FROM enrichments WHERE group_key = ? AND result IS NOT NULL"
            " ORDER BY created_at",
            (key,),
        )
    ]
    audits = [
        ChatAudit(*a)
        for a in conn.execute(
            "SELECT at, source, user_key, user_name, action, group_key, outcome, detail FROM chat_audit"
            " WHERE group_key = ? ORDER BY id",
            (key,),
        )
    ]
    remediations = [
        row_to_remediation(x)
        for x in conn.execute(
            f"SELECT {REMEDIATION_COLUMNS} FROM remediations WHERE group_key = ? ORDER BY id",  # noqa: S608
            (key,),
        )
    ]
    escalations = tuple((str(e[0]), float(e[1])) for e in json.loads(r[22] or "[]"))
    return IncidentFacts(
        summary=summary,
        payload=r[17],
        receivers=tuple(json.loads(r[18])),
        opened_at=r[19],
        ended_at=r[20],
        episode=r[21],
        events=events,
        deliveries=deliveries,
        enrichments=enrichments,
        audits=audits,
        remediations=remediations,
        escalations=escalations,
    )


def purge(conn: sqlite3.Connection, older_than: float) -> int:
    """Retention: events older than the horizon, and incidents unchanged since before it."""
    n = conn.execute("DELETE FROM incident_events WHERE at < ?", (older_than,)).rowcount
    n += conn.execute("DELETE FROM incidents WHERE last_change < ?", (older_than,)).rowcount
    return int(n)
