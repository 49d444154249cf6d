"""Incidents as people see them: the list, one incident with its timeline, its post-mortem draft.

The timeline joins the events the store appended (alerts firing and resolving, retries,
approvals) with what other tables already record: deliveries and dead letters (jobs),
enrichment (enrichments), chat actions (chat_audit), escalations (chat_groups) and remediation
steps (remediations). The CLI, the JSON API and the console all read through here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import ValidationError

from app.core.enrich_plan import expr_from_generator_url
from app.core.enrichment import Enrichment
from app.core.incidents import (
    SYSTEM,
    AlertFact,
    IncidentDetail,
    IncidentFilter,
    IncidentNote,
    IncidentSummary,
    TimelineEvent,
    kind_rank,
    redact_events,
    render_postmortem,
)
from app.core.models import ZERO_TIME, Alert, Group, WebhookMessage
from app.core.plan import Planned
from app.store.base import ChatAudit, Job, Store
from app.store.incidents import Delivery, IncidentFacts
from app.store.remediations import Remediation

__all__ = [
    "actor_of",
    "detail_of",
    "incident",
    "list_incidents",
    "note_of",
    "postmortem",
    "resolve_id",
    "retried",
    "timeline",
]

_CHAT_KINDS = {"ack": "acked", "unack": "unacked", "silence": "silenced", "unsilence": "unsilenced"}
_CHAT_WORDS = {
    "ack": "acknowledged",
    "unack": "acknowledgement taken back",
    "silence": "silenced",
    "unsilence": "silence expired",
}


def note_of(msg: WebhookMessage, plans: Sequence[Planned]) -> IncidentNote:
    """What an accepted webhook says about its group. No destination took it (`receivers`
    empty): it starts no incident but may change one (resolved alerts go only to destinations
    that send resolved). One pass over the alerts, nothing parsed again."""
    labels = msg.commonLabels
    receivers = tuple(dict.fromkeys(p.group.receiver for p in plans))
    alerts = tuple(
        AlertFact(
            a.fingerprint,
            a.labels.get("alertname", ""),
            a.status,
            a.startsAt.timestamp(),
            None if a.endsAt <= ZERO_TIME else a.endsAt.timestamp(),
        )
        for a in msg.alerts
    )
    title = labels.get("alertname") or msg.groupLabels.get("alertname") or msg.alerts[0].name or msg.groupKey
    return IncidentNote(
        group_key=msg.groupKey,
        title=title,
        severity=labels.get("severity", ""),
        namespace=labels.get("namespace"),
        receiver=receivers[0] if receivers else "",
        receivers=receivers,
        labels=labels,
        alerts=alerts,
    )


async def list_incidents(store: Store, flt: IncidentFilter, *, limit: int = 200) -> list[IncidentSummary]:
    """Open ones by severity then age; resolved ones newest first (`flt.state` chooses)."""
    return await store.incidents(flt, limit=limit)


async def resolve_id(store: Store, text: str) -> str | Literal["ambiguous"] | None:
    """The incident id `text` names: the id itself or a unique prefix of one; "ambiguous" when
    the prefix fits several, None when it fits none."""
    if not text:
        return None
    refs = await store.incident_refs(text, limit=2)
    if not refs:
        return None
    if refs[0] == text or len(refs) == 1:
        return refs[0]
    return "ambiguous"


async def incident(store: Store, id: str) -> IncidentDetail | None:
    """One incident with its timeline, log excerpt, graph and links; None for an unknown id."""
    facts = await store.incident_facts(id)
    return None if facts is None else detail_of(facts)


async def postmortem(store: Store, id: str, *, now: float) -> str | None:
    """The incident's post-mortem draft (Markdown); None for an unknown id."""
    detail = await incident(store, id)
    return None if detail is None else render_postmortem(detail, now=now)


