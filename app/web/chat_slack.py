"""The Slack side of responding from chat: `POST /chatops/slack` (interactivity request URL).

The signature is checked over the raw body before anything parses it (at most 1 MiB read), an
exact replay of an accepted request is not applied again (its key kept in the store until it
expires), and Slack gets its 200 at once: the action runs in the background and a refusal or
failure is told to the person as an ephemeral message (chat.postEphemeral). The 📝 Post-mortem
button uploads the draft into the alert message's thread (file upload v2, `app_token`).
"""

from __future__ import annotations

import asyncio
import json
import logging

import aiohttp
from aiohttp import web

from app.chatops.slack_interactions import InteractionError, SlackInteraction, parse_interaction
from app.chatops.slack_signing import MAX_BODY, SignatureError, verify
from app.core.chatops.actions import Actor, Provider, Verb
from app.core.chatops.callbacks import CallbackError, decode_slack
from app.core.clock import Clock
from app.core.errors import PermanentError
from app.engine.chat_actions import ChatActions, Document, Refused
from app.sinks.slack import FileUpload, UploadedFile

log = logging.getLogger("alertmedic.chatops.slack")


class SlackFront:
    """Checks, parses and applies Slack interactions; answers refusals ephemerally."""

    def __init__(
        self,
        actions: ChatActions,
        *,
        signing_secret: str,
        key: bytes,
        session: aiohttp.ClientSession,
        api_url: str,
        token: str | None,
        clock: Clock,
        timeout: float = 30.0,
    ) -> None:
        self.actions = actions
        self._signing_secret = signing_secret
        self.key = key
        self._session = session
        self._api = api_url.rstrip("/")
        self._token = token
        self.clock = clock
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        """Of each call of a file upload."""
        self._tasks: set[asyncio.Task[None]] = set()

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def endpoint(self, request: web.Request) -> web.Response:
        body = bytearray()
        while chunk := await request.content.readany():
            body += chunk
            if len(body) > MAX_BODY:
                return self._refuse(413, "too_large", f"body exceeds {MAX_BODY} bytes")
        now = self.clock.now()
        try:
            verified = verify(
                self._signing_secret,
                timestamp=request.headers.get("X-Slack-Request-Timestamp"),
                signature_header=request.headers.get("X-Slack-Signature"),
                body=bytes(body),
                now=now,
            )
        except SignatureError as exc:
            return self._refuse(401, exc.reason, str(exc))
        if not await self.actions.store.chat_replay(
            verified.replay_key, expires_at=verified.expires_at, now=now
        ):
            return self._refuse(401, "replayed", "this signed request was already accepted")
        try:
            interaction = parse_interaction(bytes(body))
        except InteractionError as exc:
            return self._refuse(400, "bad_request", str(exc))
        task = asyncio.create_task(self._apply(interaction), name="slack interaction")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return web.Response(status=200)

    def _refuse(self, status: int, reason: str, detail: str) -> web.Response:
        self.actions.metrics.chat_actions.labels("slack", "request", reason).inc()
        log.warning("slack request refused", extra={"reason": reason, "detail": detail})
        return web.json_response({"error": detail}, status=status)

    async def _apply(self, interaction: SlackInteraction) -> None:
        actor = Actor(Provider.SLACK, interaction.user_id, interaction.user_name or interaction.user_id)
        for action in interaction.actions:
            try:
                intent = decode_slack(action.action_id, action.value, key=self.key)
            except CallbackError as exc:
                self.actions.metrics.chat_actions.labels("slack", "unknown", "refused").inc()
                log.warning("chat action", extra={"source": "slack", "user": actor.key, "outcome": "refused"})
                await self._ephemeral(interaction, f"refused: {exc}")
                continue
            try:
                if intent.verb is Verb.POSTMORTEM:
                    await self.actions.postmortem(
                        actor, intent, send=lambda doc: self._document(interaction, doc)
                    )
                else:
                    await self.actions.perform(actor, intent)
            except Refused as exc:
                await self._ephemeral(interaction, str(exc))

    async def _document(self, interaction: SlackInteraction, doc: Document) -> str:
        """Upload `doc` into the thread of the clicked message; where it went."""
        if self._token is None:
            raise PermanentError("chatops.slack needs app_token to upload files", reason="unauthorized")
        upload = FileUpload(self._session, self._api, self._token, self._timeout)
        file = UploadedFile(doc.filename, doc.data, "text/markdown", doc.caption)
        await upload.share(file, channel=interaction.channel_id, thread_ts=interaction.message_ts)
        return f"slack channel {interaction.channel_id}"

    async def _ephemeral(self, interaction: SlackInteraction, text: str) -> None:
        """Tell only the person who clicked (chat.postEphemeral with the bot token)."""
        if self._token is None:
            log.warning("cannot tell the Slack user: chatops.slack has no app_token", extra={"text": text})
            return
        try:
            async with self._session.post(
                f"{self._api}/chat.postEphemeral",
                data=json.dumps(
                    {"channel": interaction.channel_id, "user": interaction.user_id, "text": text}
                ),
                headers={
                    "Content-Type": "application/json; charset=utf-8",
                    "Authorization": f"Bearer {self._token}",
                },
            ) as resp:
                answer = await resp.json(content_type=None)
                if resp.status != 200 or not isinstance(answer, dict) or not answer.get("ok"):
                    log.warning("chat.postEphemeral failed", extra={"status": resp.status})
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("chat.postEphemeral failed", extra={"error": type(exc).__name__})
