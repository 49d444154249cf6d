"""The Alertmanager webhook payload (version 4) as pydantic models; unknown fields are kept out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)
"""Alertmanager's `endsAt` of an alert still firing (Go's zero time)."""

Status = Literal["firing", "resolved"]


class _Payload(BaseModel):
    # Newer Alertmanager versions add fields (notification_reason, routeLabels): ignore them.
    model_config = ConfigDict(extra="ignore", frozen=True)


class Alert(_Payload):
    status: Status
    labels: dict[str, str] = Field(min_length=1)
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: datetime
    endsAt: datetime = ZERO_TIME
    generatorURL: str = ""
    fingerprint: str = Field(min_length=1, max_length=128)

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")


class WebhookMessage(_Payload):
    version: Literal["4"]
    groupKey: str = Field(min_length=1, max_length=16384)
    truncatedAlerts: int = Field(default=0, ge=0)
    status: Status
    receiver: str = ""
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""
    alerts: list[Alert] = Field(min_length=1)


class Group(_Payload):
    """The part of one webhook message that goes to one destination: what a sink renders."""

    groupKey: str
    truncatedAlerts: int = 0
    status: Status
    receiver: str
    """Our receiver name (not Alertmanager's)."""
    groupLabels: dict[str, str]
    commonLabels: dict[str, str]
    commonAnnotations: dict[str, str]
    externalURL: str
    alerts: list[Alert]

    @property
    def firing(self) -> list[Alert]:
        return [a for a in self.alerts if a.status == "firing"]

    @property
    def resolved(self) -> list[Alert]:
        return [a for a in self.alerts if a.status == "resolved"]


def field_path(loc: Sequence[int | str]) -> str:
    """A pydantic error location as a path: ('alerts', 0, 'labels') -> 'alerts[0].labels'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith(("function-after", "function-before", "function-wrap")):
            continue
        else:
            out += f".{part}" if out else part
    return out
