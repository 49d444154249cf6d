"""The Sink protocol every integration implements, what it is handed to deliver, and the shape
of an integration's entry in the table of integrations (app.sinks.registry)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar, runtime_checkable

import aiohttp

from app.config import IntegrationConfig
from app.core.chatops.message import MessageState
from app.core.digest import Digest
from app.core.enrichment import Enrichment
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


Pace = Callable[[], Awaitable[None]]
"""Awaited by a sink before each provider call of a delivery after its first (see Sink)."""


async def unpaced() -> None:
    """The pace of a delivery sent outside the engine: no rate limit to take from."""


@dataclass(frozen=True)
class ChatMarkup:
    """What a message shows of its group's chat state (ack, silence, escalation lines and the
    buttons), for integrations whose capabilities say `chat_buttons`; `key` signs the buttons."""

    state: MessageState
    key: bytes


class Delivery:
    """One notification to deliver. The group is parsed from the outbox's JSON only when a sink
    asks for it; a sink that forwards JSON as it is (the webhook) never pays for parsing."""

    __slots__ = ("_group", "_payload", "chat", "destination", "enrichment", "kind", "pace", "previous")

    def __init__(
        self,
        destination: str,
        kind: Kind,
        group: Group | str,
        previous: MessageRef | None,
        *,
        enrichment: Enrichment | None = None,
        pace: Pace = unpaced,
        chat: ChatMarkup | None = None,
    ) -> None:
        self.destination = destination
        """Stable id of the configured integration, e.g. `oncall/telegram[0]`."""
        self.kind: Kind = kind
        self.previous = previous
        """The thread's last message reference, None when nothing was sent for this group yet."""
        self.enrichment = enrichment
        """Log lines, graphs and notes to show (None: none for this destination or state)."""
        self.pace = pace
        """Await before each provider call after the first: takes one more token of the sink's
        rate limits, waiting on the engine's clock (the engine sets it; the wait does not count
        against the send timeout)."""
        self.chat = chat
        """The chat state lines and buttons to show (None: chat is not configured)."""
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
        """Buckets each provider message of this destination takes a token from (empty:
        unlimited). The engine takes one before `send`; a delivery that posts more than one
        message (a Telegram photo replying to the alert, a Slack file shared into its thread)
        awaits `delivery.pace()` before each further one, so every message counts."""
        ...

    async def send(self, delivery: Delivery) -> MessageRef | None:
        """Deliver; return the new thread reference (None keeps the previous one).

        Raises app.core.errors.RetryableError or PermanentError; anything else is retried.
        """
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class Capabilities:
    """What an integration can do, for the engine and for readers of the table."""

    edits_in_place: bool
    """An update edits the sent message (else it is a follow-up message)."""
    threads: bool
    """Follow-ups attach to the first message (reply, thread, In-Reply-To)."""
    max_in_flight: int = 1
    """Upper bound of concurrent deliveries to one destination (its config may ask for fewer)."""
    replies: bool = False
    """Its sink implements `Replier`: a line (a remediation report) posted as a reply to the
    thread's message (Telegram reply, Slack thread_ts, email In-Reply-To)."""
    chat_buttons: bool = False
    """Messages carry the group's chat state and buttons (`Delivery.chat`) and can be edited to
    show a change of it (`edit` jobs)."""
    digests: bool = False
    """Its sink implements `DigestSender`: a storm's backlog becomes digest messages
    (app.engine.storm) instead of waiting for the rate limit one group at a time."""


class Replier(Protocol):
    """A sink that can post one line of plain text in a thread (`Capabilities.replies`)."""

    async def reply(self, destination: str, text: str, previous: MessageRef | None) -> None:
        """Post `text` as a reply to the thread's message `previous` (a plain message when
        None). Raises app.core.errors.RetryableError or PermanentError like `send`."""
        ...


DIGEST = "digest"
"""Key set (true) in the message reference a storm digest leaves on each group it covers: that
message stands for many groups, so an update never edits it; it replies to it (threads onto it)
with a message of the group's own, which becomes the group's thread from then on."""


def is_digest(ref: MessageRef | None) -> bool:
    """Whether `ref` is a storm digest's message (see DIGEST)."""
    return bool(ref and ref.get(DIGEST))


@runtime_checkable
class DigestSender(Protocol):
    """A sink that can post a storm digest (`Capabilities.digests`)."""

    async def send_digest(self, destination: str, digest: Digest) -> MessageRef | None:
        """Post `digest` as one message; its reference (None: the provider returns none).
        Raises app.core.errors.RetryableError or PermanentError like `send`."""
        ...


@dataclass
class BuildContext:
    """What builders share while the table is walked once at start-up."""

    session: aiohttp.ClientSession
    send_timeout: float
    shared: dict[tuple[str, ...], object] = field(default_factory=dict)
    """Objects several destinations share (one Telegram bot per token), keyed by kind first."""


C = TypeVar("C", bound=IntegrationConfig)


@dataclass(frozen=True)
class Integration(Generic[C]):
    """One row of the table of integrations: kind, config model, capabilities, builder."""

    kind: str
    config: type[C]
    capabilities: Capabilities
    build: Callable[[C, BuildContext], Sink]
    """Makes the destination's Sink: reads secrets, opens no connection; ValueError/OSError
    when it cannot."""
