"""The `notify` job: deliver one notification of an alert group through its destination's sink.

Its lane is the destination id; its kind is `new` (a new message) or `update` (edit the thread's
message in place where the provider allows it). For a destination with `enrich: true` the
group state's enrichment (app.engine.enrich: fetched once, stored, time-boxed) is attached
before the sink renders; the send timeout starts after it. Provider rate limits are honoured before each
attempt and before each further message of a delivery (app.engine.pacing: a Telegram photo), and a
provider's `retry_after` holds every destination sharing that limit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from app.core.clock import Clock
from app.core.errors import RetryableError
from app.core.models import Group
from app.engine.jobs import Outcome, Ref
from app.engine.pacing import Pacer
from app.engine.rates import Rates
from app.metrics import Metrics
from app.sinks.base import ChatMarkup, Delivery, Kind, Sink
from app.store.base import Job, StoreUnavailable

if TYPE_CHECKING:
    from app.engine.chat import ChatView
    from app.engine.enrich import GroupEnrichment

log = logging.getLogger("alertmedic.dispatcher")


class NotifyHandler:
    def __init__(
        self,
        sinks: Mapping[str, Sink],
        *,
        rates: Rates,
        metrics: Metrics,
        clock: Clock,
        send_timeout: float,
        enrichment: GroupEnrichment | None = None,
        chat: ChatView | None = None,
    ) -> None:
        self.sinks = sinks
        self.enrichment = enrichment
        self.chat = chat
        """Shows the group's chat state on messages of integrations with buttons (None: off)."""
        self.rates = rates
        self.metrics = metrics
        self.clock = clock
        self.send_timeout = send_timeout

    async def wait(self, job: Job, now: float) -> float:
        limits = [(lim.key, lim.per_second, lim.burst) for lim in self.sinks[job.lane].rate_limits()]
        return await self.rates.reserve(limits, now)

    async def run(self, job: Job, ref: Ref) -> Ref:
        markup = None
        if self.chat is not None and self.chat.shows(job.integration):
            markup = await self.chat.noted(job)
        return await self.deliver(
            job, job.payload, ref, markup, kind="new" if job.kind == "new" else "update"
        )

    async def deliver(
        self, job: Job, payload: str, ref: Ref, markup: ChatMarkup | None, *, kind: Kind
    ) -> Ref:
        """Send `payload` (a Group as JSON) through the job's destination."""
        sink = self.sinks[job.lane]
        if self.enrichment is not None and self.enrichment.wanted(job.lane):
            group = Group.model_validate_json(payload)
            try:
                extra = await self.enrichment.for_group(group)
            except StoreUnavailable as exc:
                raise RetryableError(f"enrichment: {exc}", reason="store") from None
            delivery = Delivery(job.lane, kind, group, ref, enrichment=extra, chat=markup)
        else:
            delivery = Delivery(job.lane, kind, payload, ref, chat=markup)
        try:
            async with asyncio.timeout(self.send_timeout) as budget:
                delivery.pace = Pacer(sink, rates=self.rates, clock=self.clock, budget=budget)
                return await sink.send(delivery)
        except TimeoutError:
            raise RetryableError(f"no answer within {self.send_timeout:g}s", reason="timeout") from None
        except RetryableError as exc:
            if exc.retry_after:
                for lim in sink.rate_limits():
                    await self.rates.penalise(
                        (lim.key, lim.per_second, lim.burst), self.clock.now() + exc.retry_after
                    )
            raise

    def finished(self, job: Job, outcome: Outcome, now: float) -> None:
        if outcome == "dead":
            self.metrics.notifications.labels(job.receiver, job.integration, "dead").inc()
            return
        self.metrics.delivery_latency.labels(job.integration).observe(max(0.0, now - job.accepted_at))
        self.metrics.notifications.labels(job.receiver, job.integration, "delivered").inc()
        log.info(
            "delivered",
            extra={
                "destination": job.lane,
                "group_key": job.group_key,
                "kind": job.kind,
                "latency": round(now - job.accepted_at, 4),
            },
        )
