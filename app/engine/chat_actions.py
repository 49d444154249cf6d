"""What a button tap or command does: look the group up by the button's ref (a forged or stale
ref does nothing), authorise the person (fail closed), change the group's state (ack, unack,
silence in Alertmanager, unsilence), record the action in the audit, count it, and queue an
`edit` job for every copy of the group's message.

`perform` answers with the text to show the person; a refusal or failure raises `Refused`
(its message is what they are told). Both are audited and counted. `postmortem` (the 📝 button)
renders the incident's post-mortem draft and hands it to the front-end's `SendDocument`, which
posts it as a file in reply to the alert's message; the timeline records `postmortem_sent`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from app.config.chatops import ChatopsConfig
from app.core.chatops.actions import Actor, Verb
from app.core.chatops.callbacks import Intent
from app.core.chatops.permissions import authorize
from app.core.chatops.silences import SilenceRequest, SilenceScopeError, group_silence
from app.core.clock import Clock
from app.core.durations import parse_duration
from app.core.errors import DeliveryError
from app.core.incidents import TimelineEvent
from app.core.models import Group
from app.engine.approval import decide_approval
from app.engine.chat import ChatView, show_lane
from app.engine.incidents import postmortem
from app.metrics import Metrics
from app.store.base import ChatAudit, ChatGroup, NewJob, group_ref
from app.store.remediations import RemediatingStore

log = logging.getLogger("alertmedic.chatops")


class Silences(Protocol):
    """Alertmanager's silences (app.chatops.silences.SilencesClient)."""

    async def create(self, request: SilenceRequest) -> str: ...

    async def expire(self, silence_id: str) -> None: ...


MAX_TITLE = 200
"""Characters of the alert's name in a document's caption (Telegram allows 1024)."""


@dataclass(frozen=True)
class Document:
    """A file to post in reply to the alert's message."""

    filename: str
    data: bytes
    caption: str


SendDocument = Callable[[Document], Awaitable[str]]
"""Posts a document in reply to the alert's message where the button was tapped; answers where
it went (`telegram chat -100…`, `slack channel C…`). Raises DeliveryError."""


class Refused(Exception):
    """The action was not done; the message says why (shown to the person). `outcome` is the
    metrics and audit word: refused (no right), stale (unknown button), failed (Alertmanager)."""

    def __init__(self, message: str, *, outcome: str = "refused") -> None:
        super().__init__(message)
        self.outcome = outcome


