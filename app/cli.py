"""Command line: `alertmedic serve | check-config | routes test|show | outbox [requeue] | actions ... |
incidents list|show | postmortem`."""

from __future__ import annotations

import argparse
import asyncio
import errno
import gc
import json
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from app import __version__
from app.config import (
    ConfigError,
    Loaded,
    StorageConfig,
    load_config,
    redact_url,
    secret_values,
    split_listen,
    sqlite_path,
)

if TYPE_CHECKING:
    from app.core.remediation.guards import Slot


def _problems(exc: ConfigError, out: TextIO) -> None:
    for path, message in exc.problems:
        print(f"{path}: {message}" if path else message, file=out)


def _load(path: str, *, check_files: bool = True) -> Loaded | None:
    try:
        return load_config(path, check_files=check_files)
    except ConfigError as exc:
        print(f"{path}: invalid configuration", file=sys.stderr)
        _problems(exc, sys.stderr)
        return None


def _warn(loaded: Loaded) -> None:
    for path, message in loaded.warnings:
        print(f"warning: {path}: {message}", file=sys.stderr)


def cmd_check_config(args: argparse.Namespace) -> int:
    loaded = _load(args.file, check_files=args.strict)
    if loaded is None:
        return 1
    _warn(loaded)
    c = loaded.config
    n = sum(1 for r in c.receivers for _ in r.integrations())
    print(
        f"{args.file}: OK ({len(c.receivers)} receivers, {n} integrations;"
        f" storage {redact_url(c.storage.url)})"
    )
    return 0


def _instant(text: str | None) -> datetime:
    """`--time` (RFC 3339, with its offset or Z), or now."""
    if text is None:
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"invalid --time {text!r}: expected RFC 3339, e.g. 2026-11-28T03:00:00+01:00"
        ) from None
    if at.tzinfo is None:
        raise ValueError(f"invalid --time {text!r}: give its UTC offset (+01:00) or Z")
    return at


def cmd_routes_test(args: argparse.Namespace) -> int:
    from app.core.routing import match_at

    loaded = _load(args.config, check_files=False)
    if loaded is None:
        return 1
    _warn(loaded)
    try:
        at = _instant(args.time)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    labels: dict[str, str] = {}
    for item in args.labels:
        name, sep, value = item.partition("=")
        if not sep or not name:
            print(f"invalid label {item!r}: expected name=value", file=sys.stderr)
            return 2
        labels[name] = value.strip('"')
    config = loaded.config
    routed = match_at(config.route.tree, labels, intervals=config.time_table, at=at)
    receivers = list(routed.receivers)
    print(",".join(receivers))
    for muted in routed.muted:
        print(f"muted: {muted} at {at.isoformat()}", file=sys.stderr)
    if args.verify_receivers is not None:
        want = [r for r in args.verify_receivers.split(",") if r]
        if want != receivers:
            print(
                f"WARNING: expected receivers {','.join(want)!r}, got {','.join(receivers)!r}",
                file=sys.stderr,
            )
            return 1
    return 0


def cmd_routes_show(args: argparse.Namespace) -> int:
    from app.core.routes_show import render_routes

    loaded = _load(args.config, check_files=False)
    if loaded is None:
        return 1
    _warn(loaded)
    print(render_routes(loaded.config.route.tree, time_intervals=args.time_intervals), end="")
    return 0


class StartupFailed(Exception):
    """The service cannot start; the message is the one line printed."""


def cmd_serve(args: argparse.Namespace) -> int:
    """Every failure to start is one line on stderr and exit code 1, never a traceback."""
    try:
        return _serve(args)
    except StartupFailed as exc:
        print(f"alertmedic: cannot start: {exc}", file=sys.stderr)
        return 1