def detail_of(facts: IncidentFacts) -> IncidentDetail:
    try:
        group: Group | None = Group.model_validate_json(facts.payload)
    except ValidationError:
        group = None
    alerts = [] if group is None else group.alerts
    annotations = dict(group.commonAnnotations) if group is not None else {}
    if not annotations and alerts:
        annotations = dict(alerts[0].annotations)
    firing_first = sorted(alerts, key=lambda a: a.status != "firing")
    links: dict[str, str] = {}
    source = next((a.generatorURL for a in firing_first if a.generatorURL), "")
    if source:
        links["graph"] = source
    runbook = annotations.get("runbook_url") or next(
        (a.annotations["runbook_url"] for a in alerts if "runbook_url" in a.annotations), ""
    )
    if runbook:
        links["runbook"] = runbook
    dashboard = annotations.get("dashboard_url")
    if dashboard:
        links["dashboard"] = dashboard
    log_lines: list[str] = []
    graph_png: bytes | None = None
    for _, text in reversed(facts.enrichments):
        e = _enrichment(text)
        if e is None:
            continue
        if not log_lines and e.logs:
            log_lines = [f"{line.time} {line.text}" for section in e.logs for line in section.lines]
        if graph_png is None and e.graphs:
            graph_png = e.graphs[0].png
    return IncidentDetail(
        summary=facts.summary,
        events=timeline(facts),
        annotations=annotations,
        log_lines=log_lines,
        graph_png=graph_png,
        links=links,
        opened_at=facts.opened_at,
        ended_at=facts.ended_at,
        expression=expr_from_generator_url(source) if source else None,
        alerts=[_fact(a, facts) for a in alerts],
        receivers=list(facts.receivers),
        episode=facts.episode,
    )


def _fact(a: Alert, facts: IncidentFacts) -> AlertFact:
    ends = None if a.endsAt <= ZERO_TIME else a.endsAt.timestamp()
    status = a.status
    if facts.summary.state == "resolved" and status == "firing":
        # the payload is the last one notified: no destination took the resolve (none sends
        # resolved), but the incident knows it ended
        status, ends = "resolved", facts.ended_at
    return AlertFact(
        a.fingerprint, a.name, status, a.startsAt.timestamp(), ends, a.generatorURL, a.labels, a.annotations
    )


def _enrichment(text: str) -> Enrichment | None:
    try:
        return Enrichment.from_json(text)
    except (ValueError, KeyError, TypeError):
        return None


def timeline(facts: IncidentFacts) -> list[TimelineEvent]:
    """Every event of the incident, oldest first; events of one instant in the order of an
    incident's life (`kind_rank`), then of their sources."""
    events: list[TimelineEvent] = list(facts.events)
    events += _deliveries(facts.deliveries)
    events += _enrichments(facts.enrichments)
    events += _chat(facts.audits)
    events += [
        TimelineEvent(
            at, "escalated", SYSTEM, f"escalated to {receiver} (not acknowledged)", {"receiver": receiver}
        )
        for receiver, at in facts.escalations
    ]
    decided = {
        e.detail.get("remediation"): e.at
        for e in facts.events
        if e.kind in ("remediation_approved", "remediation_rejected")
    }
    for rec in facts.remediations:
        events += _remediation(rec, decided.get(rec.id))
    return sorted(redact_events(events), key=lambda e: (e.at, kind_rank(e.kind)))


def _deliveries(deliveries: Iterable[Delivery]) -> Iterable[TimelineEvent]:
    for d in deliveries:
        if d.finished_at is None:
            continue
        detail = {
            "destination": d.destination,
            "receiver": d.receiver,
            "integration": d.integration,
            "message": d.kind,
            "attempts": d.attempts,
        }
        if d.state == "done":
            verb = "sent" if d.kind == "new" else "updated"
            yield TimelineEvent(d.finished_at, "notified", SYSTEM, f"{verb} to {d.destination}", detail)
        elif d.state == "dead":
            yield TimelineEvent(
                d.finished_at,
                "dead_lettered",
                SYSTEM,
                f"not delivered to {d.destination}: {d.error or 'gave up'}",
                {**detail, "error": d.error or ""},
            )


