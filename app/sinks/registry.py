"""The table of integrations: each kind registered once, built into Destination + Sink in one pass.

Adding an integration (e.g. Microsoft Teams) is its config model (app.config.integrations), its
sink module exporting `INTEGRATION`, and one line in `INTEGRATIONS`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from app.config import Config, IntegrationConfig
from app.core.plan import Destination, Router, destination_id
from app.sinks import email, file, slack, telegram, webhook
from app.sinks.base import BuildContext, Integration, Sink

log = logging.getLogger(__name__)

INTEGRATIONS: dict[str, Integration[Any]] = {
    i.kind: i
    for i in (
        telegram.INTEGRATION,
        slack.INTEGRATION,
        email.INTEGRATION,
        webhook.INTEGRATION,
        file.INTEGRATION,
    )
}


def walk(config: Config) -> Iterator[tuple[Destination, Integration[Any], IntegrationConfig]]:
    """Every configured integration as its Destination, its table row and its config."""
    for receiver in config.receivers:
        for kind, index, integration_config in receiver.integrations():
            row = INTEGRATIONS[kind]
            destination = Destination(
                destination_id(receiver.name, kind, index),
                receiver.name,
                kind,
                integration_config.send_resolved,
                min(integration_config.in_flight_limit(), row.capabilities.max_in_flight),
            )
            yield destination, row, integration_config


@dataclass(frozen=True)
class Built:
    """The result of one walk over the table: routing tables and a Sink per destination."""

    router: Router
    destinations: dict[str, Destination]
    """Destination id -> Destination (its receiver and integration are fields: no parsing)."""
    sinks: dict[str, Sink]
    """Destination id -> Sink."""


def router(config: Config) -> Router:
    """The routing tables alone (`routes test`, tests): no secret is read, no Sink is made."""
    by_receiver: dict[str, list[Destination]] = {r.name: [] for r in config.receivers}
    for destination, _, _ in walk(config):
        by_receiver[destination.receiver].append(destination)
    return Router(config.route.tree, by_receiver, config.time_table)


def build(config: Config, *, session: aiohttp.ClientSession, send_timeout: float) -> Built:
    """Destinations and Sinks in one walk. Reads secret files; opens no connection.

    Raises ValueError naming the destination when an integration cannot be built.
    """
    context = BuildContext(session=session, send_timeout=send_timeout)
    by_receiver: dict[str, list[Destination]] = {r.name: [] for r in config.receivers}
    destinations: dict[str, Destination] = {}
    sinks: dict[str, Sink] = {}
    for destination, row, integration_config in walk(config):
        try:
            sinks[destination.id] = row.build(integration_config, context)
        except (OSError, ValueError) as exc:
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise ValueError(f"{destination.id}: {detail}") from None
        destinations[destination.id] = destination
        by_receiver[destination.receiver].append(destination)
    return Built(Router(config.route.tree, by_receiver, config.time_table), destinations, sinks)


async def close_sinks(sinks: Mapping[str, Sink]) -> None:
    """Close every sink (shared bots shut down with their last user); failures are logged."""
    results = await asyncio.gather(*(sink.aclose() for sink in sinks.values()), return_exceptions=True)
    for destination, result in zip(sinks, results, strict=True):
        if isinstance(result, BaseException):
            log.warning("%s: closing failed: %s", destination, result)
