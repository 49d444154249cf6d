"""The application factory: the same `create_app(config)` in production and in tests.

Each long-lived resource is one `cleanup_ctx` with its own typed `web.AppKey`, started in this
order and stopped in reverse: store, HTTP session, sinks, enrichment, remediation (only when
configured: the Kubernetes client is imported and built then), dispatcher (and ingestor, and the
heartbeats of the dead-man's switch, armed before the lanes start), chat front-ends
(app.web.chatops), reloader, purger. The web console (app.web.console) is routes only: its users
are read here, its sessions live in the store. A resource is cleaned up only if it started, so a
failure at start-up leaves nothing open. With `config_path`, `POST /-/reload` (and
`app[RELOADER].trigger`, which `serve` calls on SIGHUP) reloads that file into the running app
(app.web.reload).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path

import aiohttp
from aiohttp import web

from app.config import Config
from app.core.clock import Clock
from app.engine.clock import SYSTEM_CLOCK
from app.engine.dispatcher import Dispatcher, default_owner
from app.engine.enrich import GroupEnrichment
from app.engine.heartbeats import Heartbeats
from app.engine.remediation import Remediator
from app.enrich.enricher import Enricher
from app.metrics import Metrics
from app.sinks.registry import build, close_sinks
from app.store import open_store
from app.store.base import StoreUnavailable
from app.store.remediations import RemediatingStore
from app.web import api, apiauth, handlers, incidents_api, openapi
from app.web.auth import Credentials
from app.web.chatops import add_routes, chat_view, chatops_ctx
from app.web.console.auth import CONSOLE, api_way_in, load_console
from app.web.console.routes import add_routes as add_console_routes
from app.web.refusals import SUMMARY_INTERVAL, RefusalLog
from app.web.reload import (
    RELOADER,
    Live,
    Reloader,
    enriched_lanes,
    make_ingestor,
    reload_handler,
    retry_policy,
)
from app.web.remediation import remediation
from app.web.state import STATE, State

log = logging.getLogger("alertmedic")

PURGE_EVERY = 3600.0

STORE = web.AppKey("store", RemediatingStore)
SESSION = web.AppKey("session", aiohttp.ClientSession)
SINKS = web.AppKey("sinks", Live)
"""The table of integrations in use: router, destinations and sinks by destination id (a
reload replaces them)."""
ENRICHMENT = web.AppKey("enrichment", GroupEnrichment)
"""Set only when the config has enrichment rules and a destination with `enrich: true`."""
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
PURGER = web.AppKey("purger", asyncio.Task[None])
REMEDIATOR = web.AppKey("remediator", Remediator)


def create_app(
    config: Config,
    *,
    metrics: Metrics | None = None,
    clock: Clock = SYSTEM_CLOCK,
    config_path: Path | None = None,
    on_secrets: Callable[[Iterable[str]], None] | None = None,
) -> web.Application:
    """Build the service. Resources start with the app and stop with it, in reverse order.

    `config_path` is the file `config` came from (what a reload reads again); `on_secrets` is
    given a reloaded configuration's secrets before anything is logged about it.
    """
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
    apiauth.install(app, api.api_token(config))
    api.add_routes(app)
    incidents_api.add_routes(app)
    openapi.add_routes(app)
    app.router.add_post("/-/reload", reload_handler)
    state.metrics.config_reload_time.set(clock.now())
    add_routes(app, config)
    if (console := load_console(config)) is not None:
        app[CONSOLE] = console
        add_console_routes(app)
        apiauth.add_way_in(app, api_way_in)

    async def store_ctx(app: web.Application) -> AsyncIterator[None]:
        # PostgreSQL not reachable yet: the store keeps connecting and answers StoreUnavailable
        # meanwhile (webhooks 503, /readyz says why); the replica stays up rather than crash-loop.
        store = open_store(config.storage, keep_trying=True, sleep=clock.sleep)
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
        live = app[SINKS] = Live(
            build(config, session=app[SESSION], send_timeout=config.delivery.send_timeout)
        )
        try:
            yield
        finally:
            await close_sinks(live.sinks)  # the ones in use now, after any reload

    async def enrichment_ctx(app: web.Application) -> AsyncIterator[None]:
        lanes = enriched_lanes(config)
        if config.enrichment.rules and lanes:
            enricher = Enricher(config.enrichment, session=app[SESSION], clock=clock.now)
            app[ENRICHMENT] = GroupEnrichment(
                enricher, app[STORE], lanes=lanes, clock=clock, metrics=state.metrics, owner=default_owner()
            )
        yield

    async def dispatcher_ctx(app: web.Application) -> AsyncIterator[None]:
        built = app[SINKS]
        heartbeats = state.heartbeats = Heartbeats(
            app[STORE],
            [h.heartbeat for h in config.heartbeats],
            built.destinations,
            metrics=state.metrics,
            clock=clock,
        )
        dispatcher = Dispatcher(
            app[STORE],
            built.sinks,
            built.destinations,
            metrics=state.metrics,
            clock=clock,
            policy=retry_policy(config),
            send_timeout=config.delivery.send_timeout,
            enrichment=app.get(ENRICHMENT),
            remediator=app.get(REMEDIATOR),
            chat=(view := chat_view(config, state, clock, built.destinations)),
            storm=config.delivery.storm,
            heartbeats=heartbeats,
        )
        if view is not None:
            view.wake = dispatcher.ensure_lane
            if (remediator := app.get(REMEDIATOR)) is not None:
                remediator.shown = view.integrations
        state.chat = view
        app[DISPATCHER] = state.dispatcher = dispatcher
        state.ingestor = make_ingestor(config, built.router, state, clock)
        await heartbeats.arm()  # before the lanes start: a superseded timer is never claimed
        await dispatcher.start()
        try:
            yield
        finally:
            await dispatcher.stop(config.server.shutdown_timeout)

    async def reloader_ctx(app: web.Application) -> AsyncIterator[None]:
        reloader = app[RELOADER] = Reloader(
            config_path,
            state=state,
            live=app[SINKS],
            running=config,
            session=app[SESSION],
            clock=clock,
            on_secrets=on_secrets,
        )
        try:
            yield
        finally:
            await reloader.wait()  # a reload in progress completes before the dispatcher stops

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
        async with remediation(config, app[STORE], app[SINKS].built, app[SESSION], state.metrics, clock) as r:
            if r is not None:
                app[REMEDIATOR] = state.remediator = r
            yield

    chat_ctx = chatops_ctx(config, state, clock, session=SESSION)
    app.cleanup_ctx.extend(
        [
            store_ctx,
            session_ctx,
            sinks_ctx,
            enrichment_ctx,
            remediation_ctx,
            dispatcher_ctx,
            chat_ctx,
            reloader_ctx,
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
