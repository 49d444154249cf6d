"""The Sink protocol every integration implements, and what it is handed to deliver."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from app.core.models import Group

Kind = Literal["new", "update"]
"""`new`: a new message. `update`: the group changed without new firing alerts (e.g. resolved):
edit the thread's message in place where the provider allows it, else send a follow-up."""

MessageRef = dict[str, Any]
"""JSON-serialisable reference to the message a sink sent (chat+message id, channel+ts,
Message-ID), stored on the thread so a later update can edit or thread onto it."""


@dataclass(frozen=True)
class RateLimit:
    """A token bucket shared by every destination that names the same `key`."""

    key: str
    per_second: float
    burst: int = 1


@dataclass(frozen=True)
class Delivery:
    destination: str
    """Stable id of the configured integration, e.g. `oncall/telegram[0]`."""
    kind: Kind
    group: Group
    previous: MessageRef | None
    """The thread's last message reference, None when nothing was sent for this group yet."""


class Sink(Protocol):
    integration: str
    """`telegram`, `slack`, `email` or `webhook`: the metrics label."""

    def rate_limits(self) -> list[RateLimit]:
        """Buckets each send of this destination takes a token from (empty: unlimited)."""
        ...

    async def send(self, delivery: Delivery) -> MessageRef | None:
        """Deliver; return the new thread reference (None keeps the previous one).

        Raises app.core.errors.RetryableError or PermanentError; anything else is retried.
        """
        ...

    async def aclose(self) -> None: ...