def _serve(args: argparse.Namespace) -> int:
    import logging

    from aiohttp import web

    from app.logs import add_secrets, setup_logging
    from app.store.base import StoreUnavailable
    from app.store.preflight import DatabaseUnusable, check_database
    from app.web.app import create_app

    try:
        config = load_config(args.config).config
    except ConfigError as exc:
        # One line per problem, each naming the file and the YAML path.
        for path, message in exc.problems:
            print(
                f"alertmedic: cannot start: {args.config}: {path + ': ' if path else ''}{message}",
                file=sys.stderr,
            )
        return 1
    setup_logging(level=args.log_level, secrets=secret_values(config))
    try:
        note = None if config.storage.postgres else check_database(sqlite_path(config.storage.url))
    except DatabaseUnusable as exc:
        raise StartupFailed(str(exc)) from None
    host, port = split_listen(config.server.listen)
    sock = _bind(host, port)  # before anything starts or is announced
    try:
        app = create_app(config, config_path=Path(args.config), on_secrets=add_secrets)
    except (OSError, ValueError) as exc:
        sock.close()
        raise StartupFailed(str(exc)) from None
    if note:
        logging.getLogger("alertmedic").warning(note)
    if args.banner:
        _banner(args.config, host, port)
    app.on_startup.append(_settle_gc)
    app.on_startup.append(_reload_on_sighup())
    try:
        web.run_app(
            app,
            sock=sock,
            print=None,
            access_log=None,
            shutdown_timeout=config.server.shutdown_timeout,
            handle_signals=True,
        )
    except (StoreUnavailable, OSError, ValueError) as exc:
        sock.close()  # e.g. the database refused the configuration before the site took it
        raise StartupFailed(str(exc)) from None
    return 0


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or StartupFailed saying why not."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise StartupFailed(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        hint = (
            " (another process uses it: stop it or change server.listen)"
            if exc.errno == errno.EADDRINUSE
            else ""
        )
        raise StartupFailed(f"cannot listen on {host}:{port}: {exc.strerror}{hint}") from None
    sock.setblocking(False)
    return sock


def _reload_on_sighup() -> Callable[[object], Awaitable[None]]:
    """SIGHUP reloads the configuration, as for Prometheus and Alertmanager (its default action
    would end the process with code 129). One that arrives while the service starts is
    remembered and acted on once it runs."""
    early: list[int] = []
    signal.signal(signal.SIGHUP, lambda signum, frame: early.append(signum))

    async def install(app: object) -> None:
        from aiohttp import web

        from app.web.reload import RELOADER

        assert isinstance(app, web.Application)
        reloader = app[RELOADER]
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reloader.trigger, "SIGHUP")
        if early:
            reloader.trigger("SIGHUP")

    return install


