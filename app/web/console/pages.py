"""The console's pages and its one action: Approve / Reject an action awaiting approval.

The decision goes through app.engine.approval.decide_approval, the code path of the chat buttons,
the CLI and the API; the user needs `approve` / `reject` granted to `console:<user>` in
`chatops.permissions` (with matchers: on every alert of the action's group). Each decision is
recorded in the chat audit (source `console`) and the alert's chat messages are re-rendered.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from aiohttp import web

from app.core.chatops.actions import Verb
from app.core.chatops.permissions import authorize
from app.core.models import Group
from app.engine.approval import decide_approval
from app.store.base import ChatAudit, group_ref
from app.store.remediations import Remediation
from app.web.console.auth import CONSOLE, Session, login, see_other
from app.web.console.render import render
from app.web.state import STATE

log = logging.getLogger("alertmedic.console")

_DONE = {"approved": "Approved action #{id}: it runs now.", "rejected": "Rejected action #{id}."}


async def context(request: web.Request, session: Session, **extra: Any) -> dict[str, Any]:
    """What every page's frame shows: the user, the count awaiting approval, a flash line."""
    state = request.app[STATE]
    awaiting = [
        r for r in await state.store.remediations(limit=200, open_only=True) if r.state == "awaiting_approval"
    ]
    flash, bad = "", False
    done, rid = request.query.get("done", ""), request.query.get("id", "")
    if done in _DONE and rid.isdigit():
        flash = _DONE[done].format(id=rid)
    elif (refused := request.query.get("refused")) is not None and rid.isdigit():
        flash, bad = f"Action #{rid} was not decided: {refused[:300]}", True
    return {
        "session": session,
        "awaiting": len(awaiting),
        "flash": flash,
        "flash_bad": bad,
        "now": state.clock_now(),
        **extra,
    }


def login_form(
    request: web.Request, *, error: str = "", status: int = 200, user: str = "", next: str = "/ui"
) -> web.Response:
    return render(request, "login.html.j2", status=status, error=error, user=user, next=next)


async def login_page(request: web.Request) -> web.StreamResponse:
    return login_form(request, next=request.query.get("next", "/ui"))


async def login_post(request: web.Request) -> web.StreamResponse:
    return await login(request, login_form)


@dataclass(frozen=True)
class Awaiting:
    rec: Remediation
    allowed: bool
    reason: str
    incident: str | None


async def _alert_labels(request: web.Request, group_key: str) -> tuple[list[dict[str, str]], bool]:
    """The labels of the alerts of the group (as chat authorises on them), and whether the
    group is known."""
    group = await request.app[STATE].store.chat_group(group_ref(group_key))
    if group is None:
        return [], False
    return [a.labels for a in Group.model_validate_json(group.payload).alerts], True


async def approvals(request: web.Request, session: Session) -> web.StreamResponse:
    state = request.app[STATE]
    rules = request.app[CONSOLE].rules
    recent = await state.store.remediations(limit=30)
    pending = []
    for rec in await state.store.remediations(limit=200, open_only=True):
        if rec.state != "awaiting_approval":
            continue
        labels, known = await _alert_labels(request, rec.group_key)
        decision = authorize(rules, session.actor, Verb.APPROVE, labels)
        pending.append(
            Awaiting(rec, decision.allowed, decision.reason, group_ref(rec.group_key) if known else None)
        )
    pending.sort(key=lambda a: a.rec.created_at)
    return render(
        request, "approvals.html.j2", **await context(request, session, pending=pending, recent=recent)
    )


async def decide(request: web.Request, session: Session) -> web.StreamResponse:
    """POST /ui/approvals/{id}/approve|reject."""
    state = request.app[STATE]
    verb = Verb.APPROVE if request.match_info["verb"] == "approve" else Verb.REJECT
    try:
        rid = int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    rec = await state.store.remediation(rid)
    if rec is None:
        raise web.HTTPNotFound(text=f"no action {rid}")
    labels, _ = await _alert_labels(request, rec.group_key)
    actor = session.actor
    decision = authorize(request.app[CONSOLE].rules, actor, verb, labels)
    now = state.clock_now()
    if not decision:
        await _audit(request, session, verb, rec.group_key, "refused", decision.reason)
        log.warning(
            "console action refused",
            extra={"user": session.user, "verb": verb.value, "action_id": rid, "reason": decision.reason},
        )
        raise web.HTTPForbidden(text=f"refused: {decision.reason}")
    wake = state.dispatcher.ensure_lane if hasattr(state, "dispatcher") else None
    result = await decide_approval(
        state.store, rid, approve=verb is Verb.APPROVE, actor=actor.key, now=now, wake=wake
    )
    if isinstance(result, str):
        await _audit(request, session, verb, rec.group_key, "failed", result)
        return see_other(f"/ui/approvals?refused={quote(result, safe='')}&id={rid}")
    text = f"{'approved' if verb is Verb.APPROVE else 'rejected'} by {actor.key}: {rec.action} {rec.target}"
    await _audit(request, session, verb, rec.group_key, "done", text)
    log.info("console action", extra={"user": session.user, "verb": verb.value, "action_id": rid})
    if state.chat is not None:
        await state.chat.show(rec.group_key)
    return see_other(f"/ui/approvals?done={'approved' if verb is Verb.APPROVE else 'rejected'}&id={rid}")


async def _audit(
    request: web.Request, session: Session, verb: Verb, group_key: str, outcome: str, detail: str
) -> None:
    entry = ChatAudit(
        request.app[STATE].clock_now(),
        "console",
        session.actor.key,
        session.user,
        verb.value,
        group_key,
        outcome,
        detail,
    )
    await request.app[STATE].store.chat_audit(entry)


async def dead_letters(request: web.Request, session: Session) -> web.StreamResponse:
    letters = await request.app[STATE].store.dead_letters(limit=200)
    return render(request, "dead_letters.html.j2", **await context(request, session, letters=letters))
