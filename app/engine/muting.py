"""Notifications that a time interval withheld: each one logged and counted, never dropped silently."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from app.core.plan import MutedNotification
from app.core.routing import yaml_path
from app.metrics import Metrics

log = logging.getLogger("alertmedic.ingest")


def report_muted(muted: Iterable[MutedNotification], *, group_key: str, metrics: Metrics) -> None:
    """One INFO line per muted route result (group key, receiver, route, reason, intervals) and
    `alertmedic_notifications_total{outcome="muted"}` once per destination that would have sent it."""
    for m in muted:
        for d in m.destinations:
            metrics.notifications.labels(d.receiver, d.integration, "muted").inc()
        log.info(
            "muted by time interval",
            extra={
                "group_key": group_key,
                "receiver": m.muted.receiver,
                "route": yaml_path(m.muted.path),
                "reason": m.muted.reason,
                "time_intervals": list(m.muted.intervals),
                "alerts": len(m.alerts),
                "destinations": [d.id for d in m.destinations],
            },
        )