def _enrichments(items: Iterable[tuple[float, str]]) -> Iterable[TimelineEvent]:
    for at, text in items:
        e = _enrichment(text)
        if e is None or e.empty:
            continue
        lines = sum(len(s.lines) for s in e.logs)
        parts = []
        if e.logs:
            parts.append(f"{lines} log line{'s' if lines != 1 else ''}")
        if e.graphs:
            parts.append(f"{len(e.graphs)} graph{'s' if len(e.graphs) != 1 else ''}")
        parts += list(e.notes)
        yield TimelineEvent(
            at,
            "enriched",
            SYSTEM,
            "attached " + "; ".join(parts),
            {"log_lines": lines, "graphs": len(e.graphs), "notes": list(e.notes)},
        )


def _chat(audits: Iterable[ChatAudit]) -> Iterable[TimelineEvent]:
    for a in audits:
        kind = _CHAT_KINDS.get(a.action)
        if kind is None or a.outcome != "done":
            continue  # approvals are events of their own; refusals change nothing
        if a.detail.startswith(("already ", "not ")):
            continue  # a tap that found the state as asked: nothing happened
        yield TimelineEvent(
            a.at,
            kind,
            actor_of(a.user_name, a.source),
            f"{_CHAT_WORDS[a.action]} by {a.user_name} from {a.source}",
            {"source": a.source, "user": a.user_key, "text": a.detail},
        )


def retried(job: Job, exc: BaseException, attempt: int, delay: float, now: float) -> TimelineEvent:
    """The event of a failed delivery attempt that will be tried again (the job keeps only its
    last error)."""
    return TimelineEvent(
        now,
        "retried",
        SYSTEM,
        f"delivery to {job.lane} failed (attempt {attempt}), retry in {delay:.0f}s: {exc}",
        {"destination": job.lane, "attempt": attempt, "retry_in": round(delay, 3), "error": str(exc)},
    )


def actor_of(name: str, source: str) -> str:
    """A person as timelines name them: `alice (telegram)` (Alertmanager's `createdBy` form)."""
    return f"{name.lstrip('@')} ({source})"


def _remediation(rec: Remediation, decided_at: float | None) -> list[TimelineEvent]:
    """What the record says happened. It keeps when the action was decided (`acted_at`, the
    instant its idempotency is pinned to), not when an approved one ran: that is right after
    the approval, so the later of the two."""
    what = f"{rec.action} ({rec.kind} {rec.target or '?'})"
    detail = {"remediation": rec.id, "action": rec.action, "kind": rec.kind, "target": rec.target}
    out = [TimelineEvent(rec.created_at, "remediation_planned", SYSTEM, f"planned {what}", detail)]
    if rec.expires_at is not None:
        out.append(
            TimelineEvent(
                rec.created_at,
                "remediation_awaiting_approval",
                SYSTEM,
                f"{what} awaits approval",
                {**detail, "expires_at": rec.expires_at},
            )
        )
    why = {**detail, "reason": rec.reason, "guard": rec.guard}
    if rec.state == "refused":
        out.append(
            TimelineEvent(rec.updated_at, "remediation_refused", SYSTEM, f"refused {what}: {rec.reason}", why)
        )
    elif rec.state == "would":
        out.append(
            TimelineEvent(
                rec.updated_at,
                "remediation_refused",
                SYSTEM,
                f"dry run: would run {what}",
                {**why, "dry_run": True},
            )
        )
    if rec.acted_at is not None:
        at = max(rec.acted_at, decided_at or rec.acted_at)
        out.append(TimelineEvent(at, "remediation_started", SYSTEM, f"started {what}", detail))
    if rec.state == "succeeded":
        out.append(
            TimelineEvent(
                rec.updated_at, "remediation_verified", SYSTEM, f"verified {what}: {rec.reason}", why
            )
        )
    elif rec.state == "failed":
        out.append(
            TimelineEvent(rec.updated_at, "remediation_failed", SYSTEM, f"failed {what}: {rec.reason}", why)
        )
    elif rec.state in ("cancelled", "expired"):
        because = "the alert resolved first" if rec.state == "cancelled" else "no one approved it in time"
        out.append(
            TimelineEvent(
                rec.updated_at, "remediation_cancelled", SYSTEM, f"{rec.state} {what}: {because}", why
            )
        )
    return out
