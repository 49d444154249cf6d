"""Chat state on alert messages: the `edit` job, and what a `notify` or `edit` delivery shows of
its group's chat state (ack, silence, escalation lines, the last remediation outcome of each
target and the buttons).

Only destinations whose integration has the `chat_buttons` capability get it; an `edit` job
re-renders the group's last notified payload with its current chat state and edits the thread's
message in place (Telegram editMessageText with the keyboard, Slack chat.update with blocks). An
edit of a thread that has no message yet does nothing: its pending notify shows the state.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime

from app.core.chatops.escalation import EscalationPolicy
from app.core.chatops.message import (
    Ack,
    Approval,
    Escalated,
    GroupChatState,
    MessageState,
    SilenceState,
    message_state,
)
from app.core.clock import Clock
from app.core.models import Group
from app.core.plan import Destination
from app.core.routing import Route, escalation_for
from app.engine.jobs import Outcome, Ref
from app.engine.notify import NotifyHandler
from app.engine.outcome import outcome_lines
from app.sinks.base import ChatMarkup
from app.store.base import ChatGroup, Job, NewJob, Store, group_ref
from app.store.remediations import Remediation

log = logging.getLogger("alertmedic.chat")


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def approvals(records: Sequence[Remediation]) -> tuple[Approval, ...]:
    """What the messages show of the group's remediations: those awaiting approval (with
    Approve / Reject buttons) and those a person decided, oldest first."""
    out = []
    for rec in reversed(records):
        summary = f"{rec.action} {rec.target}"
        if rec.state == "awaiting_approval":
            out.append(Approval(str(rec.id), summary))
        elif rec.actor and rec.state not in ("pending", "refused", "would", "expired", "cancelled"):
            out.append(
                Approval(str(rec.id), summary, rec.actor, rec.state != "rejected", _at(rec.updated_at))
            )
    return tuple(out)


def chat_state(group: ChatGroup, remediations: Sequence[Remediation] = ()) -> GroupChatState:
    """The core's view of a group's stored chat state."""
    ack = Ack(group.ack_by, _at(group.ack_at)) if group.ack_by and group.ack_at is not None else None
    silence = (
        SilenceState(group.silence_by or "", _at(group.silence_until), group.silence_id)
        if group.silence_id and group.silence_until is not None
        else None
    )
    return GroupChatState(
        ref=group.ref,
        resolved=group.resolved,
        ack=ack,
        ack_cleared_by=group.ack_cleared_by,
        silence=silence,
        escalations=tuple(Escalated(r, _at(at)) for r, at in group.escalations),
        approvals=approvals(remediations),
        outcomes=outcome_lines(remediations),
    )


def escalation_lane(group_key: str) -> str:
    """The lane of a group's escalation timers (one per group: its steps in order)."""
    return f"escalate:{group_ref(group_key)}"


def show_lane(group_key: str) -> str:
    """The lane of a group's `show` timers (a silence's end is shown on its messages)."""
    return f"show:{group_ref(group_key)}"


def edit_job(lane: str, destination: Destination, group_key: str, now: float) -> NewJob:
    """An `edit` of the group's message at destination `lane`: it re-renders the message with
    the group's current state from the store."""
    return NewJob(
        type="edit",
        lane=lane,
        payload="",
        not_before=now,
        group_key=group_key,
        kind="update",
        receiver=destination.receiver,
        integration=destination.integration,
    )


TIMER_LANES = ("escalate:", "show:")
"""Prefixes of the lanes of timers: started at start-up when they hold pending jobs."""


