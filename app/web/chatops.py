"""Responding from chat, wired into the app: the button key, the chat view the dispatcher's
jobs use, and one `cleanup_ctx` that starts the Telegram side (one long-polling task in mode
polling; setWebhook with the secret in mode webhook) and the Slack side, with their routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from app.chatops.silences import SilencesClient
from app.chatops.telegram_updates import parse_update, secret_token_ok
from app.config import Config, secret
from app.config.chatops import ChatopsConfig, secret_token_problem
from app.core.chatops.callbacks import derive_key
from app.core.clock import Clock
from app.core.plan import Destination
from app.engine.chat import TIMER_LANES, ChatView
from app.engine.chat_actions import ChatActions
from app.sinks.registry import INTEGRATIONS
from app.sinks.telegram import TelegramBot
from app.store.base import StoreUnavailable
from app.web.chat_slack import SlackFront
from app.web.chat_telegram import TelegramFront
from app.web.state import State

log = logging.getLogger("alertmedic.chatops")

CHAT_INTEGRATIONS = frozenset(kind for kind, row in INTEGRATIONS.items() if row.capabilities.chat_buttons)
"""Integrations whose messages carry the chat state and buttons (table capability)."""


def button_key(config: ChatopsConfig) -> bytes | None:
    """The key signing the buttons: derived from the Telegram bot token, else the Slack signing
    secret (None: no chat front-end is configured, so no buttons)."""
    for part, name in ((config.telegram, "bot_token"), (config.slack, "signing_secret")):
        if part is not None and (value := secret(part, name)):
            return derive_key(value)
    return None


def chat_view(
    config: Config, state: State, clock: Clock, destinations: Mapping[str, Destination]
) -> ChatView | None:
    """What the dispatcher's jobs need to show chat state and escalate. Without chat but with
    self-healing: a view without buttons, so that the messages show the remediation outcomes
    (None: neither is configured)."""
    if config.chatops is None or (key := button_key(config.chatops)) is None:
        if config.remediation is None or not config.remediation.actions:
            return None
        return ChatView(
            state.store,
            key=b"",
            silence_durations=(),
            integrations=CHAT_INTEGRATIONS,
            destinations=destinations,
            clock=clock,
            buttons=False,
        )
    return ChatView(
        state.store,
        key=key,
        silence_durations=config.chatops.silence_durations if config.chatops.alertmanager else (),
        integrations=CHAT_INTEGRATIONS,
        destinations=destinations,
        clock=clock,
        route=config.route.tree,
        policies={p.name: p.policy for p in config.escalation_policies},
    )


@dataclass
class Chatops:
    """The running chat front-ends (routes find them here)."""

    telegram: TelegramFront | None = None
    telegram_secret: str | None = None
    slack: SlackFront | None = None


CHATOPS = web.AppKey("chatops", Chatops)


def add_routes(app: web.Application, config: Config) -> None:
    """`POST /chatops/slack` and the Telegram webhook path, as configured."""
    chat = config.chatops
    if chat is None:
        return
    if chat.slack is not None:
        app.router.add_post("/chatops/slack", _slack)
    if chat.telegram is not None and (path := chat.telegram.webhook_path) is not None:
        app.router.add_post(path, _telegram)


async def _slack(request: web.Request) -> web.Response:
    front = request.app[CHATOPS].slack
    if front is None:
        return web.json_response({"error": "Slack is not configured"}, status=404)
    return await front.endpoint(request)


async def _telegram(request: web.Request) -> web.Response:
    chat = request.app[CHATOPS]
    front = chat.telegram
    if front is None or chat.telegram_secret is None:
        return web.json_response({"error": "Telegram webhook is not configured"}, status=404)
    if not secret_token_ok(chat.telegram_secret, request.headers.get("X-Telegram-Bot-Api-Secret-Token")):
        front.actions.metrics.chat_actions.labels("telegram", "request", "bad_secret").inc()
        log.warning(
            "telegram update refused: wrong or missing secret token", extra={"remote": request.remote}
        )
        return web.json_response({"error": "forbidden"}, status=403)
    try:
        update = parse_update(await request.json(), front.bot)
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    if update is not None:
        front.spawn(update)
    return web.Response(status=200)


def chatops_ctx(
    config: Config,
    state: State,
    clock: Clock,
    *,
    session: web.AppKey[aiohttp.ClientSession],
) -> Callable[[web.Application], AsyncIterator[None]]:
    """The cleanup context (after the dispatcher's: edits are queued on its lanes)."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        chat = config.chatops
        running = Chatops()
        app[CHATOPS] = running
        view = state.chat
        key = button_key(chat) if chat is not None else None
        if chat is None or key is None or view is None:
            yield
            return
        # timers survive a restart (a store not reachable yet: the dispatcher's heartbeat starts
        # every pending lane once it answers)
        with contextlib.suppress(StoreUnavailable):
            for lane in await state.store.pending_lanes():
                if lane.startswith(TIMER_LANES):
                    state.dispatcher.ensure_lane(lane)
        http = app[session]
        silences = SilencesClient.from_config(http, chat.alertmanager) if chat.alertmanager else None
        actions = ChatActions(
            state.store,
            chat,
            view=view,
            metrics=state.metrics,
            clock=clock,
            silences=silences,
        )
        stops: list[Callable[[], Awaitable[None]]] = []
        try:
            if chat.slack is not None:
                signing = secret(chat.slack, "signing_secret") or ""
                running.slack = SlackFront(
                    actions,
                    signing_secret=signing,
                    key=key,
                    session=http,
                    api_url=str(chat.slack.app_url),
                    token=secret(chat.slack, "app_token"),
                    clock=clock,
                    timeout=config.delivery.send_timeout,
                )
                stops.append(running.slack.drain)
            if chat.telegram is not None:
                stops += await _start_telegram(chat, running, actions, key, clock, config)
            yield
        finally:
            for stop in reversed(stops):
                with contextlib.suppress(Exception):
                    await stop()

    return ctx


async def _start_telegram(
    chat: ChatopsConfig, running: Chatops, actions: ChatActions, key: bytes, clock: Clock, config: Config
) -> list[Callable[[], Awaitable[None]]]:
    tg = chat.telegram
    assert tg is not None
    token = secret(tg, "bot_token") or ""
    holder = TelegramBot(token, api_url=str(tg.api_url), send_timeout=config.delivery.send_timeout)
    holder.acquire()
    bot = await holder.ready()
    front = TelegramFront(bot, actions, key=key, clock=clock, scrub=holder.scrub)
    running.telegram = front
    stops: list[Callable[[], Awaitable[None]]] = [holder.release, front.drain]
    if tg.mode == "webhook":
        value = secret(tg, "secret_token") or ""
        if (problem := secret_token_problem(value)) is not None:
            raise ValueError(f"chatops.telegram.secret_token_file: {problem}")
        running.telegram_secret = value
        await bot.set_webhook(
            str(tg.webhook_url), secret_token=value, allowed_updates=["message", "callback_query"]
        )
        log.info("telegram webhook set", extra={"url": str(tg.webhook_url)})
        return stops
    await bot.delete_webhook()
    poller = asyncio.create_task(front.poll_forever(), name="telegram poller")

    async def stop_poller() -> None:
        poller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poller

    log.info("telegram polling started")
    return [*stops, stop_poller]
