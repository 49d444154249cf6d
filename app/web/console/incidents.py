"""The console's incident pages: the list (open ones by severity then age, with their state),
the filter (namespace, severity, receiver, time), one incident (timeline, log lines, graph,
its actions) and its graph PNG, all read through app.engine.incidents."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aiohttp import web

from app.core.chatops.actions import Verb
from app.core.chatops.permissions import authorize
from app.core.durations import parse_duration
from app.core.incidents import IncidentFilter, IncidentSummary, format_relative
from app.engine.incidents import incident, list_incidents, postmortem
from app.web.console.auth import CONSOLE, Session
from app.web.console.pages import Awaiting, context
from app.web.console.render import render
from app.web.state import STATE

WINDOWS = {
    "": "any time",
    "1h": "last hour",
    "6h": "last 6 hours",
    "24h": "last 24 hours",
    "7d": "last 7 days",
}
"""The time filter's choices: incidents that changed within the window."""

_BAD = {"fired", "alert_firing", "dead_lettered", "remediation_failed", "remediation_refused", "escalated"}
_GOOD = {"resolved", "alert_resolved", "acked", "remediation_verified", "notified"}


@dataclass(frozen=True)
class Filter:
    """The list's filter as the form shows it, and as the query layer takes it."""

    state: Literal["open", "resolved", "all"]
    namespace: str
    severity: str
    receiver: str
    window: str

    @classmethod
    def from_query(cls, query: web.Request) -> Filter:
        q = query.query
        state = q.get("state", "open")
        window = q.get("window", "")
        return cls(
            state if state in ("open", "resolved", "all") else "open",  # type: ignore[arg-type]
            q.get("namespace", "")[:256],
            q.get("severity", "")[:64],
            q.get("receiver", "")[:256],
            window if window in WINDOWS else "",
        )

    def query(self, now: float) -> IncidentFilter:
        since = now - parse_duration(self.window) if self.window else None
        return IncidentFilter(
            state=self.state,
            namespace=self.namespace or None,
            severity=self.severity or None,
            receiver=self.receiver or None,
            since=since,
        )


def _choices(items: list[IncidentSummary]) -> dict[str, list[str]]:
    return {
        "namespace": sorted({i.namespace for i in items if i.namespace}),
        "severity": sorted({i.severity for i in items if i.severity}),
        "receiver": sorted({i.receiver for i in items if i.receiver}),
    }


async def incidents_page(request: web.Request, session: Session) -> web.StreamResponse:
    store = request.app[STATE].store
    now = request.app[STATE].clock_now()
    flt = Filter.from_query(request)
    items = await list_incidents(store, flt.query(now), limit=500)
    known = await list_incidents(store, IncidentFilter(state="all"), limit=500)
    return render(
        request,
        "incidents.html.j2",
        **await context(request, session, items=items, flt=flt, choices=_choices(known), windows=WINDOWS),
    )


def event_class(kind: str) -> str:
    if kind in _BAD:
        return "bad"
    if kind in _GOOD:
        return "good"
    return "act" if kind.startswith("remediation") else ""


async def incident_page(request: web.Request, session: Session) -> web.StreamResponse:
    state = request.app[STATE]
    detail = await incident(state.store, request.match_info["id"])
    if detail is None:
        raise web.HTTPNotFound(text="no such incident (unknown, or purged after storage.retention)")
    labels = [dict(a.labels) for a in detail.alerts]
    actions = []
    for rec in await state.store.chat_remediations(detail.summary.group_key):
        decision = authorize(request.app[CONSOLE].rules, session.actor, Verb.APPROVE, labels)
        actions.append(
            Awaiting(rec, decision.allowed and rec.state == "awaiting_approval", decision.reason, None)
        )
    start = detail.summary.first_fired
    return render(
        request,
        "incident.html.j2",
        **await context(
            request,
            session,
            d=detail,
            s=detail.summary,
            actions=actions,
            events=[(e, format_relative(e.at - start), event_class(e.kind)) for e in detail.events],
        ),
    )


async def graph_png(request: web.Request, session: Session) -> web.StreamResponse:
    detail = await incident(request.app[STATE].store, request.match_info["id"])
    if detail is None or detail.graph_png is None:
        raise web.HTTPNotFound(text="no graph")
    return web.Response(
        body=detail.graph_png, content_type="image/png", headers={"Cache-Control": "private, max-age=60"}
    )


async def postmortem_md(request: web.Request, session: Session) -> web.StreamResponse:
    state = request.app[STATE]
    text = await postmortem(state.store, request.match_info["id"], now=state.clock_now())
    if text is None:
        raise web.HTTPNotFound(text="no such incident")
    return web.Response(text=text, content_type="text/markdown", charset="utf-8")
