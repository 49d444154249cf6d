"""The application factory: the same `create_app(config)` in production and in tests."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from app.config import Config
from app.core.clock import Clock
from app.core.plan import Router
from app.core.retry import RetryPolicy
from app.engine.clock import SYSTEM_CLOCK
from app.engine.dispatcher import Dispatcher
from app.engine.ingest import Ingestor
from app.metrics import Metrics
from app.sinks.factory import build_sinks, close_sinks
from app.store import open_store
from app.store.base import StoreUnavailable
from app.web import handlers
from app.web.auth import Credentials
from app.web.state import STATE, State

log = logging.getLogger("alertmedic")

PURGE_EVERY = 3600.0


def create_app(
    config: Config, *, metrics: Metrics | None = None, clock: Clock = SYSTEM_CLOCK
) -> web.Application:
    """Build the service. Resources start with the app and stop with it, in reverse order."""
    state = State(config, metrics or Metrics(), Credentials.from_config(config.server.auth))
    app = web.Application(client_max_size=config.server.max_body_bytes)
    app[STATE] = state
    app.router.add_post("/webhook/alertmanager", handlers.alertmanager_webhook)
    app.router.add_get("/healthz", handlers.healthz)
    app.router.add_get("/readyz", handlers.readyz)
    app.router.add_get("/metrics", handlers.metrics)

    async def resources(app: web.Application) -> AsyncIterator[None]:
        router = Router.from_config(config)
        store = open_store(config.storage)
        await store.start()
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=config.delivery.send_timeout))
        sinks = build_sinks(config, session=session, send_timeout=config.delivery.send_timeout)
        destinations = {d.id: d for ds in router.destinations.values() for d in ds}
        dispatcher = Dispatcher(
            store,
            sinks,
            destinations,
            metrics=state.metrics,
            clock=clock,
            policy=RetryPolicy(
                config.delivery.retry_initial, config.delivery.retry_max, config.delivery.retry_horizon
            ),
            send_timeout=config.delivery.send_timeout,
        )
        state.store, state.dispatcher = store, dispatcher
        state.ingestor = Ingestor(
            router, store, dispatcher, state.metrics, config.delivery.dedup_window, clock
        )
        await dispatcher.start()
        purger = asyncio.create_task(_purge_forever(state, clock), name="purge")
        log.info("started", extra={"listen": config.server.listen, "destinations": sorted(destinations)})
        try:
            yield
        finally:
            purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await purger
            await dispatcher.stop(config.server.shutdown_timeout)
            await close_sinks(sinks)
            await session.close()
            await store.close()
            log.info("stopped")

    app.cleanup_ctx.append(resources)
    return app


async def _purge_forever(state: State, clock: Clock) -> None:
    while True:
        try:
            n = await state.store.purge(older_than=clock.now() - state.config.storage.retention)
            if n:
                log.info("purged finished notifications", extra={"rows": n})
        except StoreUnavailable as exc:
            log.error("purge failed", extra={"error": str(exc)})
        await clock.sleep(PURGE_EVERY)
