"""What only the PostgreSQL store has: both schema dialects agree, replicas migrating one database at
once, refusals that are configuration problems, an unreachable server at start and a connection
lost later (through `tests.pg.Outage`, a relay the test takes down), sslmode.

The protocol's behaviour itself is the contract suite (test_contract.py and friends), run on both.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.store.base import StoreUnavailable
from app.store.migrations import MIGRATIONS
from app.store.migrations import migrate as sqlite_migrate
from app.store.pg_migrations import PG_MIGRATIONS
from app.store.postgres import PostgresStore, StoreRefused
from tests.pg import SERVER, Outage, free_port, fresh_database, fresh_schema, run_sql
from tests.store.conftest import planned

DEDUP = 300.0


def schema_of(url: str) -> str:
    return url.rsplit("search_path=", 1)[1]


@pytest.fixture
def outage() -> Iterator[Outage]:
    relay = Outage()
    yield relay
    relay.close()


class Sleeps:
    """The store's backoff sleep: records what it was asked to wait, waits a moment only."""

    def __init__(self) -> None:
        self.asked: list[float] = []
        self.four = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        if len(self.asked) >= 4:
            self.four.set()
        await asyncio.sleep(0.02)


async def until_ready(store: PostgresStore, *, within: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        try:
            await store.ping()
            return
        except StoreUnavailable:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.05)


async def test_both_dialects_define_the_same_versions_tables_and_columns(
    tmp_path: Path, pg_database: str
) -> None:
    assert len(PG_MIGRATIONS) == len(MIGRATIONS)
    conn = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    sqlite_migrate(conn)
    tables = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'sqlite_sequence'"
        )
    ]
    lite = {t: {r[1] for r in conn.execute(f"PRAGMA table_info({t})")} for t in tables}
    conn.close()
    url = fresh_schema(pg_database)
    store = PostgresStore(url, shown=url)
    await store.start()
    await store.close()
    rows = run_sql(
        pg_database.rsplit("/", 1)[1],
        "SELECT table_name, column_name FROM information_schema.columns"
        f" WHERE table_schema = '{schema_of(url)}'",
    )
    pg: dict[str, set[str]] = {}
    for table, column in rows:
        pg.setdefault(table, set()).add(column)
    assert pg == lite


async def test_four_replicas_starting_at_once_migrate_one_fresh_database_once() -> None:
    with fresh_database() as url:
        stores = [PostgresStore(url, shown=url, pool_size=2) for _ in range(4)]
        try:
            await asyncio.gather(*(s.start() for s in stores))
            version = run_sql(url.rsplit("/", 1)[1], "SELECT value FROM meta WHERE key = 'schema_version'")
            assert [r[0] for r in version] == [str(len(PG_MIGRATIONS))]
            # each replica sees what another wrote
            res = await stores[0].ingest([planned("g", ("a", "firing"))], now=1, dedup_window=DEDUP)
            assert len(res.enqueued) == 1
            assert [await s.pending_count() for s in stores] == [1, 1, 1, 1]
        finally:
            for s in stores:
                await s.close()


async def test_a_schema_from_a_newer_alertmedic_is_refused(pg_database: str) -> None:
    url = fresh_schema(pg_database)
    first = PostgresStore(url, shown=url)
    await first.start()
    await first.close()
    run_sql(
        pg_database.rsplit("/", 1)[1],
        f"UPDATE {schema_of(url)}.meta SET value = '99' WHERE key = 'schema_version'",
    )
    store = PostgresStore(url, shown=url, keep_trying=True)
    with pytest.raises(StoreRefused, match="schema v99 is newer than this alertmedic"):
        await store.start()
    await store.close()


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (f"{SERVER}/no_such_database_here", 'database "no_such_database_here" does not exist'),
        (SERVER.replace("postgres@", "nobody_at_all@") + "/postgres", 'role "nobody_at_all" does not exist'),
    ],
)
async def test_an_unknown_database_or_role_is_a_configuration_problem_not_retried(
    url: str, says: str
) -> None:
    store = PostgresStore(url, shown=url, keep_trying=True)
    with pytest.raises(StoreRefused, match=says):
        await store.start()
    await store.close()


