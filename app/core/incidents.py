"""Incidents: one per alert group (its `group_ref` is the id), with a timeline of what happened.

The records the incident views, the API and the post-mortem share; and `advance`, the pure step
that turns what one accepted webhook says about a group into the incident's new state and the
timeline events it implies (first fired, each alert firing and resolving, resolved). A store runs
`advance` inside the transaction that accepts the webhook, so concurrent ingests agree.

No I/O.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

import re2

from app.core.redact import Redactor

__all__ = [
    "ALERT_EVENTS_MAX",
    "KINDS",
    "AlertFact",
    "IncidentDetail",
    "IncidentFilter",
    "IncidentNote",
    "IncidentState",
    "IncidentSummary",
    "TimelineEvent",
    "advance",
    "format_relative",
    "format_utc",
    "kind_rank",
    "redact_event",
    "redact_events",
    "render_postmortem",
    "severity_rank",
]

KINDS = (
    "fired",
    "alert_firing",
    "alert_resolved",
    "resolved",
    "remediation_planned",
    "remediation_awaiting_approval",
    "remediation_refused",
    "enriched",
    "retried",
    "notified",
    "dead_lettered",
    "escalated",
    "acked",
    "unacked",
    "silenced",
    "unsilenced",
    "remediation_approved",
    "remediation_rejected",
    "remediation_started",
    "remediation_verified",
    "remediation_failed",
    "remediation_cancelled",
    "postmortem_sent",
)
"""Every event kind a timeline holds, in the order a timeline shows events of the same instant:
what a webhook says first (everything else follows from a webhook), then what happens in an
incident's life in its usual order. Times of events from different tables can tie (the same
clock reading, or a clock that moves in steps)."""


def kind_rank(kind: str) -> int:
    """Where events of one instant go: by `KINDS` order; unknown kinds after the known ones."""
    try:
        return KINDS.index(kind)
    except ValueError:
        return len(KINDS)


ALERT_EVENTS_MAX = 20
"""Per-alert events one webhook may add per direction (firing, resolving); the rest are counted
in one more event, so a storm of a thousand alerts stays a few rows."""

SYSTEM = "alertmedic"
ALERTMANAGER = "alertmanager"
"""Actors of the events no person caused."""

_SEVERITY_ORDER = ("critical", "error", "high", "warning", "medium", "low", "info", "none")

_REDACTOR = Redactor()
_NO_LABELS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class TimelineEvent:
    """One thing that happened to an incident. `at` is Unix seconds; `actor` who did it (a
    person as `alice (telegram)`, `alertmanager`, `alertmedic`); `detail` JSON-able, redacted."""

    at: float
    kind: str
    actor: str | None
    summary: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class IncidentSummary:
    id: str
    group_key: str
    title: str
    severity: str
    namespace: str | None
    receiver: str
    state: Literal["open", "resolved"]
    first_fired: float
    """The earliest `startsAt` of the alerts of its current episode (the impact's start)."""
    last_change: float
    resolved_at: float | None
    acked_by: str | None
    acked_at: float | None
    silenced_until: float | None
    escalated: bool
    remediating: bool
    alerts_firing: int
    alerts_total: int
    labels: dict[str, str]
    """The group's common labels."""


@dataclass(frozen=True)
class IncidentDetail:
    summary: IncidentSummary
    events: list[TimelineEvent]
    """Oldest first."""
    annotations: dict[str, str]
    """The group's common annotations."""
    log_lines: list[str]
    """The log excerpt attached to its notifications (already redacted), oldest first."""
    graph_png: bytes | None
    links: dict[str, str]
    """`runbook`, `graph` (the Prometheus query of the alert), `source`, when known."""
    opened_at: float = 0.0
    """When alertmedic first accepted it as firing (detection)."""
    ended_at: float | None = None
    """The latest `endsAt` of its alerts once resolved (the impact's end)."""
    expression: str | None = None
    """The alerting rule's expression (from `generatorURL`)."""
    alerts: list[AlertFact] = field(default_factory=list)
    receivers: list[str] = field(default_factory=list)
    episode: int = 1
    """1 for its first firing; one more each time it fires again after resolving."""


@dataclass(frozen=True)
class IncidentFilter:
    state: Literal["open", "resolved", "all"] = "open"
    namespace: str | None = None
    severity: str | None = None
    receiver: str | None = None
    since: float | None = None
    """Only incidents whose last change is at or after this time."""
    until: float | None = None
    """Only incidents that first fired before this time."""


class AlertFact(NamedTuple):
    """What one webhook says of one alert (a tuple: a group of 10 000 alerts makes 10 000)."""

    fingerprint: str
    name: str
    status: Literal["firing", "resolved"]
    starts_at: float
    ends_at: float | None
    generator_url: str = ""
    labels: Mapping[str, str] = _NO_LABELS
    annotations: Mapping[str, str] = _NO_LABELS


@dataclass(frozen=True)
class IncidentNote:
    """What one accepted webhook says about its group (app.engine.incidents.note_of builds it);
    `receivers` empty when no destination took it."""

    group_key: str
    title: str
    severity: str
    namespace: str | None
    receiver: str
    receivers: tuple[str, ...]
    labels: Mapping[str, str]
    alerts: tuple[AlertFact, ...]


@dataclass(frozen=True)
class IncidentState:
    """What the store keeps of an incident between webhooks."""

    firing: frozenset[str]
    started_at: float
    opened_at: float
    last_change: float
    resolved_at: float | None
    ended_at: float | None
    episode: int
    alerts_total: int

    def to_firing_json(self) -> str:
        return json.dumps(sorted(self.firing))


def severity_rank(severity: str) -> int:
    """Sort key: critical first, unknown severities after the known ones."""
    try:
        return _SEVERITY_ORDER.index(severity.lower())
    except ValueError:
        return len(_SEVERITY_ORDER)


def advance(
    prev: IncidentState | None, note: IncidentNote, *, now: float
) -> tuple[IncidentState, list[TimelineEvent]] | None:
    """The incident's state after one accepted webhook, and the events it adds; None when the
    webhook changes nothing (a repeat, an HA peer's copy: the common case, kept cheap)."""
    firing = frozenset(a.fingerprint for a in note.alerts if a.status == "firing")
    was = prev.firing if prev is not None and prev.resolved_at is None else frozenset()
    if prev is not None and firing == was and (firing or prev.resolved_at is not None):
        return None
    names = {a.fingerprint: a.name for a in note.alerts}
    events: list[TimelineEvent] = []
    starts = [a.starts_at for a in note.alerts if a.status == "firing"]
    new_episode = prev is None or (prev.resolved_at is not None and bool(firing))
    if new_episode:
        if not firing:  # first heard of as already resolved: an incident that is over
            starts = [a.starts_at for a in note.alerts] or [now]
        started = min(starts) if starts else now
        state = IncidentState(
            firing=firing,
            started_at=started,
            opened_at=now,
            last_change=now,
            resolved_at=None,
            ended_at=None,
            episode=1 if prev is None else prev.episode + 1,
            alerts_total=len(note.alerts),
        )
        if firing:  # not when first heard of as already resolved
            again = "" if prev is None else " again"
            joined = sorted(firing)
            events.append(
                TimelineEvent(
                    now,
                    "fired",
                    ALERTMANAGER,
                    f"{note.title} fired{again} ({_count(joined)})",
                    {
                        "severity": note.severity,
                        "episode": state.episode,
                        "started_at": started,
                        **_alert_list(joined, names),
                    },
                )
            )
    else:
        assert prev is not None
        started = min([prev.started_at, *starts])
        state = replace(
            prev, firing=firing, started_at=started, last_change=now, alerts_total=len(note.alerts)
        )
    # The alerts that start or end the episode are listed in its `fired` / `resolved` event;
    # those that join or leave while it goes on get an event each (one row, not one per alert,
    # for the common group that fires and resolves as one).
    if not new_episode:
        events += _alert_events(sorted(firing - was), "alert_firing", "firing", names, now)
    if firing:
        events += _alert_events(sorted(was - firing), "alert_resolved", "resolved", names, now)
    else:
        ends = [a.ends_at for a in note.alerts if a.ends_at is not None]
        state = replace(state, resolved_at=now, ended_at=max(ends) if ends else now)
        left = sorted(was)
        events.append(
            TimelineEvent(
                now,
                "resolved",
                ALERTMANAGER,
                f"{note.title} resolved ({_count(left)})" if left else f"{note.title} resolved",
                _alert_list(left, names),
            )
        )
    return state, redact_events(events)


def _count(fingerprints: Sequence[str]) -> str:
    return f"{len(fingerprints)} alert{'s' if len(fingerprints) != 1 else ''}"


def _alert_list(fingerprints: Sequence[str], names: Mapping[str, str]) -> dict[str, Any]:
    """The alerts of an event's detail, at most ALERT_EVENTS_MAX named, the rest counted."""
    shown = [{"fingerprint": fp, "name": names.get(fp) or fp} for fp in fingerprints[:ALERT_EVENTS_MAX]]
    more = len(fingerprints) - len(shown)
    return {"alerts": shown, **({"more_alerts": more} if more else {})}


def _alert_events(
    fingerprints: Sequence[str], kind: str, word: str, names: Mapping[str, str], now: float
) -> list[TimelineEvent]:
    out = [
        TimelineEvent(now, kind, ALERTMANAGER, f"{names.get(fp) or fp} {word}", {"fingerprint": fp})
        for fp in fingerprints[:ALERT_EVENTS_MAX]
    ]
    if len(fingerprints) > ALERT_EVENTS_MAX:
        more = len(fingerprints) - ALERT_EVENTS_MAX
        out.append(
            TimelineEvent(
                now,
                kind,
                ALERTMANAGER,
                f"{more} more alerts {word}",
                {"fingerprints": list(fingerprints[ALERT_EVENTS_MAX:][:1000])},
            )
        )
    return out


def redact_events(events: Sequence[TimelineEvent], redactor: Redactor = _REDACTOR) -> list[TimelineEvent]:
    """`redact_event` of each; one scan of all their text first, so events with nothing to
    redact (nearly all) cost one RE2 search together rather than one per pattern and string."""
    texts: list[str] = []
    for e in events:
        texts.append(e.summary)
        _strings(e.detail, texts)
    if not _screen(redactor).search("\n".join(texts)):
        return list(events)
    return [redact_event(e, redactor) for e in events]


@functools.cache
def _screen(redactor: Redactor) -> Any:
    """One RE2 program matching wherever any of the redactor's patterns matches."""
    return re2.compile("|".join(f"(?:{p.source})" for p in redactor.patterns))


def _strings(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for v in value.values():
            _strings(v, out)
    elif isinstance(value, list | tuple):
        for v in value:
            _strings(v, out)


def redact_event(event: TimelineEvent, redactor: Redactor = _REDACTOR) -> TimelineEvent:
    """The event with secrets in its summary and detail replaced (the built-in patterns at least)."""
    summary, _ = redactor.redact(event.summary)
    detail = _redact_value(event.detail, redactor)
    assert isinstance(detail, dict)
    return replace(event, summary=summary, detail=detail)


def _redact_value(value: Any, redactor: Redactor) -> Any:
    if isinstance(value, str):
        return redactor.redact(value)[0]
    if isinstance(value, dict):
        return {k: _redact_value(v, redactor) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(v, redactor) for v in value]
    return value


def format_utc(at: float) -> str:
    """`2026-11-25 19:31:07 UTC`."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_relative(seconds: float) -> str:
    """A signed duration as the timeline shows it: `+0s`, `+4m12s`, `+1h02m05s`, `+2d03h`, `-30s`."""
    sign = "-" if seconds < 0 else "+"
    s = int(abs(seconds))
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    if days:
        return f"{sign}{days}d{hours:02d}h"
    if hours:
        return f"{sign}{hours}h{minutes:02d}m{s:02d}s"
    if minutes:
        return f"{sign}{minutes}m{s:02d}s"
    return f"{sign}{s}s"


def render_postmortem(detail: IncidentDetail, *, now: float) -> str:
    """The post-mortem draft of an incident, in Markdown (app.core.postmortem)."""
    from app.core.postmortem import render

    return render(detail, now=now)