async def _settle_gc(app: object) -> None:
    """Start-up objects live for the whole process: freeze them out of the collector's scans and
    collect less often. Full collections of a busy heap measured 24-46 ms each (the latency
    tail); after this they are a few ms."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 20, 20)


GC_THRESHOLD = 20_000
"""Allocations between young-generation collections (CPython's default is 700)."""


def _banner(config_path: str, host: str, port: int) -> None:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104
    url = f"http://{shown}:{port}"
    print(
        f"""
alertmedic {__version__} on {url} (config: {config_path})

  Send a test alert:   curl -sS -H 'Authorization: Bearer local-demo-token' \\
                         -H 'Content-Type: application/json' \\
                         --data @examples/test-alert.json {url}/webhook/alertmanager
  Resolve it:          same with examples/test-alert-resolved.json
  See it delivered:    tail -f data/inbox.log      (the example's 'file' receiver)
  Health and metrics:  {url}/readyz   {url}/metrics
  Stop:                Ctrl-C (undelivered notifications stay in data/alertmedic.db)
""",
        flush=True,
    )


def cmd_outbox(args: argparse.Namespace) -> int:
    """Pending jobs and recent dead letters as JSON; what can be read when the file is damaged."""
    import dataclasses

    from app.config import sqlite_path
    from app.store import StoreUnavailable, open_store
    from app.store.salvage import salvage

    if getattr(args, "config", None) is None:
        print("alertmedic outbox: --config is required", file=sys.stderr)
        return 2
    loaded = _load(args.config, check_files=False)
    if loaded is None:
        return 1
    storage = loaded.config.storage
    if getattr(args, "outbox_command", None) == "requeue":
        return _requeue(args, storage)

    async def run() -> dict[str, object]:
        store = open_store(storage)
        await store.start()
        try:
            return {
                "pending": await store.pending_count(),
                "dead_letters": [dataclasses.asdict(d) for d in await store.dead_letters(limit=args.limit)],
            }
        finally:
            await store.close()

    try:
        report = asyncio.run(run())
    except StoreUnavailable as exc:
        if storage.postgres:  # no file to salvage: the database answers whole or not at all
            print(f"cannot open the store: {exc}", file=sys.stderr)
            return 1
        path = sqlite_path(storage.url)
        print(f"{path}: cannot open the store ({exc}); showing what can be read", file=sys.stderr)
        found = salvage(path, limit=args.limit)
        report = {
            "pending": found.pending,
            "pending_by_destination": found.pending_by_lane,
            "dead_letters": [dataclasses.asdict(d) for d in found.dead_letters],
            "problems": [str(exc), *found.problems],
        }
        print(json.dumps(report, indent=2, default=str))
        return 1
    print(json.dumps(report, indent=2, default=str))
    return 0


def _requeue(args: argparse.Namespace, storage: StorageConfig) -> int:
    import time

    from app.store import StoreUnavailable, open_store

    if not args.dead and not args.ids:
        print("alertmedic outbox requeue: give job ids or --dead", file=sys.stderr)
        return 2

    async def run() -> list[int]:
        store = open_store(storage)
        await store.start()
        try:
            return await store.requeue(None if args.dead else args.ids, now=time.time())
        finally:
            await store.close()

    try:
        done = asyncio.run(run())
    except StoreUnavailable as exc:
        print(f"cannot requeue: {exc}", file=sys.stderr)
        return 1
    missing = sorted(set(args.ids or ()) - set(done))
    print(json.dumps({"requeued": done, "not_dead": missing}))
    return 1 if missing else 0


def _labels(items: Sequence[str]) -> dict[str, str] | None:
    labels: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            print(f"invalid label {item!r}: expected name=value", file=sys.stderr)
            return None
        labels[name] = value.strip('"')
    return labels


def cmd_actions(args: argparse.Namespace) -> int:
    """`actions test | list | approve | reject`: self-healing from the command line."""
    loaded = _load(args.config, check_files=False)
    if loaded is None:
        return 1
    settings = loaded.config.remediation
    if args.actions_command == "test":
        return _actions_test(args, loaded)
    if settings is None:
        print(f"{args.config}: no remediation section", file=sys.stderr)
        return 1
    return asyncio.run(_actions_store(args, loaded.config.storage))


def _actions_test(args: argparse.Namespace, loaded: Loaded) -> int:
    import time
    from datetime import UTC, datetime

    from app.core.remediation.explain import explain
    from app.store.remediations import held_slots

    settings = loaded.config.remediation
    labels = _labels(args.labels)
    if labels is None:
        return 2
    annotations = _labels(args.annotation or [])
    if annotations is None:
        return 2
    if settings is None or not settings.actions:
        print("no action configured (no remediation section)")
        return 0
    storage = loaded.config.storage
    slots = (
        asyncio.run(_held_slots(storage)) if storage.postgres else held_slots(str(sqlite_path(storage.url)))
    )
    now = datetime.fromtimestamp(time.time(), UTC)
    for line in explain(
        labels, settings.specs(), settings.policy(), slots=slots, now=now, annotations=annotations
    ):
        print(line)
    return 0


async def _held_slots(storage: StorageConfig) -> dict[str, Slot]:
    """Every guard slot held in a PostgreSQL store (none when it cannot be read: said on stderr)."""
    from app.store import StoreUnavailable, open_store
    from app.store.postgres import PostgresStore, read_all_slots

    store = open_store(storage)
    assert isinstance(store, PostgresStore)
    try:
        await store.start()
        return await read_all_slots(store)
    except StoreUnavailable as exc:
        print(f"cannot read the guard slots, explaining without them: {exc}", file=sys.stderr)
        return {}
    finally:
        await store.close()


async def _actions_store(args: argparse.Namespace, storage: StorageConfig) -> int:
    import dataclasses
    import time

    from app.engine.approval import decide_approval
    from app.store import StoreUnavailable, open_store

    try:
        store = open_store(storage)
        await store.start()
    except StoreUnavailable as exc:
        print(f"cannot open the store: {exc}", file=sys.stderr)
        return 1
    try:
        if args.actions_command == "list":
            for rec in await store.remediations(limit=args.limit, open_only=args.pending):
                row = dataclasses.asdict(rec)
                for key in ("intent", "claims", "pinned"):
                    row.pop(key)
                print(json.dumps(row, default=str))
            return 0
        approve = args.actions_command == "approve"
        result = await decide_approval(store, args.id, approve=approve, actor=args.actor, now=time.time())
        if isinstance(result, str):
            print(result, file=sys.stderr)
            return 1
        print(f"action {result.id} {result.state} by {result.actor}; the service carries it out")
        return 0
    finally:
        await store.close()


def cmd_incidents(args: argparse.Namespace) -> int:
    """`incidents list | show ID` and `postmortem ID`: read the store, print, exit 1 on an unknown id."""
    loaded = _load(args.config, check_files=False)
    if loaded is None:
        return 1
    return asyncio.run(_incidents(args, loaded.config.storage))


async def _incidents(args: argparse.Namespace, storage: StorageConfig) -> int:
    import time

    from app.core.incident_text import render_detail, render_list
    from app.core.incidents import IncidentFilter
    from app.engine import incidents
    from app.store import StoreUnavailable, open_store

    store = open_store(storage)
    try:
        await store.start()
    except StoreUnavailable as exc:
        print(f"cannot open the store: {exc}", file=sys.stderr)
        return 1
    try:
        now = time.time()
        if args.command == "incidents" and args.incidents_command == "list":
            state = "all" if args.all else "resolved" if args.resolved else "open"
            flt = IncidentFilter(state, args.namespace, args.severity, args.receiver)  # type: ignore[arg-type]
            print(render_list(await incidents.list_incidents(store, flt, limit=args.limit), now=now), end="")
            return 0
        found = await incidents.resolve_id(store, args.id)
        if found is None or found == "ambiguous":
            why = "several incidents start with it; give more of the id" if found else "no such incident"
            print(f"alertmedic {args.command}: {args.id}: {why}", file=sys.stderr)
            return 1
        if args.command == "postmortem":
            text = await incidents.postmortem(store, found, now=now)
        else:
            detail = await incidents.incident(store, found)
            text = None if detail is None else render_detail(detail)
        if text is None:  # purged between the two reads
            print(f"alertmedic {args.command}: {args.id}: no such incident", file=sys.stderr)
            return 1
        print(text, end="")
        return 0
    finally:
        await store.close()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="alertmedic", description=__doc__)
    p.add_argument("--version", action="version", version=f"alertmedic {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the webhook receiver and delivery workers")
    s.add_argument("--config", required=True, help="YAML configuration file")
    s.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    s.add_argument("--banner", action="store_true", help="print how to try it (used by make run)")
    s.set_defaults(func=cmd_serve)

    c = sub.add_parser("check-config", help="validate a configuration file and list every problem")
    c.add_argument("file")
    c.add_argument(
        "--strict", action="store_true", help="also fail when a secret file (*_file) cannot be read"
    )
    c.set_defaults(func=cmd_check_config)

    r = sub.add_parser("routes", help="routing tools")
    rsub = r.add_subparsers(dest="routes_command", required=True)
    t = rsub.add_parser("test", help="print the receivers an alert with these labels reaches")
    t.add_argument("--config", required=True)
    t.add_argument(
        "--verify-receivers", default=None, help="comma-separated receivers expected; exit 1 when different"
    )
    t.add_argument(
        "--time",
        default=None,
        help="evaluate time intervals at this RFC 3339 instant (2026-11-28T03:00:00+01:00); default now",
    )
    t.add_argument("labels", nargs="*", metavar="label=value")
    t.set_defaults(func=cmd_routes_test)
    w = rsub.add_parser("show", help="print the route tree (like amtool config routes show)")
    w.add_argument("--config", required=True)
    w.add_argument(
        "--time-intervals", action="store_true", help="show each route's mute and active time intervals"
    )
    w.set_defaults(func=cmd_routes_show)

    o = sub.add_parser("outbox", help="show pending notifications and recent dead letters")
    o.add_argument("--config", default=None, help="YAML configuration file (required)")
    o.add_argument("--limit", type=int, default=20)
    o.set_defaults(func=cmd_outbox)
    osub = o.add_subparsers(dest="outbox_command")
    rq = osub.add_parser("requeue", help="give dead-lettered notifications another try")
    rq.add_argument("--config", default=argparse.SUPPRESS, help="YAML configuration file")
    rq.add_argument("--dead", action="store_true", help="every dead letter")
    rq.add_argument("ids", nargs="*", type=int, metavar="ID", help="job ids (from `alertmedic outbox`)")

    a = sub.add_parser("actions", help="self-healing: test, list, approve, reject")
    asub = a.add_subparsers(dest="actions_command", required=True)
    at = asub.add_parser(
        "test", help="which actions an alert with these labels would trigger (no side effects)"
    )
    at.add_argument("--config", required=True)
    at.add_argument("--annotation", action="append", metavar="name=value", help="an annotation of the alert")
    at.add_argument("labels", nargs="*", metavar="label=value")
    al = asub.add_parser("list", help="the record of actions and refusals, newest first (JSON lines)")
    al.add_argument("--config", required=True)
    al.add_argument("--pending", action="store_true", help="only actions not finished yet")
    al.add_argument("--limit", type=int, default=50)
    for verb in ("approve", "reject"):
        av = asub.add_parser(verb, help=f"{verb} an action awaiting approval")
        av.add_argument("--config", required=True)
        av.add_argument("--actor", default=_whoami(), help="who decides (recorded; default: the user)")
        av.add_argument("id", type=int, metavar="ID")
    a.set_defaults(func=cmd_actions)

    i = sub.add_parser("incidents", help="incidents (alert groups) and their timelines")
    isub = i.add_subparsers(dest="incidents_command", required=True)
    il = isub.add_parser("list", help="open incidents by severity and age (--all: resolved ones too)")
    il.add_argument("--config", required=True)
    which = il.add_mutually_exclusive_group()
    which.add_argument("--all", action="store_true", help="open and resolved")
    which.add_argument("--resolved", action="store_true", help="only resolved ones")
    il.add_argument("--namespace", default=None)
    il.add_argument("--severity", default=None)
    il.add_argument("--receiver", default=None)
    il.add_argument("--limit", type=int, default=200)
    ish = isub.add_parser("show", help="one incident and its timeline")
    ish.add_argument("--config", required=True)
    ish.add_argument("id", metavar="ID", help="incident id, or a unique prefix of one")
    i.set_defaults(func=cmd_incidents)
    pm = sub.add_parser("postmortem", help="print an incident's post-mortem draft (Markdown)")
    pm.add_argument("--config", required=True)
    pm.add_argument("id", metavar="ID", help="incident id, or a unique prefix of one")
    pm.set_defaults(func=cmd_incidents)
    return p


def _whoami() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
