"""The PostgreSQL the tests use: 127.0.0.1:5432, user postgres, trust auth (scripts/system-deps.sh
makes sure of it). Every test run works in databases of its own, dropped at the end.

`fresh_database()` gives a new, empty database's URL (e.g. for real `serve` processes on
PostgreSQL in end-to-end tests); `fresh_schema(url)` an empty schema in one, as a URL whose
connections see only that schema (cheap isolation per test); `Outage` a relay to the server
that a test takes down and brings back (unreachable at start, connection loss, recovery).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

SERVER = os.environ.get("ALERTMEDIC_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
"""The server (no database): override with ALERTMEDIC_TEST_PG."""


def run_sql(database: str, *statements: str) -> list[Any]:
    """Run statements on `database` from a thread of its own (callable inside or outside a running
    event loop); the rows of the last one."""
    out: list[Any] = []
    failure: list[BaseException] = []

    async def go() -> None:
        conn = await asyncpg.connect(f"{SERVER}/{database}", timeout=10)
        try:
            for stmt in statements:
                out[:] = await conn.fetch(stmt)
        finally:
            await conn.close()

    def thread() -> None:
        try:
            asyncio.run(go())
        except BaseException as exc:  # re-raised in the caller
            failure.append(exc)

    t = threading.Thread(target=thread)
    t.start()
    t.join()
    if failure:
        raise failure[0]
    return out


def unique_name(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"


@contextmanager
def fresh_database(prefix: str = "alertmedic_test") -> Iterator[str]:
    """A new empty database's URL, dropped (connections and all) when the block ends."""
    name = unique_name(prefix)
    run_sql("postgres", f'CREATE DATABASE "{name}"')
    try:
        yield f"{SERVER}/{name}"
    finally:
        run_sql("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fresh_schema(database_url: str, prefix: str = "t") -> str:
    """A new empty schema in the database of `database_url`; the URL whose connections use it
    (asyncpg passes unknown URL parameters on as server settings: `search_path`)."""
    name = unique_name(prefix)
    run_sql(database_url.rsplit("/", 1)[1], f'CREATE SCHEMA "{name}"')
    return f"{database_url}?search_path={name}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Outage:
    """A TCP relay on 127.0.0.1:`port` to the test PostgreSQL that a test switches on and off: off,
    the port refuses connections and every relayed connection is cut (a server restart, a network
    partition). Runs on a thread of its own, so sync tests (driving a `serve` child process) and
    async tests use it alike."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        target = urlsplit(SERVER)
        self._target = (target.hostname or "127.0.0.1", target.port or 5432)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def url(self, database_url: str) -> str:
        """`database_url` (on SERVER) reached through this relay instead."""
        parts = urlsplit(database_url)
        user = f"{parts.username}@" if parts.username else ""
        return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{self.port}"))

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def up(self) -> None:
        self._call(self._up())

    def down(self) -> None:
        self._call(self._down())

    def close(self) -> None:
        self.down()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _up(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def _down(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}
