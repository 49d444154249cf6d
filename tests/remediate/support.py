"""What the self-healing end-to-end tests share: the chat, the API token, the issue's actions as
config data, and readers of what the fakes saw (replies in the alert's Telegram thread, the
Kubernetes requests that change something)."""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.kubernetes import FakeKubernetes
from tests.fakes.telegram import FakeTelegram, TgMessage

CHAT = -1001234567890
API_TOKEN = "api-test-token"

RESTART = {
    "name": "restart-on-latency",
    "matchers": ['alertname="ModelHighLatencyP95"', 'severity="critical"'],
    "kind": "rollout_restart",
    "target": {
        "kind": "Deployment",
        "namespace": "{{ labels.namespace }}",
        "name": "{{ labels.deployment }}",
    },
    "cooldown": "30m",
    "verify": {"timeout": "5m"},
}
RETRAIN = {
    "name": "retrain-on-drift",
    "matchers": ['alertname="ModelDataDriftDetected"', 'remediation="retrain"'],
    "kind": "job_from_cronjob",
    "target": {"namespace": "{{ labels.namespace }}", "name": "{{ annotations.retrain_cronjob }}"},
    "cooldown": "24h",
    "verify": {"timeout": "2h"},
}
SCALE = {
    "name": "scale-out-on-saturation",
    "matchers": ['alertname="ModelHighLatencyP95"', 'severity="warning"'],
    "kind": "scale",
    "target": {
        "kind": "Deployment",
        "namespace": "{{ labels.namespace }}",
        "name": "{{ labels.deployment }}",
    },
    "replicas": "+1",
    "max_replicas": 8,
    "approval": "required",
    "approval_timeout": "30m",
}


def replies(fake: FakeTelegram, chat: int = CHAT) -> list[TgMessage]:
    """Messages in `chat` that reply to another one (the reports in alerts' threads)."""
    return [m for m in fake.messages(chat) if "reply_parameters" in m.params]


def replied_to(m: TgMessage) -> int:
    raw = m.params["reply_parameters"]
    params = json.loads(raw) if isinstance(raw, str) else raw
    return int(params["message_id"])


def patches(fake: FakeKubernetes) -> list[Any]:
    return [r for r in fake.requests if r.method == "PATCH"]


def mutating(fake: FakeKubernetes) -> list[Any]:
    return [r for r in fake.requests if r.method in ("PATCH", "POST", "DELETE", "PUT")]
