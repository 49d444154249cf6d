"""Request handlers: the Alertmanager webhook, /healthz, /readyz, /metrics."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError

from app.core.models import WebhookMessage, field_path
from app.metrics import Metrics
from app.store.base import StoreUnavailable
from app.web.refusals import cut
from app.web.state import STATE

log = logging.getLogger("alertmedic.web")


def _error(
    status: int,
    error: str,
    problems: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body: dict[str, Any] = {"status": "error", "error": error}
    if problems:
        body["problems"] = problems
    return web.json_response(body, status=status, headers=headers)


def _count_alerts(metrics: Metrics, msg: WebhookMessage, outcome: str) -> None:
    firing = sum(1 for a in msg.alerts if a.status == "firing")
    if firing:
        metrics.alerts.labels("firing", outcome).inc(firing)
    if firing < len(msg.alerts):
        metrics.alerts.labels("resolved", outcome).inc(len(msg.alerts) - firing)


async def _read_body(request: web.Request, limit: int) -> bytearray | None:
    """The body, or None as soon as it exceeds `limit` bytes.

    One buffer that the handler drops once the message is parsed: `request.read()` would make a
    second copy and keep it cached for the life of the request (a 33 MB group is 66 MB more).
    """
    body = bytearray()
    while chunk := await request.content.readany():
        body += chunk
        if len(body) > limit:
            return None
    return body


def _refuse(
    request: web.Request,
    status: int,
    cause: str,
    reason: str,
    *,
    answer: str | None = None,
    problems: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    **details: Any,
) -> web.Response:
    """Count, log (rate-limited) and answer a refused webhook; `cause` is the metric's outcome."""
    state = request.app[STATE]
    state.metrics.webhooks.labels(cause).inc()
    state.refusals.refused(cause, request.remote, reason, status=status, **details)
    return _error(status, answer or reason, problems, headers)


async def alertmanager_webhook(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state.refusals.report_due()
    header = request.headers.get("Authorization")
    if not state.credentials.check(header):
        scheme, reason = state.credentials.refusal_reason(header)
        return _refuse(
            request,
            401,
            "unauthorized",
            reason,
            answer="missing or invalid credentials",
            headers={"WWW-Authenticate": 'Bearer realm="alertmedic"'},
            scheme=scheme,
        )
    limit = state.config.server.max_body_bytes
    declared = request.content_length
    body = None if declared is not None and declared > limit else await _read_body(request, limit)
    if body is None:
        return _refuse(
            request,
            413,
            "too_large",
            f"the body is larger than server.max_body_bytes ({limit}); raise it, or set max_alerts"
            " in Alertmanager's webhook_configs",
            answer=f"body is larger than max_body_bytes ({limit})",
            content_length=declared,
            max_body_bytes=limit,
        )
    size = len(body)
    try:
        msg = WebhookMessage.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        if any(e["type"] == "json_invalid" for e in errors):
            return _refuse(request, 400, "bad_json", f"malformed JSON: {errors[0]['msg']}", bytes=size)
        problems = [
            {"field": cut(field_path(e["loc"])) or "(body)", "message": cut(e["msg"])} for e in errors[:50]
        ]
        return _refuse(
            request,
            422,
            "invalid",
            "payload is not an Alertmanager v4 webhook message",
            problems=problems,
            bytes=size,
            first_problems=problems[:5],
        )
    finally:
        # the parsed message is all that is needed from here on: free the raw body before the
        # store serialises the groups (for a huge group, the body is the size of one of them)
        del body
    try:
        with state.ingests.track():  # a reload waits for ingests planned with the old routes
            result = await state.ingestor.ingest(msg)
    except StoreUnavailable as exc:
        state.metrics.webhooks.labels("store_unavailable").inc()
        _count_alerts(state.metrics, msg, "rejected")
        log.error(
            "cannot record a webhook; asking Alertmanager to retry",
            extra={"group_key": msg.groupKey, "error": str(exc)},
        )
        return _error(503, "the store cannot take notifications now; retry", headers={"Retry-After": "5"})
    state.metrics.webhooks.labels("accepted").inc()
    _count_alerts(state.metrics, msg, "accepted")
    return web.json_response(
        {"status": "accepted", "notifications": len(result.enqueued), "duplicates": len(result.duplicates)}
    )


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    state = request.app[STATE]
    problems = []
    try:
        await state.store.ping()
    except StoreUnavailable as exc:
        problems.append(f"store: {exc}")
    if state.dispatcher.problem is not None:
        problems.append(f"dispatcher: {state.dispatcher.problem}")
    if not state.dispatcher.running:
        problems.append("dispatcher: delivery lanes are not running")
    if problems:
        return web.json_response({"status": "unready", "problems": problems}, status=503)
    return web.json_response({"status": "ready"})


async def metrics(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = generate_latest(state.metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
