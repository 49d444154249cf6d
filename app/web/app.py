"""The application factory: the same `create_app(config)` in production and in tests.

Each long-lived resource is one `cleanup_ctx` with its own typed `web.AppKey`, started in this
order and stopped in reverse: store, HTTP session, sinks, enrichment, remediation (only when
configured: the Kubernetes client is imported and built then), dispatcher (and ingestor), purger. A
resource is cleaned up only if it started, so a failure at start-up leaves nothing open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from app.config import Config
from app.core.clock import Clock
from app.core.retry import RetryPolicy
from app.engine.clock import SYSTEM_CLOCK
from app.engine.dispatcher import Dispatcher, default_owner
from app.engine.enrich import GroupEnrichment
from app.engine.ingest import Ingestor
from app.engine.remediation import Remediator
from app.enrich.enricher import Enricher
from app.metrics import Metrics
from app.sinks.registry import Built, build, close_sinks, walk
from app.store import open_store
from app.store.base import StoreUnavailable
from app.store.remediations import RemediatingStore
from app.web import api, handlers
from app.web.auth import Credentials
from app.web.refusals import SUMMARY_INTERVAL, RefusalLog
from app.web.remediation import remediation
from app.web.state import STATE, State

log = logging.getLogger("alertmedic")

PURGE_EVERY = 3600.0

STORE = web.AppKey("store", RemediatingStore)
SESSION = web.AppKey("session", aiohttp.ClientSession)
SINKS = web.AppKey("sinks", Built)
"""The table of integrations built: router, destinations and sinks by destination id."""
ENRICHMENT = web.AppKey("enrichment", GroupEnrichment)
"""Set only when the config has enrichment rules and a destination with `enrich: true`."""
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
PURGER = web.AppKey("purger", asyncio.Task[None])
REMEDIATOR = web.AppKey("remediator", Remediator)


def create_app(
    config: Config, *, metrics: Metrics | None = None, clock: Clock = SYSTEM_CLOCK
) -> web.Application:
    """Build the service. Resources start with the app and stop with it, in reverse order."""
    state = State(
        config,
        metrics or Metrics(),
        Credentials.from_config(config.server.auth),
        RefusalLog(clock.now),
        clock.now,
    )
    app = web.Application(client_max_size=config.server.max_body_bytes)
    app[STATE] = state
    app.router.add_post("/webhook/alertmanager", handlers.alertmanager_webhook)
    app.router.add_get("/healthz", handlers.healthz)
    app.router.add_get("/readyz", handlers.readyz)
    app.router.add_get("/metrics", handlers.metrics)
    api.add_routes(app, api.api_token(config))

    async def store_ctx(app: web.Application) -> AsyncIterator[None]:
        store = open_store(config.storage)
        await store.start()
        app[STORE] = state.store = store
        try:
            yield
        finally:
            await store.close()
            log.info("stopped")

    async def session_ctx(app: web.Application) -> AsyncIterator[None]:
        timeout = aiohttp.ClientTimeout(total=config.delivery.send_timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            app[SESSION] = session
            yield

    async def sinks_ctx(app: web.Application) -> AsyncIterator[None]:
        app[SINKS] = build(config, session=app[SESSION], send_timeout=config.delivery.send_timeout)
        try:
            yield
        finally:
            await close_sinks(app[SINKS].sinks)

    async def enrichment_ctx(app: web.Application) -> AsyncIterator[None]:
        # The generic webhook gets nothing extra (its receivers expect Alertmanager's body):
        # no fetch is made for it alone.
        lanes = frozenset(d.id for d, row, c in walk(config) if c.enrich and row.kind != "webhook")
        if config.enrichment.rules and lanes:
            enricher = Enricher(config.enrichment, session=app[SESSION], clock=clock.now)
            app[ENRICHMENT] = GroupEnrichment(
                enricher, app[STORE], lanes=lanes, clock=clock, metrics=state.metrics, owner=default_owner()
            )
        yield

    async def dispatcher_ctx(app: web.Application) -> AsyncIterator[None]:
        built = app[SINKS]
        dispatcher = Dispatcher(
            app[STORE],
            built.sinks,
            built.destinations,
            metrics=state.metrics,
            clock=clock,
            policy=RetryPolicy(
                config.delivery.retry_initial, config.delivery.retry_max, config.delivery.retry_horizon
            ),
            send_timeout=config.delivery.send_timeout,
            enrichment=app.get(ENRICHMENT),
            remediator=app.get(REMEDIATOR),
        )
        app[DISPATCHER] = state.dispatcher = dispatcher
        state.ingestor = Ingestor(
            built.router,
            app[STORE],
            dispatcher,
            state.metrics,
            config.delivery.dedup_window,
            clock,
            app.get(REMEDIATOR),
        )
        await dispatcher.start()
        try:
            yield
        finally:
            await dispatcher.stop(config.server.shutdown_timeout)

    async def purger_ctx(app: web.Application) -> AsyncIterator[None]:
        purger = asyncio.create_task(_purge_forever(state, clock), name="purge")
        app[PURGER] = purger
        log.info(
            "started", extra={"listen": config.server.listen, "destinations": sorted(app[SINKS].destinations)}
        )
        try:
            yield
        finally:
            purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await purger

    async def refusals_ctx(app: web.Application) -> AsyncIterator[None]:
        reporter = asyncio.create_task(_report_refusals_forever(state), name="refusal-counts")
        try:
            yield
        finally:
            reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reporter
            state.refusals.report_due(final=True)

    async def remediation_ctx(app: web.Application) -> AsyncIterator[None]:
        async with remediation(config, app[STORE], app[SINKS], app[SESSION], state.metrics, clock) as r:
            if r is not None:
                app[REMEDIATOR] = r
            yield

    app.cleanup_ctx.extend(
        [
            store_ctx,
            session_ctx,
            sinks_ctx,
            enrichment_ctx,
            remediation_ctx,
            dispatcher_ctx,
            purger_ctx,
            refusals_ctx,
        ]
    )
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


async def _report_refusals_forever(state: State) -> None:
    """Counts of refusals not logged one by one also reach the log when no request comes."""
    while True:
        await asyncio.sleep(SUMMARY_INTERVAL)
        state.refusals.report_due()
