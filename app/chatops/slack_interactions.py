"""Slack interactivity payloads (`POST /chatops/slack`, form field `payload` holding JSON): a
`block_actions` payload read into a `SlackInteraction`. Parse only a body whose signature was
verified (app.chatops.slack_signing); every missing field is named in the error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs


class InteractionError(ValueError):
    """A payload that is not a usable block_actions interaction; the message names the field."""


@dataclass(frozen=True)
class SlackAction:
    action_id: str
    block_id: str
    value: str


@dataclass(frozen=True)
class SlackInteraction:
    """Who clicked which of our buttons, on which message, and where to answer them."""

    user_id: str
    user_name: str
    team_id: str
    channel_id: str
    message_ts: str
    response_url: str
    trigger_id: str
    actions: tuple[SlackAction, ...]


def _field(data: Any, path: str) -> str:
    node = data
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            raise InteractionError(f"block_actions payload lacks {path}")
        node = node[part]
    if not isinstance(node, str) or not node:
        raise InteractionError(f"block_actions payload: {path} must be a non-empty string")
    return node


def _optional(data: Any, path: str) -> str:
    try:
        return _field(data, path)
    except InteractionError:
        return ""


def parse_interaction(body: bytes) -> SlackInteraction:
    """The interaction in a verified form-encoded body. Raises InteractionError."""
    try:
        form = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise InteractionError("body is not UTF-8") from None
    values = form.get("payload")
    if not values:
        raise InteractionError("form field payload is missing")
    try:
        data = json.loads(values[0])
    except ValueError as exc:
        raise InteractionError(f"payload is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InteractionError("payload must be a JSON object")
    kind = data.get("type")
    if kind != "block_actions":
        raise InteractionError(f"payload type {kind!r} is not handled (only block_actions)")
    raw_actions = data.get("actions")
    if not isinstance(raw_actions, list) or not raw_actions:
        raise InteractionError("block_actions payload lacks actions")
    actions = []
    for i, raw in enumerate(raw_actions):
        if not isinstance(raw, dict):
            raise InteractionError(f"actions[{i}] must be an object")
        actions.append(
            SlackAction(_field(raw, "action_id"), _optional(raw, "block_id"), _optional(raw, "value"))
        )
    return SlackInteraction(
        user_id=_field(data, "user.id"),
        user_name=_optional(data, "user.username") or _optional(data, "user.name"),
        team_id=_optional(data, "team.id") or _optional(data, "user.team_id"),
        channel_id=_field(data, "channel.id"),
        message_ts=_field(data, "container.message_ts"),
        response_url=_field(data, "response_url"),
        trigger_id=_optional(data, "trigger_id"),
        actions=tuple(actions),
    )
