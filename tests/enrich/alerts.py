"""Alerts and groups for the enrichment tests (a startsAt and generatorURL of one's choosing)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from app.core.models import ZERO_TIME, Alert, Group

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
STARTED = NOW - timedelta(minutes=20)


def generator_url(expr: str, *, form: str = "2.x", host: str = "http://prometheus.local:9090") -> str:
    """Prometheus' link for `expr`: 2.x `/graph?g0.expr=…&g0.tab=1`, 3.x `/query?g0.expr=…`."""
    path = "/graph" if form == "2.x" else "/query"
    return f"{host}{path}?g0.expr={quote(expr, safe='')}&g0.tab=1"


def alert(
    i: int = 0,
    *,
    labels: dict[str, str] | None = None,
    status: str = "firing",
    starts_at: datetime = STARTED,
    expr: str | None = "model_latency_p95_seconds > 0.5",
    url: str | None = None,
) -> Alert:
    return Alert.model_validate(
        {
            "status": status,
            "labels": {"alertname": "ModelHighLatencyP95", "namespace": "prod", "deployment": "model-api"}
            | (labels or {}),
            "annotations": {"summary": "p95 latency high"},
            "startsAt": starts_at,
            "endsAt": ZERO_TIME if status == "firing" else starts_at + timedelta(minutes=5),
            "generatorURL": url if url is not None else (generator_url(expr) if expr else ""),
            "fingerprint": f"{i:016x}",
        }
    )


def group(*alerts: Alert) -> Group:
    status = "firing" if any(a.status == "firing" for a in alerts) else "resolved"
    return Group.model_validate(
        {
            "groupKey": '{}:{alertname="ModelHighLatencyP95"}',
            "status": status,
            "receiver": "oncall",
            "groupLabels": {"alertname": "ModelHighLatencyP95"},
            "commonLabels": {},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager.local:9093",
            "alerts": list(alerts),
        }
    )
