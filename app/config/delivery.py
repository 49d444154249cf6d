"""`delivery:`: the outbox's dedup window, retry policy and send timeout."""

from __future__ import annotations

from pydantic import model_validator

from app.config.base import Duration, Strict


class DeliveryConfig(Strict):
    """How the outbox delivers: dedup window, retry policy, timeouts."""

    dedup_window: Duration = 120.0
    retry_initial: Duration = 1.0
    retry_max: Duration = 300.0
    retry_horizon: Duration = 86400.0
    send_timeout: Duration = 15.0

    @model_validator(mode="after")
    def _order(self) -> DeliveryConfig:
        if self.retry_initial <= 0 or self.retry_max < self.retry_initial:
            raise ValueError("need 0 < retry_initial <= retry_max")
        return self
