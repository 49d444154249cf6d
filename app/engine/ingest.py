"""Ingest: a validated webhook message becomes durable notifications, then wakes their lanes."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from app.core.clock import Clock
from app.core.models import WebhookMessage
from app.core.plan import Router
from app.engine.dispatcher import Dispatcher
from app.engine.incidents import note_of
from app.engine.muting import report_muted
from app.metrics import Metrics
from app.store.base import IngestResult, Store

if TYPE_CHECKING:
    from app.engine.remediation import Remediator

log = logging.getLogger("alertmedic.ingest")


@dataclass
class Ingestor:
    router: Router
    store: Store
    dispatcher: Dispatcher
    metrics: Metrics
    dedup_window: float
    clock: Clock
    remediator: Remediator | None = None
    """Self-healing: its intents are recorded in the transaction that accepts the webhook."""

    async def ingest(self, msg: WebhookMessage) -> IngestResult:
        """Record what `msg` implies (raises StoreUnavailable when it cannot), then wake lanes.

        Only after this returns may the webhook answer 2xx.
        """
        now = self.clock.now()
        plan = self.router.plan(msg, at=datetime.fromtimestamp(now, UTC))
        plans = plan.planned
        incident = note_of(msg, plans)
        if self.remediator is None:
            result = await self.store.ingest(
                plans, now=now, dedup_window=self.dedup_window, incident=incident
            )
        else:
            from app.engine.remediation import new_remediations

            r = self.remediator
            intents, resolved = new_remediations(msg, plans, tuple(r.specs.values()), r.policy)
            result = await self.store.ingest(
                plans,
                now=now,
                dedup_window=self.dedup_window,
                remediations=intents,
                resolved=resolved,
                incident=incident,
            )
            for lane, _ in result.remediation_jobs:
                self.dispatcher.ensure_lane(lane)
        if (ended := result.resolved) is not None:
            self.metrics.time_to_resolve.labels(ended.severity).observe(ended.seconds)
        report_muted(plan.muted, group_key=msg.groupKey, metrics=self.metrics)  # once accepted
        by_id = {p.destination.id: p.destination for p in plans}
        for dest_id, _ in result.enqueued:
            d = by_id[dest_id]
            self.metrics.notifications.labels(d.receiver, d.integration, "enqueued").inc()
            self.dispatcher.notify(dest_id)
        for dest_id in result.duplicates:
            d = by_id[dest_id]
            self.metrics.notifications.labels(d.receiver, d.integration, "duplicate").inc()
        self.dispatcher.enqueued(len(result.enqueued))
        if not log.isEnabledFor(logging.INFO):
            return result
        if result.enqueued or result.duplicates:
            log.info(
                "accepted",
                extra={
                    "group_key": msg.groupKey,
                    "alerts": len(msg.alerts),
                    "enqueued": [d for d, _ in result.enqueued],
                    "duplicates": result.duplicates,
                },
            )
        else:
            log.info(
                "accepted, nothing to send", extra={"group_key": msg.groupKey, "alerts": len(msg.alerts)}
            )
        return result
