"""Job types and their handlers, registered in one place (`build_handlers`).

A job is durable work with a type, a lane (what must stay in order) and a `not_before`. The
dispatcher claims a lane's jobs, waits for `not_before`, asks the job's handler how long to wait
(rate limits), runs it, and applies the same retry, dead-letter and record rules to every type.

Registered: `notify`; `heartbeat` (app.engine.heartbeats: the dead-man's switch's timers); with
self-healing on `remediate`, `verify`, `report`
(app.engine.remediate); with chat-ops (or remediation outcome lines) `edit`, `escalate`, `show`
(app.engine.chat). To add a type: write a
class with the three methods of `JobHandler` in its own module, register it in `build_handlers`,
and enqueue its jobs with `Store.enqueue(NewJob(type=..., lane=..., ...))` then
`Dispatcher.ensure_lane(lane)` (at start-up too, for its lanes in `Store.pending_lanes()`). A job
whose type has no handler stays queued and holds its lane. A handler raises
app.core.errors.RetryableError (try again later, optionally after `retry_after`) or
PermanentError (dead-letter now); anything else is retried.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol

from app.core.clock import Clock
from app.metrics import Metrics
from app.sinks.base import Sink
from app.store.base import Job

if TYPE_CHECKING:
    from app.engine.chat import ChatView
    from app.engine.enrich import GroupEnrichment
    from app.engine.heartbeats import Heartbeats
    from app.engine.rates import Rates
    from app.engine.remediation import Remediator

Ref = dict[str, Any] | None
"""The thread's message reference a job reads and may replace (JSON-serialisable)."""

Outcome = Literal["done", "dead"]


class JobHandler(Protocol):
    async def wait(self, job: Job, now: float) -> float:
        """Seconds to wait before `job` may run (rate limits); 0.0 means run now (slot taken)."""
        ...

    async def run(self, job: Job, ref: Ref) -> Ref:
        """Do the job once; return the thread's new message reference (None keeps `ref`)."""
        ...

    def finished(self, job: Job, outcome: Outcome, now: float) -> None:
        """Count and log the job's final outcome (the dispatcher records it in the store)."""
        ...


def build_handlers(
    *,
    sinks: Mapping[str, Sink],
    rates: Rates,
    metrics: Metrics,
    clock: Clock,
    send_timeout: float,
    enrichment: GroupEnrichment | None = None,
    remediator: Remediator | None = None,
    chat: ChatView | None = None,
    heartbeats: Heartbeats | None = None,
) -> dict[str, JobHandler]:
    """Job type -> its handler. The one place a job type is registered. The self-healing types
    (`remediate`, `verify`, `report`) exist when remediation is configured; `chat` (responding
    from chat, or self-healing, is configured; app.web.chatops.chat_view) adds the chat state and
    the remediation outcomes to messages, and the `edit`, `escalate` and `show` jobs. `heartbeat`
    exists whenever `heartbeats` is given, configured heartbeats or not: a timer left by a removed
    one then ends instead of holding its lane."""
    from app.engine.chat import EditHandler, ShowHandler
    from app.engine.notify import NotifyHandler

    handlers: dict[str, JobHandler] = {
        "notify": NotifyHandler(
            sinks,
            rates=rates,
            metrics=metrics,
            clock=clock,
            send_timeout=send_timeout,
            enrichment=enrichment,
            chat=chat,
        )
    }
    if heartbeats is not None:
        from app.engine.heartbeats import HeartbeatHandler

        handlers["heartbeat"] = HeartbeatHandler(heartbeats)
    if remediator is not None:
        from app.engine.remediate import RemediateHandler, ReportHandler

        remediate = RemediateHandler(remediator)
        handlers["remediate"] = remediate
        handlers["verify"] = remediate
        handlers["report"] = ReportHandler(remediator, sinks, send_timeout, rates)  # live: reloads update it
    if chat is not None:
        from app.engine.escalate import EscalateHandler

        handlers["edit"] = EditHandler(
            sinks,
            rates=rates,
            metrics=metrics,
            clock=clock,
            send_timeout=send_timeout,
            enrichment=enrichment,
            chat=chat,
        )
        handlers["escalate"] = EscalateHandler(chat, metrics=metrics, clock=clock)
        handlers["show"] = ShowHandler(chat)
    return handlers
