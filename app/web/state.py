"""The typed state the app factory builds and handlers read."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from aiohttp import web

from app.config import Config
from app.engine.chat import ChatView
from app.engine.dispatcher import Dispatcher
from app.engine.heartbeats import Heartbeats
from app.engine.ingest import Ingestor
from app.engine.remediation import Remediator
from app.metrics import Metrics
from app.store.remediations import RemediatingStore
from app.web.auth import Credentials
from app.web.refusals import RefusalLog


class Ingests:
    """The webhooks being ingested, by configuration generation: a reload waits for those
    planned with the previous route tree before it dead-letters what that tree still routed
    to removed destinations."""

    def __init__(self) -> None:
        self.generation = 0
        self._active: Counter[int] = Counter()
        self._changed = asyncio.Event()

    @contextlib.contextmanager
    def track(self) -> Iterator[None]:
        gen = self.generation
        self._active[gen] += 1
        try:
            yield
        finally:
            self._active[gen] -= 1
            if not self._active[gen]:
                del self._active[gen]
                self._changed.set()

    def advance(self) -> int:
        self.generation += 1
        return self.generation

    async def drained(self, generation: int) -> None:
        """Return once no ingest of a generation before `generation` is in progress."""
        while any(g < generation for g in self._active):
            self._changed.clear()
            await self._changed.wait()


@dataclass
class State:
    config: Config
    metrics: Metrics
    credentials: Credentials
    refusals: RefusalLog
    clock_now: Callable[[], float] = time.time
    ingests: Ingests = field(default_factory=Ingests)
    remediator: Remediator | None = None
    """Set at start-up when self-healing is configured; every ingestor built hands it intents."""
    store: RemediatingStore = field(init=False)
    dispatcher: Dispatcher = field(init=False)
    ingestor: Ingestor = field(init=False)
    chat: ChatView | None = None
    """Filled in when the app starts (see app.web.app)."""
    heartbeats: Heartbeats | None = None
    """The dead-man's switch (set at start-up, with or without configured heartbeats)."""


STATE = web.AppKey("state", State)
