"""Configuration reload (SIGHUP, `POST /-/reload`): check the file again, then switch to it at once.

The file is loaded as `serve` loads it (secret files read) and its sinks are built, off the
event loop. Invalid: every
problem is logged with its YAML path, the service keeps its configuration and
`alertmedic_config_last_reload_successful` goes to 0. Valid: sinks are built, then one
synchronous step (no await inside, so a webhook is planned wholly with the old or wholly with
the new configuration) swaps the route tree, credentials, settings and the dispatcher's
destinations. After it: webhooks planned with the old tree finish, lanes of removed destinations
stop after their send in progress and their pending notifications are dead-lettered as at
start-up (`alertmedic outbox requeue` brings them back), and replaced sinks are closed once
their sends in progress have returned. Kept destinations keep their lanes and queued work.

Settings in RESTART_ONLY are read once at start-up: a changed one is logged as needing a restart
and named in the answer; everything else is applied. Heartbeats (the dead-man's switch) added,
removed, or with another receiver or matchers apply at once; a changed heartbeat timeout is
named (`heartbeats.<name>.timeout`) as needing a restart. Reloads run one at a time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from app.config import Config, ConfigError, load_config, secret_values
from app.config.problems import Problem
from app.core.clock import Clock
from app.core.plan import Destination, Router
from app.core.retry import RetryPolicy
from app.engine.ingest import Ingestor
from app.sinks.base import Sink
from app.sinks.registry import Built, build, close_sinks, walk
from app.store.base import StoreUnavailable
from app.web.auth import Credentials
from app.web.state import STATE, State

log = logging.getLogger("alertmedic.reload")

RESTART_ONLY: dict[str, Callable[[Config], object]] = {
    "server.listen": lambda c: c.server.listen,
    "server.shutdown_timeout": lambda c: c.server.shutdown_timeout,
    "storage.url": lambda c: c.storage.url,
    "storage.busy_timeout": lambda c: c.storage.busy_timeout,
    "delivery.send_timeout": lambda c: c.delivery.send_timeout,
}
"""Settings read once at start-up (the socket, the database, the HTTP session's timeout)."""

APPLIED = {
    "server",
    "storage",
    "delivery",
    "receivers",
    "route",
    "time_intervals",
    "mute_time_intervals",
    "heartbeats",
}
"""Top-level sections a reload applies (but for RESTART_ONLY). A change in any other section
(one whose resources are built once at start-up) is reported as needing a restart, never
dropped silently; a section a reload learns to apply is added here."""


def restart_required(new: Config, running: Config) -> list[str]:
    """The changed settings that take effect only at the next start."""
    keys = [key for key, get in RESTART_ONLY.items() if get(new) != get(running)]
    keys += [
        name
        for name in type(new).model_fields
        if name not in APPLIED and getattr(new, name) != getattr(running, name)
    ]
    if enriched_lanes(new) != enriched_lanes(running):
        keys.append("enrich")  # which destinations are enriched is fixed at start-up
    return keys


def enriched_lanes(config: Config) -> frozenset[str]:
    """The destinations whose messages are enriched. The generic webhook gets nothing extra (its
    receivers expect Alertmanager's body): no fetch is made for it alone."""
    return frozenset(d.id for d, row, c in walk(config) if c.enrich and row.kind != "webhook")


@dataclass
class Live:
    """The integrations in use now (`app[SINKS]`); a reload replaces `built`."""

    built: Built

    @property
    def router(self) -> Router:
        return self.built.router

    @property
    def destinations(self) -> dict[str, Destination]:
        return self.built.destinations

    @property
    def sinks(self) -> dict[str, Sink]:
        return self.built.sinks


def make_ingestor(config: Config, router: Router, state: State, clock: Clock) -> Ingestor:
    """The ingestor of a configuration (start-up and every reload)."""
    return Ingestor(
        router,
        state.store,
        state.dispatcher,
        state.metrics,
        config.delivery.dedup_window,
        clock,
        state.remediator,
        state.heartbeats,
    )


def retry_policy(config: Config) -> RetryPolicy:
    d = config.delivery
    return RetryPolicy(d.retry_initial, d.retry_max, d.retry_horizon)


@dataclass(frozen=True)
class Outcome:
    """The result of one reload."""

    ok: bool
    problems: list[Problem] = field(default_factory=list)
    """(YAML path, message) of each problem when not ok."""
    restart_required: list[str] = field(default_factory=list)
    """Changed settings that take effect at the next start."""
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    swap_seconds: float = 0.0
    """How long the event loop was held by the switch itself."""


class Reloader:
    """Reloads `path` into a running app, one reload at a time."""

    def __init__(
        self,
        path: Path | None,
        *,
        state: State,
        live: Live,
        running: Config,
        session: aiohttp.ClientSession,
        clock: Clock,
        on_secrets: Callable[[Iterable[str]], None] | None = None,
    ) -> None:
        self.path = path
        self.state = state
        self.live = live
        self.running = running
        """The configuration the process started with (what RESTART_ONLY settings still are)."""
        self.session = session
        self.clock = clock
        self.on_secrets = on_secrets
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()

    def trigger(self, why: str) -> None:
        """Start a reload in the background (a signal handler cannot wait for it)."""
        self._background(self.reload(why), f"reload ({why})")

    def _background(self, work: Coroutine[Any, Any, Any], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait(self) -> None:
        """Wait for the reloads `trigger` started and the closing of replaced sinks."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def reload(self, why: str) -> Outcome:
        async with self._lock:
            log.info("reloading the configuration", extra={"trigger": why, "file": str(self.path)})
            outcome = await self._reload()
        metrics = self.state.metrics
        metrics.config_reload_ok.set(1 if outcome.ok else 0)
        if outcome.ok:
            metrics.config_reload_time.set(self.clock.now())
        return outcome

    def _failed(self, problems: list[Problem]) -> Outcome:
        log.error(
            "configuration reload failed; still running on the previous configuration",
            extra={"file": str(self.path), "problems": len(problems)},
        )
        for path, message in problems:
            log.error(
                "invalid configuration", extra={"file": str(self.path), "path": path, "problem": message}
            )
        return Outcome(False, problems)

    def _prepare(self, path: Path) -> tuple[Config, Credentials, Built]:
        """The configuration in `path`, loaded as `serve` loads it, and what it builds; raises
        ConfigError with every problem."""
        config = load_config(path).config
        try:
            credentials = Credentials.from_config(config.server.auth)
        except ValueError as exc:
            raise ConfigError([("server.auth", str(exc))]) from None
        try:
            built = build(config, session=self.session, send_timeout=self.running.delivery.send_timeout)
        except ValueError as exc:
            raise ConfigError([("receivers", str(exc))]) from None
        return config, credentials, built

    async def _reload(self) -> Outcome:
        if self.path is None:
            return self._failed([("", "the service was started without a configuration file")])
        try:
            # off the event loop: reading, validating, reading secret files, building clients
            # (a Telegram bot's HTTP clients load CA certificates: ~0.1 s each)
            config, credentials, built = await asyncio.to_thread(self._prepare, self.path)
        except ConfigError as exc:
            return self._failed(list(exc.problems))
        if self.on_secrets is not None:
            self.on_secrets([*secret_values(config), *credentials.secrets()])
        restart = restart_required(config, self.running)
        state, dispatcher = self.state, self.state.dispatcher

        # The switch: no await from here to `advance`.
        started = time.perf_counter()
        change = dispatcher.reconfigure(built.sinks, built.destinations)
        dispatcher.policy = retry_policy(config)
        dispatcher.set_storm(config.delivery.storm)
        state.config = config
        state.credentials = credentials
        state.ingestor = make_ingestor(config, built.router, state, self.clock)
        self.live.built = built
        if state.remediator is not None:  # the destinations its reports go to
            state.remediator.destinations = built.destinations
        if state.chat is not None:  # the destinations edits and escalations go to, the routes
            state.chat.destinations = built.destinations
            state.chat.route = config.route.tree
        beats = None
        if state.heartbeats is not None:
            beats = state.heartbeats.reconfigure([h.heartbeat for h in config.heartbeats], built.destinations)
            restart += beats.restart_required
        generation = state.ingests.advance()
        swap = time.perf_counter() - started

        await state.ingests.drained(generation)
        await dispatcher.finish(change)
        if change.removed:
            try:
                await dispatcher.dead_letter_unconfigured()
            except StoreUnavailable as exc:  # they stay pending; the next start or reload retries
                log.error(
                    "cannot dead-letter the notifications of removed destinations now",
                    extra={"destinations": change.removed, "error": str(exc)},
                )
        if beats is not None and beats.added and state.heartbeats is not None:
            try:
                await state.heartbeats.arm(beats.added)
            except StoreUnavailable as exc:  # armed at the next reload or start
                log.error(
                    "cannot arm the added heartbeats now",
                    extra={"heartbeats": beats.added, "error": str(exc)},
                )
        # a kept lane may be sending through its replaced sink: close those once done
        self._background(_close_after(change.sends, change.replaced), "close replaced sinks")
        for key in restart:
            log.warning(
                "changed setting needs a restart to take effect; the rest of the configuration is applied",
                extra={"key": key},
            )
        log.info(
            "configuration reloaded",
            extra={
                "file": str(self.path),
                "destinations": len(built.destinations),
                "added": change.added,
                "removed": change.removed,
                "restarted": change.restarted,
                "restart_required": restart,
                "swap_ms": round(swap * 1000, 3),
            },
        )
        return Outcome(True, [], restart, change.added, change.removed, swap)


async def _close_after(sends: list[asyncio.Future[None]], sinks: dict[str, Sink]) -> None:
    if sends:
        await asyncio.wait(sends)
    await close_sinks(sinks)


RELOADER = web.AppKey("reloader", Reloader)


async def reload_handler(request: web.Request) -> web.Response:
    """`POST /-/reload`, authenticated as the webhook. 200 when applied; 500 with the problems
    when the file is invalid (as Alertmanager answers a failed reload)."""
    state = request.app[STATE]
    header = request.headers.get("Authorization")
    if not state.credentials.check(header):
        scheme, reason = state.credentials.refusal_reason(header)
        state.refusals.refused("reload_unauthorized", request.remote, reason, status=401, scheme=scheme)
        return web.json_response(
            {"status": "error", "error": "missing or invalid credentials"},
            status=401,
            headers={"WWW-Authenticate": 'Bearer realm="alertmedic"'},
        )
    outcome = await request.app[RELOADER].reload("POST /-/reload")
    if not outcome.ok:
        problems = [{"field": path, "message": message} for path, message in outcome.problems]
        first = outcome.problems[0]
        return web.json_response(
            {
                "status": "error",
                "error": f"failed to reload config: {first[0] + ': ' if first[0] else ''}{first[1]}",
                "problems": problems,
            },
            status=500,
        )
    return web.json_response(
        {
            "status": "success",
            "added": outcome.added,
            "removed": outcome.removed,
            "restart_required": outcome.restart_required,
        }
    )
