"""The authenticated HTTP API under /api/v1: actions awaiting approval and their decisions.

    GET  /api/v1/actions[?pending=1]        the latest actions (the audit record), newest first
    POST /api/v1/actions/{id}/approve       approve an action awaiting approval
    POST /api/v1/actions/{id}/reject        reject it

Who may call is decided for every route under /api/v1 by app.web.apiauth (the `api.bearer_token`
token, separate from the webhook's; with none configured every request gets 401); the actor
recorded is the caller's principal: "api" for the token.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aiohttp import web

from app.config.secrets import secret
from app.engine.approval import decide_approval
from app.store.remediations import Remediation
from app.web.api_params import flag, only, path_id
from app.web.apiauth import principal
from app.web.state import STATE


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/actions", list_actions, allow_head=False)
    app.router.add_post("/api/v1/actions/{id}/approve", approve)
    app.router.add_post("/api/v1/actions/{id}/reject", reject)


def api_token(app_config: Any) -> str | None:
    """The configured API token (None: the API serves nobody)."""
    value = secret(app_config.api, "bearer_token")
    return value.strip() if value and value.strip() else None


def action_json(rec: Remediation) -> dict[str, Any]:
    out = asdict(rec)
    for key in ("intent", "claims", "pinned"):
        out.pop(key)
    return out


async def list_actions(request: web.Request) -> web.Response:
    only(request.query, ("pending",))
    pending = flag(request.query, "pending")
    state = request.app[STATE]
    recs = await state.store.remediations(limit=100, open_only=pending)
    return web.json_response({"actions": [action_json(r) for r in recs]})


async def _decide(request: web.Request, approve: bool) -> web.Response:
    only(request.query, ())
    rid = path_id(request)
    who = principal(request)
    if not who.decides:
        verb = "approve" if approve else "reject"
        return web.json_response(
            {"status": "error", "error": f"{who.name} may not {verb} actions through the API"}, status=403
        )
    state = request.app[STATE]
    wake = state.dispatcher.ensure_lane if hasattr(state, "dispatcher") else None
    result = await decide_approval(
        state.store, rid, approve=approve, actor=who.name, now=state.clock_now(), wake=wake
    )
    if isinstance(result, str):
        status = 404 if result.startswith("no action") else 409
        return web.json_response({"status": "error", "error": result}, status=status)
    return web.json_response({"status": "ok", "action": action_json(result)})


async def approve(request: web.Request) -> web.Response:
    return await _decide(request, True)


async def reject(request: web.Request) -> web.Response:
    return await _decide(request, False)
