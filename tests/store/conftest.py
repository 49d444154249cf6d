"""Store fixtures shared by the contract suite and the SQLite tests: planned groups, stores by kind.

`STORES` is the list of stores that must honour the Store protocol's contract: every test taking
`store` or `open_store` runs on each. PostgreSQL: one database per test run (`pg_database` of
tests/conftest.py), a fresh schema of it per test; every `open_store()` of a test opens the same
schema (like two replicas).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.core.models import Alert, Group
from app.core.plan import Destination, Planned
from app.store.base import Store
from app.store.postgres import PostgresStore
from app.store.sqlite import SQLiteStore
from tests.pg import fresh_schema

DEST = Destination("oncall/telegram[0]", "oncall", "telegram", True)
T0 = datetime(2026, 1, 1, tzinfo=UTC)
STORES = ["sqlite", "postgres"]

OpenStore = Callable[[], Awaitable[Store]]


def planned(group_key: str, *states: tuple[str, str], dest: Destination = DEST) -> Planned:
    alerts = [
        Alert(status=s, labels={"alertname": "X", "i": fp}, startsAt=T0, fingerprint=fp)  # type: ignore[arg-type]
        for fp, s in states
    ]
    status = "firing" if any(s == "firing" for _, s in states) else "resolved"
    return Planned(
        dest,
        Group(
            groupKey=group_key,
            status=status,
            receiver=dest.receiver,  # type: ignore[arg-type]
            groupLabels={},
            commonLabels={},
            commonAnnotations={},
            externalURL="",
            alerts=alerts,
        ),
    )


def postgres_store(url: str) -> PostgresStore:
    return PostgresStore(url, shown=url, pool_size=4)


@pytest.fixture(params=STORES)
async def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[OpenStore]:
    """Opens a new, started store instance on the same shared state each call (another process
    would see the same); all are closed at the end."""
    opened: list[Store] = []
    url = fresh_schema(request.getfixturevalue("pg_database")) if request.param == "postgres" else ""

    async def go() -> Store:
        s: Store = (
            postgres_store(url)
            if request.param == "postgres"
            else SQLiteStore(tmp_path / "state.db", busy_timeout=10)
        )
        await s.start()
        opened.append(s)
        return s

    yield go
    for s in opened:
        await s.close()


@pytest.fixture
async def store(open_store: OpenStore) -> Store:
    return await open_store()
