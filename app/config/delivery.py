"""`delivery:`: the outbox's dedup window, retry policy, send timeout and storm digests."""

from __future__ import annotations

from pydantic import Field, model_validator

from app.config.base import Duration, Strict


class StormConfig(Strict):
    """When a destination's backlog becomes a digest (app.engine.storm)."""

    after: Duration = 30.0
    """A destination whose pending notifications are more than its rate limit can deliver within
    this many seconds gets digest messages instead of one message per group (0: never)."""
    top: int = Field(default=10, ge=1, le=30)
    """Groups a digest names with one line each (most severe first); the rest are counted."""


class DeliveryConfig(Strict):
    """How the outbox delivers: dedup window, retry policy, timeouts, storms."""

    dedup_window: Duration = 120.0
    retry_initial: Duration = 1.0
    retry_max: Duration = 300.0
    retry_horizon: Duration = 86400.0
    send_timeout: Duration = 15.0
    storm: StormConfig = StormConfig()

    @model_validator(mode="after")
    def _order(self) -> DeliveryConfig:
        if self.retry_initial <= 0 or self.retry_max < self.retry_initial:
            raise ValueError("need 0 < retry_initial <= retry_max")
        return self
