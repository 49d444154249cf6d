"""The typed state the app factory builds and handlers read."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from app.config import Config
from app.engine.dispatcher import Dispatcher
from app.engine.ingest import Ingestor
from app.metrics import Metrics
from app.store.remediations import RemediatingStore
from app.web.auth import Credentials
from app.web.refusals import RefusalLog


@dataclass
class State:
    config: Config
    metrics: Metrics
    credentials: Credentials
    refusals: RefusalLog
    clock_now: Callable[[], float] = time.time
    store: RemediatingStore = field(init=False)
    dispatcher: Dispatcher = field(init=False)
    ingestor: Ingestor = field(init=False)
    """Filled in when the app starts (see app.web.app)."""


STATE = web.AppKey("state", State)
