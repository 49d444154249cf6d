"""The OpenAPI 3 document of the whole JSON API under /api/v1 (incidents, actions and this document
itself), written by hand in this one module and served at `GET /api/v1/openapi.json`.

A test holds it to the app: every route under /api/v1 is in it and everything in it is routed,
and a property-based fuzz run (schemathesis) over it against a running service checks that every
answer is one it documents and that nothing answers without credentials.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from app.web.api_params import MAX_ID, MAX_SECONDS, MAX_TEXT

Schema = dict[str, Any]

VERSION = "1"


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: Schema) -> Schema:
    return {**schema, "nullable": True}


_TIME = {"type": "number", "description": "Unix seconds (UTC)"}
_LABELS = {"type": "object", "additionalProperties": {"type": "string"}}


def _json(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERROR = _json(_ref("Error"), "the error, naming the parameter at fault where there is one")
_UNAUTHORIZED = _json(_ref("Error"), "no valid credentials (the bearer token, or a console session)")


def _responses(ok: Schema, *, errors: tuple[int, ...] = (400,)) -> Schema:
    out: Schema = {"200": ok, "401": _UNAUTHORIZED}
    described = {
        400: "a parameter is malformed or unknown",
        403: "the caller may not do this (a console user without the right)",
        404: "no such id",
        409: "the action is not awaiting approval (decided, expired or cancelled)",
    }
    for code in errors:
        out[str(code)] = {**_ERROR, "description": described[code]}
    return out


def _query(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _path_id(schema: Schema, description: str) -> Schema:
    return {"name": "id", "in": "path", "required": True, "schema": schema, "description": description}


_INCIDENT_ID = _path_id(
    {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
    "the incident's id (16 characters, the same id its chat buttons carry)",
)
_ACTION_ID = _path_id({"type": "integer", "minimum": 1, "maximum": MAX_ID}, "the action's id")

_TEXT = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT, "pattern": "^[^\\u0000]+$"}
_WHEN = {
    "anyOf": [
        {"type": "number", "minimum": 0, "maximum": MAX_SECONDS},
        {"type": "string", "format": "date-time"},
    ]
}
_WHEN_HELP = "Unix seconds or an RFC 3339 time with a zone (2026-11-25T03:00:00Z)"


def _incidents_list() -> Schema:
    return {
        "get": {
            "operationId": "listIncidents",
            "summary": "Incidents (alert groups), open ones by default: by severity, then oldest first",
            "tags": ["incidents"],
            "parameters": [
                _query(
                    "state",
                    {"type": "string", "enum": ["open", "resolved", "all"], "default": "open"},
                    "which incidents",
                ),
                _query("namespace", _TEXT, "only those of this namespace label"),
                _query("severity", _TEXT, "only those of this severity label"),
                _query("receiver", _TEXT, "only those routed to this receiver"),
                _query("since", _WHEN, f"only those whose last change is at or after: {_WHEN_HELP}"),
                _query("until", _WHEN, f"only those that first fired before: {_WHEN_HELP}"),
                _query(
                    "limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 200}, "at most"
                ),
            ],
            "responses": _responses(
                _json(
                    {
                        "type": "object",
                        "required": ["incidents"],
                        "properties": {"incidents": {"type": "array", "items": _ref("IncidentSummary")}},
                    },
                    "the incidents",
                )
            ),
        }
    }


def _incident() -> Schema:
    return {
        "get": {
            "operationId": "getIncident",
            "summary": "One incident with its timeline",
            "tags": ["incidents"],
            "parameters": [_INCIDENT_ID],
            "responses": _responses(_json(_ref("IncidentDetail"), "the incident"), errors=(400, 404)),
        }
    }


def _postmortem() -> Schema:
    return {
        "get": {
            "operationId": "getPostmortem",
            "summary": "The incident's post-mortem draft (Markdown, to paste into a wiki)",
            "tags": ["incidents"],
            "parameters": [_INCIDENT_ID],
            "responses": _responses(
                {
                    "description": "the draft",
                    "content": {"text/markdown": {"schema": {"type": "string"}}},
                },
                errors=(400, 404),
            ),
        }
    }


def _actions() -> Schema:
    return {
        "get": {
            "operationId": "listActions",
            "summary": "Self-healing actions (the audit record), newest first, at most 100",
            "tags": ["actions"],
            "parameters": [
                _query(
                    "pending",
                    {"type": "string", "enum": ["0", "1", "true", "false"], "default": "0"},
                    "only those still open (pending or awaiting approval)",
                )
            ],
            "responses": _responses(
                _json(
                    {
                        "type": "object",
                        "required": ["actions"],
                        "properties": {"actions": {"type": "array", "items": _ref("Action")}},
                    },
                    "the actions",
                )
            ),
        }
    }


def _decision(verb: str) -> Schema:
    return {
        "post": {
            "operationId": f"{verb}Action",
            "summary": f"{verb.capitalize()} an action awaiting approval (recorded with the caller as actor)",
            "tags": ["actions"],
            "parameters": [_ACTION_ID],
            "responses": _responses(
                _json(
                    {
                        "type": "object",
                        "required": ["status", "action"],
                        "properties": {
                            "status": {"type": "string", "enum": ["ok"]},
                            "action": _ref("Action"),
                        },
                    },
                    "decided",
                ),
                errors=(400, 403, 404, 409),
            ),
        }
    }


def _openapi() -> Schema:
    return {
        "get": {
            "operationId": "getOpenAPI",
            "summary": "This document",
            "tags": ["meta"],
            "responses": _responses(_json({"type": "object"}, "the OpenAPI document"), errors=()),
        }
    }


def _schemas() -> Schema:
    nullable_text = _nullable({"type": "string"})
    return {
        "Error": {
            "type": "object",
            "required": ["status", "error"],
            "properties": {
                "status": {"type": "string", "enum": ["error"]},
                "error": {"type": "string", "description": "what is wrong, starting with the field's name"},
                "field": {"type": "string", "description": "the parameter at fault"},
            },
        },
        "IncidentSummary": {
            "type": "object",
            "required": [
                "id",
                "group_key",
                "title",
                "severity",
                "namespace",
                "receiver",
                "state",
                "first_fired",
                "last_change",
                "resolved_at",
                "acked_by",
                "acked_at",
                "silenced_until",
                "escalated",
                "remediating",
                "alerts_firing",
                "alerts_total",
                "labels",
            ],
            "properties": {
                "id": {"type": "string"},
                "group_key": {"type": "string", "description": "Alertmanager's groupKey"},
                "title": {"type": "string"},
                "severity": {"type": "string"},
                "namespace": nullable_text,
                "receiver": {"type": "string"},
                "state": {"type": "string", "enum": ["open", "resolved"]},
                "first_fired": {**_TIME, "description": "the earliest startsAt of its alerts"},
                "last_change": _TIME,
                "resolved_at": _nullable(_TIME),
                "acked_by": nullable_text,
                "acked_at": _nullable(_TIME),
                "silenced_until": _nullable(_TIME),
                "escalated": {"type": "boolean"},
                "remediating": {"type": "boolean"},
                "alerts_firing": {"type": "integer", "minimum": 0},
                "alerts_total": {"type": "integer", "minimum": 0},
                "labels": _LABELS,
            },
        },
        "TimelineEvent": {
            "type": "object",
            "required": ["at", "kind", "actor", "summary", "detail"],
            "properties": {
                "at": _TIME,
                "kind": {
                    "type": "string",
                    "description": "fired, alert_firing, alert_resolved, notified, retried, dead_lettered, "
                    "enriched, acked, unacked, silenced, escalated, remediation_* , resolved, "
                    "postmortem_sent, ...",
                },
                "actor": nullable_text,
                "summary": {"type": "string"},
                "detail": {"type": "object"},
            },
        },
        "Alert": {
            "type": "object",
            "required": ["fingerprint", "name", "status", "starts_at", "ends_at", "labels", "annotations"],
            "properties": {
                "fingerprint": {"type": "string"},
                "name": {"type": "string"},
                "status": {"type": "string", "enum": ["firing", "resolved"]},
                "starts_at": _TIME,
                "ends_at": _nullable(_TIME),
                "generator_url": {"type": "string"},
                "labels": _LABELS,
                "annotations": _LABELS,
            },
        },
        "IncidentDetail": {
            "type": "object",
            "required": [
                "incident",
                "events",
                "annotations",
                "log_lines",
                "graph_png",
                "links",
                "opened_at",
                "ended_at",
                "expression",
                "alerts",
                "receivers",
                "episode",
            ],
            "properties": {
                "incident": _ref("IncidentSummary"),
                "events": {
                    "type": "array",
                    "items": _ref("TimelineEvent"),
                    "description": "the timeline, oldest first",
                },
                "annotations": _LABELS,
                "log_lines": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "the log excerpt attached to its notifications",
                },
                "graph_png": _nullable(
                    {"type": "string", "format": "byte", "description": "the graph attached (PNG, base64)"}
                ),
                "links": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "description": "runbook, graph, dashboard, when known",
                },
                "opened_at": {**_TIME, "description": "when alertmedic first accepted it as firing"},
                "ended_at": _nullable({**_TIME, "description": "the latest endsAt once resolved"}),
                "expression": _nullable({"type": "string", "description": "the alerting rule's expression"}),
                "alerts": {"type": "array", "items": _ref("Alert")},
                "receivers": {"type": "array", "items": {"type": "string"}},
                "episode": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "1, then one more each time it fires again after resolving",
                },
            },
        },
        "Action": {
            "type": "object",
            "required": ["id", "action", "kind", "target", "state", "group_key", "created_at", "updated_at"],
            "properties": {
                "id": {"type": "integer"},
                "action": {"type": "string", "description": "the configured action's name"},
                "kind": {"type": "string"},
                "target": {"type": "string"},
                "fingerprint": {"type": "string"},
                "alertname": {"type": "string"},
                "group_key": {"type": "string"},
                "destinations": {"type": "array", "items": {"type": "string"}},
                "state": {
                    "type": "string",
                    "description": "pending, awaiting_approval, acting, verifying, succeeded, failed, "
                    "refused, would, rejected, expired, cancelled",
                },
                "job_id": _nullable({"type": "integer"}),
                "acted": _nullable({"type": "object"}),
                "guard": {"type": "string"},
                "reason": {"type": "string"},
                "actor": {"type": "string", "description": "who decided it (api, alice (telegram), ...)"},
                "created_at": _TIME,
                "updated_at": _TIME,
                "expires_at": _nullable(_TIME),
                "acted_at": _nullable(_TIME),
            },
        },
    }


def document() -> Schema:
    """The document (a new dict each call)."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "alertmedic API",
            "version": VERSION,
            "description": "Incidents, their timelines and post-mortem drafts; self-healing actions "
            "and their approval. Every operation needs credentials: the `api.bearer_token` token "
            "(or a console session); without them the answer is 401.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/incidents": _incidents_list(),
            "/api/v1/incidents/{id}": _incident(),
            "/api/v1/incidents/{id}/postmortem": _postmortem(),
            "/api/v1/actions": _actions(),
            "/api/v1/actions/{id}/approve": _decision("approve"),
            "/api/v1/actions/{id}/reject": _decision("reject"),
            "/api/v1/openapi.json": _openapi(),
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": _schemas(),
        },
    }


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(document())


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/openapi.json", openapi_json, allow_head=False)
