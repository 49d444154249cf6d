"""The Telegram side of responding from chat: what a button tap or command gets, by long polling
(`poll_forever`, one poller, no inbound port) or by webhook (`register_webhook` at start-up;
the route checks the secret header and hands the update to `handle`).

Every tap is answered (answerCallbackQuery): a refusal with `show_alert` and the reason, before
any slow work for silences (whose outcome follows as a reply in the chat). The 📝 Post-mortem tap
sends the draft as a document (sendDocument) replying to the tapped alert message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from telegram import Bot, ReplyParameters
from telegram.error import TelegramError

from app.chatops.telegram_updates import CallbackTap, ChatUpdate, TextMessage, read_update
from app.core.chatops.actions import Actor, Verb
from app.core.chatops.callbacks import CallbackError, Intent, decode
from app.core.chatops.commands import HELP, CommandError, Name, parse_command
from app.core.chatops.message import duration_label
from app.core.chatops.permissions import is_known
from app.core.clock import Clock
from app.core.errors import PermanentError
from app.core.models import Group
from app.engine.chat_actions import ChatActions, Document, Refused
from app.store.base import ChatGroup

log = logging.getLogger("alertmedic.chatops.telegram")

POLL_TIMEOUT = 30
"""Seconds a getUpdates long poll waits for an update."""
_SLOW = {Verb.SILENCE, Verb.UNSILENCE}
_MAX_ANSWER = 200
"""Characters of an answerCallbackQuery text."""


class TelegramFront:
    """Turns Telegram updates into chat actions and answers the person."""

    def __init__(
        self,
        bot: Bot,
        actions: ChatActions,
        *,
        key: bytes,
        clock: Clock,
        scrub: Callable[[str], str] = lambda s: s,
    ) -> None:
        self.bot = bot
        self.actions = actions
        self.key = key
        self.clock = clock
        self.scrub = scrub
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, update: ChatUpdate) -> None:
        """Handle `update` in the background (a webhook answers Telegram at once)."""
        task = asyncio.create_task(self.handle(update), name=f"telegram update {update.update_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for the updates being handled (at shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def handle(self, update: ChatUpdate) -> None:
        try:
            if isinstance(update, CallbackTap):
                await self._tap(update)
            else:
                await self._text(update)
        except TelegramError as exc:
            log.warning("telegram answer failed", extra={"error": self.scrub(str(exc))})

    async def _tap(self, tap: CallbackTap) -> None:
        try:
            intent = decode(tap.data, key=self.key)
        except CallbackError as exc:
            self.actions.metrics.chat_actions.labels("telegram", "unknown", "refused").inc()
            log.warning(
                "chat action",
                extra={"source": "telegram", "user": tap.actor.key, "outcome": "refused", "detail": str(exc)},
            )
            await self._answer(tap, f"refused: {exc}", alert=True)
            return
        if intent.verb in _SLOW:
            # Answered before Alertmanager is asked; success shows on the message (edited),
            # a refusal or Alertmanager's error comes as a reply.
            await self._answer(tap, "working on it…", alert=False)
            try:
                await self.actions.perform(tap.actor, intent)
            except Refused as exc:
                await self._reply(tap.chat_id, tap.message_id, str(exc))
            return
        try:
            if intent.verb is Verb.POSTMORTEM:
                text = await self.actions.postmortem(
                    tap.actor, intent, send=lambda doc: self._document(tap.chat_id, tap.message_id, doc)
                )
            else:
                text = await self.actions.perform(tap.actor, intent)
        except Refused as exc:
            await self._answer(tap, str(exc), alert=True)
            return
        await self._answer(tap, text, alert=False)

    async def _document(self, chat_id: int | None, message_id: int | None, doc: Document) -> str:
        """Post `doc` in reply to message `message_id` (the alert's); where it went."""
        if chat_id is None:
            raise PermanentError("the tapped message is not in a chat", reason="bad_request")
        reply = (
            ReplyParameters(message_id, allow_sending_without_reply=True) if message_id is not None else None
        )
        try:
            await self.bot.send_document(
                chat_id, doc.data, filename=doc.filename, caption=doc.caption, reply_parameters=reply
            )
        except TelegramError as exc:
            raise PermanentError(self.scrub(f"telegram: {exc.message}"), reason="telegram") from None
        return f"telegram chat {chat_id}"

    async def _text(self, msg: TextMessage) -> None:
        try:
            command = parse_command(msg.text, bot_username=self.bot.username)
        except CommandError as exc:
            await self._reply(msg.chat_id, msg.message_id, str(exc))
            return
        if command is None:
            return
        if command.name is Name.WHOAMI:
            await self._reply(
                msg.chat_id, msg.message_id, f"your id: {msg.actor.key} (put it in permissions)"
            )
            return
        if command.name is Name.HELP:
            await self._reply(msg.chat_id, msg.message_id, "\n".join(HELP.values()))
            return
        if command.name is Name.ALERTS:
            await self._reply(msg.chat_id, msg.message_id, await self._open(msg.actor, msg.chat_id))
            return
        if command.name is Name.ACTIONS:
            await self._reply(msg.chat_id, msg.message_id, await self._awaiting(msg.actor))
            return
        verb = command.name.verb
        if verb is None:
            await self._reply(
                msg.chat_id, msg.message_id, f"/{command.name} is not available in this version"
            )
            return
        ref = command.target
        if ref is None and msg.reply_to_message_id is not None:
            ref = await self.actions.store.chat_ref_of_message(msg.chat_id, msg.reply_to_message_id)
        if ref is None:
            await self._reply(
                msg.chat_id,
                msg.message_id,
                f"/{command.name}: reply to an alert message. {HELP[command.name]}",
            )
            return
        arg = duration_label(command.duration) if command.duration is not None else ""
        try:
            intent = Intent(verb, ref, arg)
        except ValueError as exc:
            await self._reply(msg.chat_id, msg.message_id, f"/{command.name}: {exc}")
            return
        if intent.verb is Verb.POSTMORTEM:  # the file is the answer; only a refusal is a reply
            where = msg.reply_to_message_id if command.target is None else msg.message_id
            try:
                await self.actions.postmortem(
                    msg.actor, intent, send=lambda doc: self._document(msg.chat_id, where, doc)
                )
            except Refused as exc:
                await self._reply(msg.chat_id, msg.message_id, str(exc))
            return
        text = await self._perform(msg.actor, intent, comment=command.comment)
        await self._reply(msg.chat_id, msg.message_id, text)

    async def _open(self, actor: Actor, chat_id: int) -> str:
        """/alerts: the open groups of this chat with their state (for people in permissions)."""
        if not is_known(self.actions.config.rules, actor):
            return f"refused: {actor.key} is not in permissions (ask for it to be added; /whoami)"
        groups = await self.actions.store.chat_open_groups(chat_id)
        if not groups:
            return "no open alert here"
        return "\n".join(self._line(g) for g in groups)

    def _line(self, group: ChatGroup) -> str:
        alerts = Group.model_validate_json(group.payload)
        name = alerts.commonLabels.get("alertname") or group.group_key
        firing = sum(1 for a in alerts.alerts if a.status == "firing")
        state = [f"acknowledged by {group.ack_by}"] if group.ack_by else []
        if group.silence_until is not None and group.silence_until > self.clock.now():
            state.append(f"silenced by {group.silence_by}")
        if group.escalations:
            state.append(f"escalated to {group.escalations[-1][0]}")
        return f"{name}: {firing} firing" + (f" ({', '.join(state)})" if state else "")

    async def _awaiting(self, actor: Actor) -> str:
        """/actions: the remediations awaiting approval (for people named in permissions)."""
        if not is_known(self.actions.config.rules, actor):
            return f"refused: {actor.key} is not in permissions (ask for it to be added; /whoami)"
        records = [
            r for r in await self.actions.store.remediations(open_only=True) if r.state == "awaiting_approval"
        ]
        if not records:
            return "no action awaits approval"
        return "\n".join(f"#{r.id} {r.action} {r.target} (/approve {r.id}, /reject {r.id})" for r in records)

    async def _perform(self, actor: Actor, intent: Intent, *, comment: str = "") -> str:
        try:
            return await self.actions.perform(actor, intent, comment=comment)
        except Refused as exc:
            return str(exc)

    async def _answer(self, tap: CallbackTap, text: str, *, alert: bool) -> None:
        await self.bot.answer_callback_query(tap.query_id, text=text[:_MAX_ANSWER], show_alert=alert)

    async def _reply(self, chat_id: int | None, message_id: int | None, text: str) -> None:
        if chat_id is None:
            return
        await self.bot.send_message(chat_id, text, reply_to_message_id=message_id)

    async def poll_forever(self, *, timeout: int = POLL_TIMEOUT) -> None:
        """Long-poll getUpdates and handle each update; errors are logged and retried."""
        offset: int | None = None
        failures = 0
        while True:
            try:
                updates = await self.bot.get_updates(
                    offset=offset,
                    timeout=timeout,
                    read_timeout=timeout + 10,
                    allowed_updates=["message", "callback_query"],
                )
            except TelegramError as exc:
                failures += 1
                log.warning("getUpdates failed", extra={"error": self.scrub(str(exc)), "failures": failures})
                await self.clock.sleep(min(60.0, 2.0**failures))
                continue
            failures = 0
            for update in updates:
                offset = update.update_id + 1
                found = read_update(update)
                if found is not None:
                    self.spawn(found)
