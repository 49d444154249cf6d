"""The incidents part of the JSON API (credentials are checked for every /api/v1 route by
app.web.apiauth):

    GET /api/v1/incidents?state=open|resolved|all&namespace=&severity=&receiver=&since=&until=&limit=
    GET /api/v1/incidents/{id}               one incident with its timeline
    GET /api/v1/incidents/{id}/postmortem    its post-mortem draft, text/markdown

Times are Unix seconds; `since` / `until` also take RFC 3339. A bad or unknown parameter is a
400 naming it; an id nobody knows is a 404.
"""

from __future__ import annotations

import base64
import re
from dataclasses import asdict
from typing import Any, Literal, cast

from aiohttp import web

from app.core.incidents import AlertFact, IncidentDetail, IncidentFilter, IncidentSummary
from app.engine.incidents import incident, list_incidents, postmortem
from app.web.api_params import ParamError, choice, integer, only, text, timestamp
from app.web.state import STATE

STATES = ("open", "resolved", "all")
MAX_LIMIT = 1000
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_FILTERS = ("state", "namespace", "severity", "receiver", "since", "until", "limit")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/incidents", list_handler, allow_head=False)
    app.router.add_get("/api/v1/incidents/{id}", detail_handler, allow_head=False)
    app.router.add_get("/api/v1/incidents/{id}/postmortem", postmortem_handler, allow_head=False)


def summary_json(s: IncidentSummary) -> dict[str, Any]:
    return asdict(s)


def _alert_json(a: AlertFact) -> dict[str, Any]:
    return {
        "fingerprint": a.fingerprint,
        "name": a.name,
        "status": a.status,
        "starts_at": a.starts_at,
        "ends_at": a.ends_at,
        "generator_url": a.generator_url,
        "labels": dict(a.labels),
        "annotations": dict(a.annotations),
    }


def detail_json(d: IncidentDetail) -> dict[str, Any]:
    return {
        "incident": summary_json(d.summary),
        "events": [asdict(e) for e in d.events],
        "annotations": d.annotations,
        "log_lines": d.log_lines,
        "graph_png": base64.b64encode(d.graph_png).decode() if d.graph_png is not None else None,
        "links": d.links,
        "opened_at": d.opened_at,
        "ended_at": d.ended_at,
        "expression": d.expression,
        "alerts": [_alert_json(a) for a in d.alerts],
        "receivers": d.receivers,
        "episode": d.episode,
    }


def read_filter(query: Any) -> tuple[IncidentFilter, int]:
    """The filter and limit a query asks for. Raises ParamError."""
    only(query, _FILTERS)
    state = cast(Literal["open", "resolved", "all"], choice(query, "state", STATES, "open"))
    # `since` bounds the last change and `until` the first firing: any pair of them can match.
    flt = IncidentFilter(
        state=state,
        namespace=text(query, "namespace"),
        severity=text(query, "severity"),
        receiver=text(query, "receiver"),
        since=timestamp(query, "since"),
        until=timestamp(query, "until"),
    )
    return flt, integer(query.get("limit"), "limit", default=200, low=1, high=MAX_LIMIT)


def _id(request: web.Request) -> str:
    only(request.query, ())
    value = request.match_info["id"]
    if not _ID.fullmatch(value):
        raise ParamError("id", "must be 1-64 characters of A-Z, a-z, 0-9, _ and -")
    return value


def _not_found(ident: str) -> web.Response:
    return web.json_response({"status": "error", "error": f"no incident {ident}"}, status=404)


async def list_handler(request: web.Request) -> web.Response:
    flt, limit = read_filter(request.query)
    found = await list_incidents(request.app[STATE].store, flt, limit=limit)
    return web.json_response({"incidents": [summary_json(s) for s in found]})


async def detail_handler(request: web.Request) -> web.Response:
    ident = _id(request)
    found = await incident(request.app[STATE].store, ident)
    return _not_found(ident) if found is None else web.json_response(detail_json(found))


async def postmortem_handler(request: web.Request) -> web.Response:
    ident = _id(request)
    state = request.app[STATE]
    draft = await postmortem(state.store, ident, now=state.clock_now())
    if draft is None:
        return _not_found(ident)
    return web.Response(
        text=draft,
        content_type="text/markdown",
        charset="utf-8",
        headers={"Content-Disposition": f'inline; filename="postmortem-{ident}.md"'},
    )
