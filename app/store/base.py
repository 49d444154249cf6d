"""The Store protocol the engine uses, and the records it returns. SQLite today, PostgreSQL later."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from app.core.plan import Planned


class StoreUnavailable(Exception):
    """The store cannot take writes now (disk full, locked, closed): callers answer 503."""


@dataclass(frozen=True)
class OutboxRow:
    id: int
    destination: str
    group_key: str
    kind: str
    payload: str
    """The Group as JSON."""
    accepted_at: float
    attempts: int
    next_attempt_at: float
    message_ref: dict[str, Any] | None
    """The thread's message reference when the row was read."""


@dataclass(frozen=True)
class IngestResult:
    enqueued: list[tuple[str, int]]
    """(destination, outbox row id) of each notification recorded."""
    duplicates: list[str]
    """Destinations for which the message was a duplicate."""


class Store(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def ingest(self, plans: Sequence[Planned], *, now: float, dedup_window: float) -> IngestResult:
        """Record the notifications `plans` imply, durably, in one transaction; dedup by thread."""
        ...

    async def next_batch(self, destination: str, *, limit: int, after: int = 0) -> list[OutboxRow]:
        """Pending rows of one destination in acceptance order, with ids above `after`."""
        ...

    def mark_delivered(self, row: OutboxRow, *, ref: dict[str, Any] | None, now: float) -> Awaitable[None]:
        """Record a delivery. Takes its place in the store's order at the call, so a lane can
        send the next row while the record commits; later reads see it."""
        ...

    async def mark_retry(self, row_id: int, *, attempts: int, next_attempt_at: float, error: str) -> None: ...

    async def mark_dead(self, row_id: int, *, reason: str, now: float) -> None: ...

    async def mark_dead_destination(self, destination: str, *, reason: str, now: float) -> int:
        """Dead-letter every pending row of a destination; return how many."""
        ...

    async def pending_count(self) -> int: ...

    async def pending_destinations(self) -> set[str]: ...

    async def ping(self) -> None:
        """Raise StoreUnavailable unless a write transaction can be taken now."""
        ...

    async def purge(self, *, older_than: float) -> int:
        """Delete finished rows and idle threads older than the timestamp; return rows removed."""
        ...
