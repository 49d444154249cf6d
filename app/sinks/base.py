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


class Delivery:
    """One notification to deliver. The group is parsed from the outbox's JSON only when a sink
    asks for it; a sink that forwards JSON as it is (the webhook) never pays for parsing."""

    __slots__ = ("_group", "_payload", "destination", "kind", "previous")

    def __init__(self, destination: str, kind: Kind, group: Group | str, previous: MessageRef | None) -> None:
        self.destination = destination
        """Stable id of the configured integration, e.g. `oncall/telegram[0]`."""
        self.kind: Kind = kind
        self.previous = previous
        """The thread's last message reference, None when nothing was sent for this group yet."""
        self._group = group if isinstance(group, Group) else None
        self._payload = group if isinstance(group, str) else None

    @property
    def group(self) -> Group:
        if self._group is None:
            assert self._payload is not None
            self._group = Group.model_validate_json(self._payload)
        return self._group

    @property
    def payload(self) -> str:
        """The group as JSON (Group field order: the Alertmanager v4 shape without `version`)."""
        if self._payload is None:
            assert self._group is not None
            self._payload = self._group.model_dump_json()
        return self._payload


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
