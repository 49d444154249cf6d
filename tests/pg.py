"""The PostgreSQL the tests use: 127.0.0.1:5432, user postgres, trust auth (scripts/system-deps.sh
makes sure of it). Every test run works in databases of its own, dropped at the end.

`fresh_database()` gives a new, empty database's URL (e.g. for real `serve` processes on
PostgreSQL in end-to-end tests); `fresh_schema(url)` an empty schema in one, as a URL whose
connections see only that schema (cheap isolation per test).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

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