class ChatActions:
    """Applies chat actions to the store and queues the edits of every copy."""

    def __init__(
        self,
        store: RemediatingStore,
        config: ChatopsConfig,
        *,
        view: ChatView,
        metrics: Metrics,
        clock: Clock,
        silences: Silences | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.view = view
        self.metrics = metrics
        self.clock = clock
        self.silences = silences

    async def perform(self, actor: Actor, intent: Intent, *, comment: str = "") -> str:
        """Do what `intent` asks as `actor` (`comment`: a silence's, from /silence); the text to
        show them. Raises Refused."""
        if intent.verb in (Verb.APPROVE, Verb.REJECT):
            return await self._decide(actor, intent)
        now = self.clock.now()
        found = await self.store.chat_group(intent.ref)
        try:
            group, alerts = self._authorised(actor, intent.verb, found)
            text = await self._apply(actor, intent, group, alerts, now, comment)
        except Refused as exc:
            await self._record(actor, intent.verb, found.group_key if found else "", exc.outcome, str(exc))
            raise
        await self._record(actor, intent.verb, group.group_key, "done", text)
        await self.view.show(group.group_key)
        return text

    async def postmortem(self, actor: Actor, intent: Intent, *, send: SendDocument) -> str:
        """The 📝 button: authorise (`postmortem` right, fail closed), render the incident's draft,
        `send` it, record it on the timeline; the text to show the person. Raises Refused."""
        now = self.clock.now()
        found = await self.store.chat_group(intent.ref)
        try:
            group, alerts = self._authorised(actor, Verb.POSTMORTEM, found)
            text = await postmortem(self.store, intent.ref, now=now)
            if text is None:
                raise Refused("no incident is recorded for this alert (purged?)", outcome="stale")
            title = alerts.commonLabels.get("alertname") or alerts.groupKey
            title = title if len(title) <= MAX_TITLE else title[: MAX_TITLE - 1] + "…"
            document = Document(
                f"postmortem-{intent.ref}.md", text.encode(), f"📝 Post-mortem draft: {title}"
            )
            try:
                where = await send(document)
            except DeliveryError as exc:
                raise Refused(f"post-mortem not sent: {exc}", outcome="failed") from None
        except Refused as exc:
            await self._record(
                actor, Verb.POSTMORTEM, found.group_key if found else "", exc.outcome, str(exc)
            )
            raise
        done = f"📝 post-mortem sent by {actor.name}"
        await self._record(actor, Verb.POSTMORTEM, group.group_key, "done", done)
        await self.store.incident_event(
            group.group_key,
            TimelineEvent(
                self.clock.now(),
                "postmortem_sent",
                actor.created_by,
                f"post-mortem draft sent to {where} by {actor.name}",
                {"source": actor.provider.value, "user": actor.key, "to": where, "bytes": len(document.data)},
            ),
        )
        return done

    def _authorised(self, actor: Actor, verb: Verb, group: ChatGroup | None) -> tuple[ChatGroup, Group]:
        """The group and its alerts, once `actor` may `verb` them. Raises Refused."""
        if group is None:
            raise Refused("this alert is no longer known here (the button is stale)", outcome="stale")
        alerts = Group.model_validate_json(group.payload)
        decision = authorize(self.config.rules, actor, verb, [a.labels for a in alerts.alerts])
        if not decision:
            raise Refused(f"refused: {decision.reason}")
        return group, alerts

    async def _decide(self, actor: Actor, intent: Intent) -> str:
        """Approve or reject a remediation through the one approval code path (CLI, API, chat)."""
        approve = intent.verb is Verb.APPROVE
        rec = await self.store.remediation(int(intent.ref)) if intent.ref.isdigit() else None
        group = await self.store.chat_group(group_ref(rec.group_key)) if rec is not None else None
        key = rec.group_key if rec is not None else ""
        try:
            if rec is None:
                raise Refused("this action is no longer known here (the button is stale)", outcome="stale")
            alerts = Group.model_validate_json(group.payload).alerts if group is not None else []
            decision = authorize(self.config.rules, actor, intent.verb, [a.labels for a in alerts])
            if not decision:
                raise Refused(f"refused: {decision.reason}")
            result = await decide_approval(
                self.store,
                rec.id,
                approve=approve,
                actor=actor.created_by,
                now=self.clock.now(),
                wake=self.view.wake,
            )
            if isinstance(result, str):
                raise Refused(result, outcome="failed")
        except Refused as exc:
            await self._record(actor, intent.verb, key, exc.outcome, str(exc))
            raise
        text = f"{'▶ approved' if approve else '✖ rejected'} by {actor.name}: {rec.action} {rec.target}"
        await self._record(actor, intent.verb, key, "done", text)
        await self.view.show(key)
        return text

    async def _apply(
        self, actor: Actor, intent: Intent, group: ChatGroup, alerts: Group, now: float, comment: str
    ) -> str:
        verb = intent.verb
        if verb is Verb.ACK:
            if group.ack_by is not None:
                return f"already acknowledged by {group.ack_by}"
            await self.store.chat_ack(group.ref, by=actor.name, now=now)
            # once per incident episode, whichever process takes the first ack (the store decides)
            if (first := await self.store.incident_acked(group.group_key, now=now)) is not None:
                self.metrics.time_to_ack.labels(first.severity).observe(first.seconds)
            return f"✅ acknowledged by {actor.name}"
        if verb is Verb.UNACK:
            if group.ack_by is None:
                return "not acknowledged"
            await self.store.chat_ack(group.ref, by=None, now=now)
            return f"↩ acknowledgement taken back by {actor.name}"
        if verb is Verb.SILENCE:
            return await self._silence(actor, intent, group, alerts, now, comment)
        if verb is Verb.UNSILENCE:
            return await self._unsilence(actor, group, now)
        raise Refused(f"{verb.value} is not available here")

    async def _silence(
        self, actor: Actor, intent: Intent, group: ChatGroup, alerts: Group, now: float, comment: str
    ) -> str:
        if self.silences is None:
            raise Refused("silences need chatops.alertmanager to be configured", outcome="failed")
        try:
            seconds = parse_duration(intent.arg)
        except ValueError:
            raise Refused(f"{intent.arg!r} is not a duration", outcome="failed") from None
        at = datetime.fromtimestamp(now, UTC)
        try:
            request = group_silence(
                alerts.groupLabels,
                alerts.groupKey,
                now=at,
                duration=timedelta(seconds=seconds),
                created_by=actor.created_by,
                comment=comment,
                alert_name=alerts.commonLabels.get("alertname") or alerts.groupKey,
            )
            silence_id = await self.silences.create(request)
        except (SilenceScopeError, DeliveryError) as exc:
            raise Refused(f"no silence: {exc}", outcome="failed") from None
        until = now + seconds
        await self.store.chat_silence(group.ref, silence_id=silence_id, by=actor.name, until=until, now=now)
        # Alertmanager sends no resolve while silenced: show the end on the messages then.
        show = NewJob("show", show_lane(group.group_key), "", not_before=until, group_key=group.group_key)
        await self.view.enqueue([show])
        return f"🔕 silenced until {request.ends_at.strftime('%Y-%m-%d %H:%M')} UTC"

    async def _unsilence(self, actor: Actor, group: ChatGroup, now: float) -> str:
        if self.silences is None:
            raise Refused("silences need chatops.alertmanager to be configured", outcome="failed")
        if group.silence_id is None:
            return "not silenced from chat"
        try:
            await self.silences.expire(group.silence_id)
        except DeliveryError as exc:
            if exc.reason != "not_found":
                raise Refused(f"silence not expired: {exc}", outcome="failed") from None
        await self.store.chat_silence(group.ref, silence_id=None, by=None, until=None, now=now)
        return f"🔔 silence expired by {actor.name}"

    async def _record(self, actor: Actor, verb: Verb, group_key: str, outcome: str, detail: str) -> None:
        source = actor.provider.value
        self.metrics.chat_actions.labels(source, verb.value, outcome).inc()
        entry = ChatAudit(
            self.clock.now(), source, actor.key, actor.name, verb.value, group_key, outcome, detail
        )
        level = logging.INFO if outcome == "done" else logging.WARNING
        log.log(
            level,
            "chat action",
            extra={
                "source": source,
                "user": actor.key,
                "action": verb.value,
                "group_key": group_key,
                "outcome": outcome,
                "detail": detail,
            },
        )
        await self.store.chat_audit(entry)
