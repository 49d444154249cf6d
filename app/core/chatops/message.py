"""What a group's message shows about ack, silence, escalation, approval and the last
remediation outcomes: status lines and buttons (a resolved group's: 📝 Post-mortem), a pure
function of the group's chat state, the same for every copy (Telegram, Slack).

`telegram_keyboard` and `slack_actions` turn the buttons into each provider's markup, each
button carrying a token from app.core.chatops.callbacks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from app.core.chatops.actions import Verb
from app.core.chatops.callbacks import Intent, encode, slack_action_id
from app.core.durations import format_duration


@dataclass(frozen=True)
class Ack:
    by: str
    """As shown: `@alice`."""
    at: datetime


@dataclass(frozen=True)
class SilenceState:
    by: str
    until: datetime
    silence_id: str


@dataclass(frozen=True)
class Escalated:
    receiver: str
    at: datetime


@dataclass(frozen=True)
class Approval:
    """A remediation of the group: pending (`decided_by` None), approved or rejected."""

    ref: str
    summary: str
    """What it would do, e.g. `restart deployment prod/api`."""
    decided_by: str | None = None
    approved: bool = False
    at: datetime | None = None


@dataclass(frozen=True)
class GroupChatState:
    """The chat-related state of one alert group, as the store holds it."""

    ref: str
    """The group's opaque id, carried by its buttons."""
    resolved: bool = False
    ack: Ack | None = None
    ack_cleared_by: str | None = None
    """Set when a new firing alert cleared an ack: who had acknowledged."""
    silence: SilenceState | None = None
    escalations: tuple[Escalated, ...] = ()
    approvals: tuple[Approval, ...] = ()
    outcomes: tuple[str, ...] = ()
    """The last outcome of each of the group's remediation targets, one line each (bounded by
    the caller), e.g. `🔧 rollout restart prod/model-api: complete in 41 s`."""


@dataclass(frozen=True)
class Button:
    label: str
    intent: Intent


@dataclass(frozen=True)
class MessageState:
    lines: tuple[str, ...]
    buttons: tuple[tuple[Button, ...], ...]
    """Rows of buttons; empty: the message has none."""


def duration_label(seconds: float) -> str:
    """`1h`, `4h`, `24h`, `30m`, `1h30m`, `7d`: hours up to two days, then days."""
    if seconds % 86400 == 0 and seconds > 172800:
        return f"{int(seconds // 86400)}d"
    if seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    return format_duration(seconds)


def _clock(when: datetime, now: datetime, tz: tzinfo) -> str:
    local, today = when.astimezone(tz), now.astimezone(tz)
    return local.strftime("%H:%M") if local.date() == today.date() else local.strftime("%Y-%m-%d %H:%M")


def message_state(
    state: GroupChatState,
    *,
    silence_durations: Sequence[float],
    now: datetime,
    tz: tzinfo = UTC,
) -> MessageState:
    """Lines and buttons for `state` at `now` (times shown in `tz`)."""
    lines: list[str] = []
    if state.ack is not None:
        lines.append(f"✅ acknowledged by {state.ack.by} {_clock(state.ack.at, now, tz)}")
    elif state.ack_cleared_by is not None:
        lines.append(f"⚠️ a new alert fired: acknowledgement by {state.ack_cleared_by} cleared")
    silenced = state.silence is not None and state.silence.until > now
    if state.silence is not None:
        until = _clock(state.silence.until, now, tz)
        lines.append(
            f"🔕 silenced by {state.silence.by} until {until}"
            if silenced
            else f"🔔 silence by {state.silence.by} ended {until}"
        )
    for esc in state.escalations:
        lines.append(f"⏫ escalated to {esc.receiver} {_clock(esc.at, now, tz)}")
    for ap in state.approvals:
        if ap.decided_by is None:
            lines.append(f"⏸ awaiting approval: {ap.summary}")
        else:
            word = "▶ approved" if ap.approved else "✖ rejected"
            at = f" {_clock(ap.at, now, tz)}" if ap.at is not None else ""
            lines.append(f"{word} by {ap.decided_by}{at}: {ap.summary}")
    lines.extend(state.outcomes)

    rows: list[tuple[Button, ...]] = []
    if not state.resolved:
        ref = state.ref
        rows.append(
            (Button("↩ Unack", Intent(Verb.UNACK, ref)),)
            if state.ack is not None
            else (Button("✅ Ack", Intent(Verb.ACK, ref)),)
        )
        if silenced:
            rows.append((Button("🔔 Unsilence", Intent(Verb.UNSILENCE, ref)),))
        elif silence_durations:
            rows.append(
                tuple(
                    Button(f"🔕 {duration_label(d)}", Intent(Verb.SILENCE, ref, duration_label(d)))
                    for d in silence_durations
                )
            )
    else:
        rows.append((Button("📝 Post-mortem", Intent(Verb.POSTMORTEM, state.ref)),))
    for ap in state.approvals:
        if ap.decided_by is None:
            rows.append(
                (
                    Button("▶ Approve", Intent(Verb.APPROVE, ap.ref)),
                    Button("✖ Reject", Intent(Verb.REJECT, ap.ref)),
                )
            )
    return MessageState(tuple(lines), tuple(rows))


def telegram_keyboard(state: MessageState, *, key: bytes) -> dict[str, Any] | None:
    """The `reply_markup` (inline keyboard) for Telegram; None when there are no buttons. Send
    it on every edit that should keep the buttons (an edit without it removes them)."""
    if not state.buttons:
        return None
    return {
        "inline_keyboard": [
            [{"text": b.label, "callback_data": encode(b.intent, key=key)} for b in row]
            for row in state.buttons
        ]
    }


def slack_actions(
    state: MessageState, *, key: bytes, block_id: str = "alertmedic_actions"
) -> list[dict[str, Any]]:
    """Block Kit blocks for the state: a context block with the lines, then one actions block
    per row of buttons (`<block_id>_<row>`, so action ids stay unique within each block)."""
    blocks: list[dict[str, Any]] = []
    if state.lines:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": "\n".join(state.lines)}]})
    for index, row in enumerate(state.buttons):
        elements = []
        for b in row:
            element: dict[str, Any] = {
                "type": "button",
                "text": {"type": "plain_text", "text": b.label, "emoji": True},
                "action_id": slack_action_id(b.intent),
                "value": encode(b.intent, key=key),
            }
            if b.intent.verb is Verb.APPROVE:
                element["style"] = "primary"
            elif b.intent.verb is Verb.REJECT:
                element["style"] = "danger"
            elements.append(element)
        blocks.append({"type": "actions", "block_id": f"{block_id}_{index}", "elements": elements})
    return blocks
