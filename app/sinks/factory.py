"""Every configured integration built into a Sink, keyed by destination id; Telegram bots shared."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import aiohttp

from app.config import (
    Config,
    EmailConfig,
    FileConfig,
    IntegrationConfig,
    SlackConfig,
    TelegramConfig,
    WebhookConfig,
    read_secret,
)
from app.core.plan import destination_id
from app.sinks.base import Sink
from app.sinks.email import EmailSink
from app.sinks.file import FileSink
from app.sinks.slack import SlackSink
from app.sinks.telegram import TelegramBot, TelegramSink
from app.sinks.webhook import WebhookSink

log = logging.getLogger(__name__)


def build_sinks(config: Config, *, session: aiohttp.ClientSession, send_timeout: float) -> dict[str, Sink]:
    """A Sink per configured integration. Reads secret files; opens no connection.

    Destinations with the same Telegram token (and API URL) share one `telegram.Bot`, so its
    connection pool and the per-bot rate limit are shared too. Raises ValueError naming the
    destination when an integration cannot be built (unreadable secret, bad template).
    """
    bots: dict[tuple[str, str], TelegramBot] = {}
    sinks: dict[str, Sink] = {}
    for receiver in config.receivers:
        for kind, index, integration in receiver.integrations():
            destination = destination_id(receiver.name, kind, index)
            try:
                sinks[destination] = _build(
                    integration, bots=bots, session=session, send_timeout=send_timeout
                )
            except (OSError, ValueError) as exc:
                detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
                raise ValueError(f"{destination}: {detail}") from None
    return sinks


def _build(
    integration: IntegrationConfig,
    *,
    bots: dict[tuple[str, str], TelegramBot],
    session: aiohttp.ClientSession,
    send_timeout: float,
) -> Sink:
    if isinstance(integration, TelegramConfig):
        token = read_secret(integration.bot_token, integration.bot_token_file)
        if not token:
            raise ValueError("telegram bot token is empty")
        api_url = str(integration.api_url).rstrip("/")
        bot = bots.get((token, api_url))
        if bot is None:
            bot = bots[(token, api_url)] = TelegramBot(token, api_url=api_url, send_timeout=send_timeout)
        return TelegramSink(integration, bot=bot)
    if isinstance(integration, SlackConfig):
        return SlackSink(integration, session=session, send_timeout=send_timeout)
    if isinstance(integration, EmailConfig):
        return EmailSink(integration, send_timeout=send_timeout)
    if isinstance(integration, WebhookConfig):
        return WebhookSink(integration, session=session, send_timeout=send_timeout)
    if isinstance(integration, FileConfig):
        return FileSink(integration)
    raise TypeError(f"unknown integration {type(integration).__name__}")


async def close_sinks(sinks: Mapping[str, Sink]) -> None:
    """Close every sink (shared bots shut down with their last user); failures are logged."""
    results = await asyncio.gather(*(sink.aclose() for sink in sinks.values()), return_exceptions=True)
    for destination, result in zip(sinks, results, strict=True):
        if isinstance(result, BaseException):
            log.warning("%s: closing failed: %s", destination, result)
