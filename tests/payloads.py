"""Builders of Alertmanager v4 webhook bodies for tests and the benchmark."""

from __future__ import annotations

import json
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


def realistic_group(n: int, *, group_key: str = '{}:{alertname="KubePodNotReady"}', run: str = "r") -> bytes:
    """One group of `n` alerts shaped like a real storm: 8 labels and 2 annotations of ~100
    characters each, as Alertmanager serialises them (compact JSON). ~676 bytes an alert:
    10 000 alerts are 6.8 MB, 50 000 are 33.8 MB."""
    alerts = []
    for i in range(n):
        pod = f"model-api-{i:06d}-7f9c8d{i % 997:03d}b"
        alerts.append(
            {
                "status": "firing",
                "labels": {
                    "alertname": "KubePodNotReady",
                    "severity": "warning",
                    "namespace": "prod",
                    "cluster": "eu-west-1-prod",
                    "job": "kube-state-metrics",
                    "pod": pod,
                    "container": "model-api",
                    "run": run,
                },
                "annotations": {
                    "summary": f"Pod prod/{pod} has been in a non-ready state for longer than 15 minutes.",
                    "description": f"Pod prod/{pod} is not ready; see the runbook and the logs of {pod}.",
                },
                "startsAt": "2026-11-24T10:00:00.123456789Z",
                "endsAt": ZERO,
                "generatorURL": "http://prometheus.local:9090/graph?g0.expr=kube_pod_status_ready+%3D%3D+0",
                "fingerprint": f"{i:016x}",
            }
        )
    body = message(group_key, alerts)
    return json.dumps(body, separators=(",", ":")).encode()
