"""The whole configuration file: one field per top-level section.

A new section (`enrichment:`, `remediation:`, ...) is one module with its model and one field here.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from app.config.api import ApiConfig
from app.config.base import Strict
from app.config.delivery import DeliveryConfig
from app.config.receivers import ReceiverConfig
from app.config.remediation import RemediationSettings
from app.config.routes import RouteConfig
from app.config.server import ServerConfig
from app.config.storage import StorageConfig


class Config(Strict):
    server: ServerConfig
    storage: StorageConfig = StorageConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    receivers: list[ReceiverConfig] = Field(min_length=1)
    route: RouteConfig
    remediation: RemediationSettings | None = None
    """Self-healing (off when absent)."""
    api: ApiConfig = ApiConfig()

    @model_validator(mode="before")
    @classmethod
    def _validate_defaults(cls, data: Any) -> Any:
        # An absent storage section is validated like an empty one, so its default path is
        # resolved against the config file's directory too.
        if isinstance(data, dict) and "storage" not in data:
            return {**data, "storage": {}}
        return data

    def receiver(self, name: str) -> ReceiverConfig:
        for r in self.receivers:
            if r.name == name:
                return r
        raise KeyError(name)
