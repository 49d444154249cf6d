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


async def alertmanager_webhook(request: web.Request) -> web.Response:
    state = request.app[STATE]
    m = state.metrics.webhooks
    if not state.credentials.check(request.headers.get("Authorization")):
        m.labels("unauthorized").inc()
        return _error(
            401, "missing or invalid credentials", headers={"WWW-Authenticate": 'Bearer realm="alertmedic"'}
        )
    limit = state.config.server.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        m.labels("too_large").inc()
        return _error(413, f"body is larger than max_body_bytes ({limit})")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        m.labels("too_large").inc()
        return _error(413, f"body is larger than max_body_bytes ({limit})")
    try:
        msg = WebhookMessage.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        if any(e["type"] == "json_invalid" for e in errors):
            m.labels("bad_json").inc()
            return _error(400, f"malformed JSON: {errors[0]['msg']}")
        m.labels("invalid").inc()
        problems = [{"field": field_path(e["loc"]) or "(body)", "message": e["msg"]} for e in errors[:50]]
        log.warning("rejected an invalid webhook", extra={"problems": problems[:5]})
        return _error(422, "payload is not an Alertmanager v4 webhook message", problems)
    try:
        result = await state.ingestor.ingest(msg)
    except StoreUnavailable as exc:
        m.labels("store_unavailable").inc()
        _count_alerts(state.metrics, msg, "rejected")
        log.error(
            "cannot record a webhook; asking Alertmanager to retry",
            extra={"group_key": msg.groupKey, "error": str(exc)},
        )
        return _error(503, "the store cannot take notifications now; retry", headers={"Retry-After": "5"})
    m.labels("accepted").inc()
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
