"""Builders of Alertmanager v4 webhook bodies for tests and the benchmark."""

from __future__ import annotations

from typing import Any

ZERO = "0001-01-01T00:00:00Z"


def alert(
    name: str,
    fingerprint: str,
    *,
    status: str = "firing",
    severity: str = "critical",
    namespace: str = "prod",
    **labels: str,
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": name, "severity": severity, "namespace": namespace, **labels},
        "annotations": {"summary": f"{name} in {namespace}", "description": f"{name} is {status}"},
        "startsAt": "2026-11-24T10:00:00Z",
        "endsAt": ZERO if status == "firing" else "2026-11-24T10:05:00Z",
        "generatorURL": "http://prometheus.local:9090/graph?g0.expr=up+%3D%3D+0",
        "fingerprint": fingerprint,
    }


def message(group_key: str, alerts: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    common = dict(alerts[0]["labels"])
    for a in alerts[1:]:
        common = {k: v for k, v in common.items() if a["labels"].get(k) == v}
    body: dict[str, Any] = {
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "alertmedic",
        "groupLabels": {"alertname": alerts[0]["labels"]["alertname"]},
        "commonLabels": common,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.local:9093",
        "alerts": alerts,
    }
    body.update(extra)
    return body
