"""Incidents in the store: one row per alert group (its current episode) and the append-only
events that no other table holds (firing and resolving, retries, approvals, post-mortems sent).

Everything else on a timeline is read from where it is already recorded: deliveries and dead
letters from `jobs`, enrichment from `enrichments`, chat actions from `chat_audit`, escalations
from `chat_groups`, remediation steps from `remediations` (app.engine.incidents joins them).

The statements are written once with `?` placeholders; this module runs them on SQLite and
app.store.pg_incidents on PostgreSQL (numbered `$n`). The store classes delegate in one line.
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
    """The group (JSON) as last notified (its latest notify job's; "" when there is none)."""
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


SELECT_STATE = (
    "SELECT firing, started_at, opened_at, last_change, resolved_at, ended_at, episode, alerts_total"
    " FROM incidents WHERE ref = ?"
)
UPSERT = (
    "INSERT INTO incidents (ref, group_key, title, severity, namespace, receiver, receivers, labels,"
    " firing, alerts_total, started_at, opened_at, last_change, resolved_at, ended_at,"
    " episode) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (ref) DO UPDATE SET title = excluded.title, severity = excluded.severity,"
    " namespace = excluded.namespace,"
    " receiver = CASE excluded.receiver WHEN '' THEN incidents.receiver ELSE excluded.receiver END,"
    " receivers = CASE excluded.receivers WHEN '[]' THEN incidents.receivers"
    " ELSE excluded.receivers END, labels = excluded.labels, firing = excluded.firing,"
    " alerts_total = excluded.alerts_total, started_at = excluded.started_at,"
    " opened_at = excluded.opened_at, last_change = excluded.last_change,"
    " resolved_at = excluded.resolved_at, ended_at = excluded.ended_at, episode = excluded.episode,"
    " acked_at = CASE WHEN excluded.episode = incidents.episode THEN incidents.acked_at END"
)
INSERT_EVENT = "INSERT INTO incident_events (ref, at, kind, actor, summary, detail) VALUES (?, ?, ?, ?, ?, ?)"
ACKED = "UPDATE incidents SET acked_at = ? WHERE ref = ? AND acked_at IS NULL RETURNING severity, started_at"
PREFIX = "SELECT ref FROM incidents WHERE substr(ref, 1, ?) = ? ORDER BY ref != ?, ref LIMIT ?"
FACTS = (
    f"SELECT {SUMMARY_COLUMNS}, i.receivers, i.opened_at, i.ended_at, i.episode, g.escalations"
    f"{SUMMARY_FROM} WHERE i.ref = ?"
)
EVENTS = "SELECT at, kind, actor, summary, detail FROM incident_events WHERE ref = ? ORDER BY id"
DELIVERIES = (
    "SELECT id, lane, kind, receiver, integration, state, attempts, last_error, accepted_at, finished_at"
    " FROM jobs WHERE group_key = ? AND type = 'notify' ORDER BY id"
)
PAYLOAD = "SELECT payload FROM jobs WHERE group_key = ? AND type = 'notify' ORDER BY id DESC LIMIT 1"
ENRICHMENTS = (
    "SELECT created_at, result FROM enrichments WHERE group_key = ? AND result IS NOT NULL"
    " ORDER BY created_at"
)
AUDITS = (
    "SELECT at, source, user_key, user_name, action, group_key, outcome, detail FROM chat_audit"
    " WHERE group_key = ? ORDER BY id"
)
REMEDIATIONS = f"SELECT {REMEDIATION_COLUMNS} FROM remediations WHERE group_key = ? ORDER BY id"  # noqa: S608
PURGE = (
    "DELETE FROM incident_events WHERE at < ?",  # a scan: no index on time (cheaper ingest)
    "DELETE FROM incidents WHERE last_change < ?",
)


@dataclass(frozen=True)
class Step:
    """What one webhook does to an incident: the row to write, the events to append."""

    ref: str
    upsert: tuple[Any, ...]
    events: list[tuple[Any, ...]]
    resolved: ResolvedIncident | None


def step(row: Sequence[Any] | None, note: IncidentNote, now: float) -> Step | None:
    """The writes of one accepted webhook, given the incident's row (SELECT_STATE) read in the
    same transaction; None when it changes nothing. A group no destination takes starts no
    incident; it may still resolve one."""
    prev = None if row is None else _state(row)
    if prev is None and not note.receivers:
        return None
    advanced = advance(prev, note, now=now)
    if advanced is None:
        return None
    state, events = advanced
    ref = group_ref(note.group_key)
    upsert = (
        ref,
        note.group_key,
        note.title,
        note.severity,
        note.namespace,
        note.receiver,
        json.dumps(list(note.receivers)),
        json.dumps(dict(note.labels)),
        state.to_firing_json(),
        state.alerts_total,
        state.started_at,
        state.opened_at,
        state.last_change,
        state.resolved_at,
        state.ended_at,
        state.episode,
    )
    resolved = None
    if prev is not None and prev.resolved_at is None and state.resolved_at is not None:
        resolved = ResolvedIncident(note.severity, max(0.0, state.resolved_at - state.started_at))
    return Step(ref, upsert, [event_row(ref, e) for e in events], resolved)


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


def event_row(ref: str, e: TimelineEvent) -> tuple[Any, ...]:
    """INSERT_EVENT's values (`e` already redacted)."""
    return (ref, e.at, e.kind, e.actor, e.summary[:2000], json.dumps(e.detail, ensure_ascii=False))


def appended(group_key: str, event: TimelineEvent) -> tuple[Any, ...]:
    """INSERT_EVENT's values of an event appended from outside ingest, redacted here: whoever
    calls, no secret is stored."""
    return event_row(group_ref(group_key), redact_event(event))


def decided(rec: Remediation, now: float) -> tuple[Any, ...]:
    """INSERT_EVENT's values of an approval or a rejection, in the decision's transaction (the
    remediation record keeps only its last step and actor)."""
    word = "approved" if rec.state == "approved" else "rejected"
    event = TimelineEvent(
        now,
        f"remediation_{word}",
        rec.actor,
        f"{word} {rec.action} ({rec.kind} {rec.target or '?'}) by {rec.actor}",
        {"remediation": rec.id, "action": rec.action, "kind": rec.kind, "target": rec.target},
    )
    return appended(rec.group_key, event)


def first_ack(row: Sequence[Any] | None, now: float) -> ResolvedIncident | None:
    """ACKED's answer: the time to acknowledge when this was the episode's first ack."""
    return None if row is None else ResolvedIncident(row[0], max(0.0, now - row[1]))


def list_sql(flt: IncidentFilter, limit: int, *, contains: str = "instr") -> tuple[str, list[Any]]:
    """The listing `flt` selects: open ones first, by severity then age (oldest first); then
    resolved ones, the latest resolved first. `contains`: the dialect's instr/strpos."""
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
        where.append(f"(i.receiver = ? OR {contains}(i.receivers, ?) > 0)")
        args += [flt.receiver, json.dumps(flt.receiver)]
    if flt.since is not None:
        where.append("i.last_change >= ?")
        args.append(float(flt.since))
    if flt.until is not None:
        where.append("i.started_at < ?")
        args.append(float(flt.until))
    sql = (
        f"SELECT {SUMMARY_COLUMNS}{SUMMARY_FROM}"
        + (" WHERE " + " AND ".join(where) if where else "")
        + f" ORDER BY i.resolved_at IS NOT NULL, CASE WHEN i.resolved_at IS NULL THEN {_SEVERITY_SQL}"
        " ELSE 0 END, CASE WHEN i.resolved_at IS NULL THEN i.started_at ELSE -i.resolved_at END, i.ref"
        " LIMIT ?"
    )
    return sql, [*args, limit]


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


def facts_of(
    r: Sequence[Any],
    *,
    payload: str | None,
    events: Sequence[Sequence[Any]],
    deliveries: Sequence[Sequence[Any]],
    enrichments: Sequence[Sequence[Any]],
    audits: Sequence[Sequence[Any]],
    remediations: Sequence[Sequence[Any]],
) -> IncidentFacts:
    """IncidentFacts from the rows of FACTS, PAYLOAD, EVENTS, DELIVERIES, ENRICHMENTS, AUDITS and
    REMEDIATIONS."""
    return IncidentFacts(
        summary=summary_of(r),
        payload=payload or "",
        receivers=tuple(json.loads(r[17])),
        opened_at=r[18],
        ended_at=r[19],
        episode=r[20],
        events=[TimelineEvent(e[0], e[1], e[2], e[3], json.loads(e[4])) for e in events],
        deliveries=[Delivery(*d) for d in deliveries],
        enrichments=[(e[0], e[1]) for e in enrichments],
        audits=[ChatAudit(*a) for a in audits],
        remediations=[row_to_remediation(x) for x in remediations],
        escalations=tuple((str(e[0]), float(e[1])) for e in json.loads(r[21] or "[]")),
    )


# --- SQLite ---------------------------------------------------------------------------------


def note_incident(conn: sqlite3.Connection, note: IncidentNote, now: float) -> ResolvedIncident | None:
    """At ingest, in its transaction (the single writer serialises it)."""
    done = step(conn.execute(SELECT_STATE, (group_ref(note.group_key),)).fetchone(), note, now)
    if done is None:
        return None
    conn.execute(UPSERT, done.upsert)
    conn.executemany(INSERT_EVENT, done.events)
    return done.resolved


def append_event(conn: sqlite3.Connection, group_key: str, event: TimelineEvent) -> None:
    conn.execute(INSERT_EVENT, appended(group_key, event))


def approval_event(conn: sqlite3.Connection, rec: Remediation, now: float) -> None:
    conn.execute(INSERT_EVENT, decided(rec, now))


def acked(conn: sqlite3.Connection, group_key: str, now: float) -> ResolvedIncident | None:
    """The first acknowledgement of the episode (the conditional update: once across replicas)."""
    return first_ack(conn.execute(ACKED, (now, group_ref(group_key))).fetchone(), now)


def list_incidents(conn: sqlite3.Connection, flt: IncidentFilter, limit: int) -> list[IncidentSummary]:
    sql, args = list_sql(flt, limit)
    return [summary_of(r) for r in conn.execute(sql, args).fetchall()]


def refs_with_prefix(conn: sqlite3.Connection, prefix: str, limit: int) -> list[str]:
    """Incident ids starting with `prefix` (an exact id first), at most `limit`."""
    return [r[0] for r in conn.execute(PREFIX, (len(prefix), prefix, prefix, limit)).fetchall()]


def read_facts(conn: sqlite3.Connection, ref: str) -> IncidentFacts | None:
    r = conn.execute(FACTS, (ref,)).fetchone()
    if r is None:
        return None
    key = r[1]
    payload = conn.execute(PAYLOAD, (key,)).fetchone()
    return facts_of(
        r,
        payload=payload[0] if payload else None,
        events=conn.execute(EVENTS, (ref,)).fetchall(),
        deliveries=conn.execute(DELIVERIES, (key,)).fetchall(),
        enrichments=conn.execute(ENRICHMENTS, (key,)).fetchall(),
        audits=conn.execute(AUDITS, (key,)).fetchall(),
        remediations=conn.execute(REMEDIATIONS, (key,)).fetchall(),
    )


def purge(conn: sqlite3.Connection, older_than: float) -> int:
    """Retention: events older than the horizon, and incidents unchanged since before it."""
    return sum(conn.execute(sql, (older_than,)).rowcount for sql in PURGE)
