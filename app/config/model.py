"""The whole configuration file: one field per top-level section.

A new section (`enrichment:`, `remediation:`, ...) is one module with its model and one field here.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from app.config.api import ApiConfig
from app.config.base import Strict
from app.config.chatops import ChatopsConfig
from app.config.console import ConsoleConfig
from app.config.delivery import DeliveryConfig
from app.config.enrichment import EnrichmentSettings
from app.config.escalation import EscalationPolicyConfig
from app.config.heartbeats import HeartbeatConfig
from app.config.receivers import ReceiverConfig
from app.config.remediation import RemediationSettings
from app.config.routes import RouteConfig
from app.config.server import ServerConfig
from app.config.storage import StorageConfig
from app.config.time_intervals import MuteTimeIntervals, TimeIntervals, clashes, raise_problems
from app.core.timeintervals import TimeTable


class Config(Strict):
    server: ServerConfig
    storage: StorageConfig = StorageConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    receivers: list[ReceiverConfig] = Field(min_length=1)
    route: RouteConfig
    time_intervals: TimeIntervals = {}
    """Named intervals that routes mute or activate by (Alertmanager's top-level key)."""
    mute_time_intervals: MuteTimeIntervals = {}
    """Deprecated in Alertmanager, accepted for pasted configs: the same as `time_intervals`."""
    chatops: ChatopsConfig | None = None
    escalation_policies: list[EscalationPolicyConfig] = Field(default_factory=list)
    enrichment: EnrichmentSettings = EnrichmentSettings()
    """Log lines and graphs added to firing alerts' messages (no rules: nothing is fetched)."""
    remediation: RemediationSettings | None = None
    """Self-healing (off when absent)."""
    api: ApiConfig = ApiConfig()
    heartbeats: list[HeartbeatConfig] = Field(default_factory=list)
    """The dead-man's switch: always-firing alerts whose absence raises an alarm."""
    console: ConsoleConfig | None = None
    """The web console at /ui (off when absent or `enabled: false`)."""

    @model_validator(mode="before")
    @classmethod
    def _validate_defaults(cls, data: Any) -> Any:
        # An absent storage section is validated like an empty one, so its default path is
        # resolved against the config file's directory too.
        if isinstance(data, dict) and "storage" not in data:
            return {**data, "storage": {}}
        return data

    @model_validator(mode="after")
    def _unique_interval_names(self) -> Config:
        if found := clashes(self.time_intervals, self.mute_time_intervals):
            raise_problems(found)
        return self

    @property
    def time_table(self) -> TimeTable:
        """Every named time interval, from both lists (one namespace, as in Alertmanager)."""
        return {**self.mute_time_intervals, **self.time_intervals}

    def receiver(self, name: str) -> ReceiverConfig:
        for r in self.receivers:
            if r.name == name:
                return r
        raise KeyError(name)