async def test_an_unreachable_server_is_store_unavailable_without_the_password() -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql://postgres:pa55word@127.0.0.1:{port}/alertmedic"
    shown = f"postgresql://postgres:***@127.0.0.1:{port}/alertmedic"
    store = PostgresStore(url, shown=shown, timeout=2)
    with pytest.raises(StoreUnavailable) as err:
        await store.start()
    assert not isinstance(err.value, StoreRefused)
    assert shown in str(err.value) and "pa55word" not in str(err.value)
    await store.close()


async def test_started_while_the_server_is_away_it_keeps_trying_and_connects_when_it_appears(
    outage: Outage, pg_database: str
) -> None:
    url = outage.url(fresh_schema(pg_database))
    sleeps = Sleeps()
    store = PostgresStore(url, shown=url, keep_trying=True, sleep=sleeps, timeout=2)
    await store.start()  # returns: the replica stays up
    try:
        with pytest.raises(StoreUnavailable, match=f"127.0.0.1:{outage.port}"):
            await store.ping()
        with pytest.raises(StoreUnavailable):
            await store.ingest([planned("g", ("a", "firing"))], now=1, dedup_window=DEDUP)
        await asyncio.wait_for(sleeps.four.wait(), 15)
        assert sleeps.asked[:4] == [0.5, 1.0, 2.0, 4.0]  # backoff on the injected clock
        outage.up()
        await until_ready(store)
        res = await store.ingest([planned("g", ("a", "firing"))], now=1, dedup_window=DEDUP)
        assert len(res.enqueued) == 1
    finally:
        await store.close()


async def test_connection_loss_gives_store_unavailable_then_recovers_without_restart(
    outage: Outage, pg_database: str
) -> None:
    outage.up()
    url = outage.url(fresh_schema(pg_database))
    store = PostgresStore(url, shown=url, timeout=2)
    await store.start()
    try:
        await store.ingest([planned("g", ("a", "firing"))], now=1, dedup_window=DEDUP)
        outage.down()
        with pytest.raises(StoreUnavailable):
            await store.ingest([planned("g", ("a", "firing"), ("b", "firing"))], now=2, dedup_window=DEDUP)
        with pytest.raises(StoreUnavailable):
            await store.ping()
        outage.up()
        await until_ready(store)
        res = await store.ingest([planned("g", ("a", "firing"), ("b", "firing"))], now=3, dedup_window=DEDUP)
        assert len(res.enqueued) == 1 and await store.pending_count() == 2
    finally:
        await store.close()


async def test_sslmode_is_honoured(pg_database: str) -> None:
    """`sslmode=require` insists on TLS: on a server without it the connection fails; with it the
    session is encrypted. `disable` never uses TLS."""
    server_ssl = run_sql("postgres", "SHOW ssl")[0][0] == "on"
    plain = PostgresStore(pg_database, shown=pg_database, ssl="disable")
    await plain.start()
    try:
        assert await plain._run(lambda c: c.fetchval(_MY_SSL)) is False
    finally:
        await plain.close()
    tls = PostgresStore(pg_database, shown=pg_database, ssl="require", timeout=3)
    if server_ssl:
        await tls.start()
        try:
            assert await tls._run(lambda c: c.fetchval(_MY_SSL)) is True
        finally:
            await tls.close()
    else:
        with pytest.raises(StoreUnavailable, match="SSL"):
            await tls.start()


_MY_SSL = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


async def test_concurrent_chat_notes_of_a_new_group_from_two_replicas_make_one_row(pg_database: str) -> None:
    url = fresh_schema(pg_database)
    a, b = PostgresStore(url, shown=url), PostgresStore(url, shown=url)
    await a.start()
    await b.start()
    try:
        got = await asyncio.gather(
            *(
                s.chat_note("g", "{}", firing=frozenset({"x"}), resolved=False, at=1, now=1)
                for s in (a, b) * 4
            )
        )
        assert sum(g.started for g in got) == 1
        assert (await a.chat_group(got[0].ref)) is not None
    finally:
        await a.close()
        await b.close()
