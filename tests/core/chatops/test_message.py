"""The state a group's message shows, and the buttons it carries, per state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from app.core.chatops.actions import Verb
from app.core.chatops.callbacks import Intent, decode, decode_slack, derive_key
from app.core.chatops.message import (
    Ack,
    Approval,
    Escalated,
    GroupChatState,
    SilenceState,
    duration_label,
    message_state,
    slack_actions,
    telegram_keyboard,
)

NOW = datetime(2026, 11, 25, 3, 30, tzinfo=UTC)
DURATIONS = [3600.0, 14400.0, 86400.0]
KEY = derive_key("token")


def labels(state: GroupChatState, now: datetime = NOW) -> list[list[str]]:
    return [
        [b.label for b in row] for row in message_state(state, silence_durations=DURATIONS, now=now).buttons
    ]


def test_firing_shows_ack_and_one_silence_per_duration() -> None:
    state = GroupChatState("g1")
    assert message_state(state, silence_durations=DURATIONS, now=NOW).lines == ()
    assert labels(state) == [["✅ Ack"], ["🔕 1h", "🔕 4h", "🔕 24h"]]


def test_acknowledged() -> None:
    state = GroupChatState("g1", ack=Ack("@alice", datetime(2026, 11, 25, 3, 12, tzinfo=UTC)))
    shown = message_state(state, silence_durations=DURATIONS, now=NOW)
    assert shown.lines == ("✅ acknowledged by @alice 03:12",)
    assert labels(state)[0] == ["↩ Unack"]
    paris = timezone(timedelta(hours=1))
    assert message_state(state, silence_durations=DURATIONS, now=NOW, tz=paris).lines == (
        "✅ acknowledged by @alice 04:12",
    )


def test_silenced_until_then_ended() -> None:
    until = NOW + timedelta(hours=4)
    state = GroupChatState("g1", silence=SilenceState("@alice", until, "abc"))
    assert message_state(state, silence_durations=DURATIONS, now=NOW).lines == (
        "🔕 silenced by @alice until 07:30",
    )
    assert labels(state) == [["✅ Ack"], ["🔔 Unsilence"]]
    later = until + timedelta(days=1)
    ended = message_state(state, silence_durations=DURATIONS, now=later)
    assert ended.lines == ("🔔 silence by @alice ended 2026-11-25 07:30",)
    assert labels(state, later)[1] == ["🔕 1h", "🔕 4h", "🔕 24h"]


def test_cleared_ack_escalation_and_approvals() -> None:
    state = GroupChatState(
        "g1",
        ack_cleared_by="@alice",
        escalations=(Escalated("oncall-secondary", datetime(2026, 11, 25, 3, 10, tzinfo=UTC)),),
        approvals=(
            Approval("a7", "restart deployment prod/api"),
            Approval("a6", "scale prod/web to 3", decided_by="@bob", approved=False, at=NOW),
        ),
    )
    shown = message_state(state, silence_durations=DURATIONS, now=NOW)
    assert shown.lines == (
        "⚠️ a new alert fired: acknowledgement by @alice cleared",
        "⏫ escalated to oncall-secondary 03:10",
        "⏸ awaiting approval: restart deployment prod/api",
        "✖ rejected by @bob 03:30: scale prod/web to 3",
    )
    assert labels(state)[-1] == ["▶ Approve", "✖ Reject"]
    assert [b.intent.ref for b in shown.buttons[-1]] == ["a7", "a7"]


def test_resolved_offers_only_the_postmortem() -> None:
    state = GroupChatState("g1", resolved=True, ack=Ack("@alice", NOW))
    assert labels(state) == [["📝 Post-mortem"]]
    keyboard = telegram_keyboard(message_state(state, silence_durations=DURATIONS, now=NOW), key=KEY)
    assert keyboard is not None
    [[tap]] = keyboard["inline_keyboard"]
    assert decode(tap["callback_data"], key=KEY) == Intent(Verb.POSTMORTEM, "g1")
    [block] = slack_actions(message_state(state, silence_durations=DURATIONS, now=NOW), key=KEY)[1:]
    [element] = block["elements"]
    assert element["action_id"] == "alertmedic_postmortem"
    assert decode_slack(element["action_id"], element["value"], key=KEY) == Intent(Verb.POSTMORTEM, "g1")


def test_provider_markup_carries_decodable_tokens() -> None:
    shown = message_state(
        GroupChatState("g1", approvals=(Approval("a7", "x"),)), silence_durations=DURATIONS, now=NOW
    )
    keyboard = telegram_keyboard(shown, key=KEY)
    assert keyboard is not None
    taps = [decode(b["callback_data"], key=KEY) for row in keyboard["inline_keyboard"] for b in row]
    assert [(t.verb, t.arg) for t in taps][:4] == [
        (Verb.ACK, ""),
        (Verb.SILENCE, "1h"),
        (Verb.SILENCE, "4h"),
        (Verb.SILENCE, "24h"),
    ]
    two = GroupChatState("g1", approvals=(Approval("a7", "x"), Approval("a8", "y")))
    blocks = slack_actions(message_state(two, silence_durations=DURATIONS, now=NOW), key=KEY)
    assert [b["type"] for b in blocks] == ["context", "actions", "actions", "actions", "actions"]
    for block in blocks[1:]:  # action ids unique within each block, block ids unique
        assert len({e["action_id"] for e in block["elements"]}) == len(block["elements"])
    assert len({b["block_id"] for b in blocks[1:]}) == 4
    last = blocks[-1]["elements"]
    assert [decode_slack(e["action_id"], e["value"], key=KEY) for e in last] == [
        Intent(Verb.APPROVE, "a8"),
        Intent(Verb.REJECT, "a8"),
    ]
    assert last[0]["style"] == "primary" and last[1]["style"] == "danger"


def test_duration_labels() -> None:
    assert [duration_label(s) for s in (1800, 3600, 5400, 86400, 172800, 604800)] == [
        "30m",
        "1h",
        "1h30m",
        "24h",
        "48h",
        "7d",
    ]