class ChatView:
    """Reads and records the chat state a delivery shows (only for `integrations` with buttons),
    queues edits of every copy (`show`) and arms a group's escalation when it starts."""

    def __init__(
        self,
        store: Store,
        *,
        key: bytes,
        silence_durations: Sequence[float],
        integrations: Collection[str],
        destinations: Mapping[str, Destination],
        clock: Clock,
        route: Route | None = None,
        policies: Mapping[str, EscalationPolicy] | None = None,
        buttons: bool = True,
    ) -> None:
        self.store = store
        self.buttons = buttons
        """False: chat is not configured, the messages only show the remediation outcomes."""
        self.key = key
        self.silence_durations = tuple(silence_durations)
        self.integrations = frozenset(integrations)
        self.destinations = destinations
        self.clock = clock
        self.route = route
        self.policies = dict(policies or {})
        self.wake: Callable[[str], None] = lambda lane: None
        """Starts or wakes a lane jobs were queued on (the dispatcher's `ensure_lane`)."""

    async def show(self, group_key: str) -> list[str]:
        """Queue an `edit` of every copy of the group's message; the lanes queued on."""
        lanes = [
            d
            for d in await self.store.chat_destinations(group_key)
            if d in self.destinations and self.destinations[d].integration in self.integrations
        ]
        now = self.clock.now()
        await self.enqueue([edit_job(lane, self.destinations[lane], group_key, now) for lane in lanes])
        return lanes

    async def enqueue(self, jobs: Sequence[NewJob]) -> None:
        if jobs:
            await self.store.enqueue(jobs, now=self.clock.now())
            for lane in dict.fromkeys(j.lane for j in jobs):
                self.wake(lane)

    def policy_of(self, group: Group) -> EscalationPolicy | None:
        """The escalation policy of the route that brought the group to its receiver."""
        if self.route is None or not self.policies:
            return None
        firing = next((a for a in group.alerts if a.status == "firing"), None)
        if firing is None:
            return None
        name = escalation_for(self.route, firing.labels, group.receiver)
        return self.policies.get(name) if name else None

    async def arm(self, group_key: str, policy: EscalationPolicy, first_notified_at: float) -> None:
        """Queue the group's first escalation timer (the job queue's `not_before`)."""
        due = first_notified_at + policy.steps[0].after
        await self.enqueue(
            [
                NewJob(
                    type="escalate",
                    lane=escalation_lane(group_key),
                    payload=json.dumps({"policy": policy.name}),
                    not_before=due,
                    group_key=group_key,
                )
            ]
        )

    def shows(self, integration: str) -> bool:
        return integration in self.integrations

    async def markup(self, group: ChatGroup) -> ChatMarkup | None:
        """What the group's messages show now (None: nothing, without buttons)."""
        records = await self.store.chat_remediations(group.group_key)
        state = message_state(
            chat_state(group, records), silence_durations=self.silence_durations, now=_at(self.clock.now())
        )
        if not self.buttons:
            state = MessageState(state.lines, ())
            if not state.lines:
                return None
        return ChatMarkup(state, self.key)

    async def noted(self, job: Job) -> ChatMarkup | None:
        """Record the notified group (first notification, payload, an ack cleared by a new
        firing alert) and the markup its message shows."""
        group = Group.model_validate_json(job.payload)
        firing = frozenset(a.fingerprint for a in group.alerts if a.status == "firing")
        found = await self.store.chat_note(
            job.group_key,
            job.payload,
            firing=firing,
            resolved=group.status == "resolved",
            at=job.accepted_at,
            now=self.clock.now(),
        )
        if found.started and (policy := self.policy_of(group)) is not None:
            await self.arm(job.group_key, policy, found.first_notified_at)
        return await self.markup(found)


class ShowHandler:
    """The `show` job (a timer): queue edits of every copy of the group's message, e.g. when its
    silence ends, so that they say so and offer the Silence buttons again."""

    def __init__(self, chat: ChatView) -> None:
        self.chat = chat

    async def wait(self, job: Job, now: float) -> float:
        return 0.0

    async def run(self, job: Job, ref: Ref) -> Ref:
        await self.chat.show(job.group_key)
        return None

    def finished(self, job: Job, outcome: Outcome, now: float) -> None:
        if outcome == "dead":
            log.error("show timer given up", extra={"group_key": job.group_key})


class EditHandler(NotifyHandler):
    """The `edit` job: show the group's current chat state on the thread's message."""

    async def run(self, job: Job, ref: Ref) -> Ref:
        if ref is None or self.chat is None:
            return None
        group = await self.chat.store.chat_group(group_ref(job.group_key))
        if group is None:
            return None
        return await self.deliver(job, group.payload, ref, await self.chat.markup(group), kind="update")

    def finished(self, job: Job, outcome: Outcome, now: float) -> None:
        if outcome == "dead":
            log.error("chat state edit given up", extra={"destination": job.lane, "group_key": job.group_key})
            return
        log.info("chat state shown", extra={"destination": job.lane, "group_key": job.group_key})
