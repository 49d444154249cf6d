"""What a delivery failure means for the engine. Adapters translate provider errors into these.

DeliveryError
 ├── RetryableError   try again later; `retry_after` when the provider said how long
 └── PermanentError   give up now: dead-letter with the reason
"""

from __future__ import annotations


class DeliveryError(Exception):
    """A delivery attempt failed; `reason` is a short, label-safe word for metrics."""

    def __init__(self, message: str, *, reason: str = "error") -> None:
        super().__init__(message)
        self.reason = reason


class RetryableError(DeliveryError):
    def __init__(self, message: str, *, reason: str = "error", retry_after: float | None = None) -> None:
        super().__init__(message, reason=reason)
        self.retry_after = retry_after


class PermanentError(DeliveryError):
    pass
