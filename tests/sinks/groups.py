"""Builders of Groups and Deliveries for the render and sink tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.core.models import ZERO_TIME, Alert, Group
from app.sinks.base import Delivery, Kind, MessageRef

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
EXTERNAL_URL = "http://alertmanager.local:9093"


def make_alert(
    i: int = 0,
    *,
    status: str = "firing",
    name: str = "ModelLatencyHigh",
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> Alert:
    base_labels = {
        "alertname": name,
        "severity": "critical",
        "namespace": "prod",
        "deployment": "model-api",
        "pod": f"model-api-{i}",
    }
    base_annotations = {
        "summary": f"p99 latency above 2s on model-api-{i}",
        "description": "Requests are slow.",
        "runbook_url": "https://runbooks.local/latency",
    }
    return Alert.model_validate(
        {
            "status": status,
            "labels": base_labels | (labels or {}),
            "annotations": base_annotations | (annotations or {}),
            "startsAt": T0,
            "endsAt": T0 + timedelta(minutes=5) if status == "resolved" else ZERO_TIME,
            "generatorURL": "http://prometheus.local:9090/graph?g0.expr=latency+%3E+2",
            "fingerprint": f"{i:016x}",
        }
    )


def make_group(
    alerts: list[Alert],
    *,
    group_labels: dict[str, str] | None = None,
    external_url: str = EXTERNAL_URL,
    receiver: str = "oncall",
    truncated: int = 0,
) -> Group:
    common = dict(alerts[0].labels)
    for a in alerts[1:]:
        common = {k: v for k, v in common.items() if a.labels.get(k) == v}
    common_ann = dict(alerts[0].annotations)
    for a in alerts[1:]:
        common_ann = {k: v for k, v in common_ann.items() if a.annotations.get(k) == v}
    status = "firing" if any(a.status == "firing" for a in alerts) else "resolved"
    return Group.model_validate(
        {
            "groupKey": '{}:{alertname="ModelLatencyHigh"}',
            "status": status,
            "receiver": receiver,
            "groupLabels": {"alertname": alerts[0].name} if group_labels is None else group_labels,
            "commonLabels": common,
            "commonAnnotations": common_ann,
            "externalURL": external_url,
            "truncatedAlerts": truncated,
            "alerts": alerts,
        }
    )


def firing(n: int = 1, **kwargs: object) -> Group:
    return make_group([make_alert(i) for i in range(n)], **kwargs)  # type: ignore[arg-type]


def resolved(n: int = 1) -> Group:
    return make_group([make_alert(i, status="resolved") for i in range(n)])


def delivery(
    group: Group,
    *,
    kind: Kind = "new",
    previous: MessageRef | None = None,
    destination: str = "oncall/test[0]",
) -> Delivery:
    return Delivery(destination=destination, kind=kind, group=group, previous=previous)
