"""The verbs a person can perform from chat or the console, and who performed one (the actor)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Verb(enum.StrEnum):
    """A right that `permissions:` grants; the names are the config's `allow:` words."""

    ACK = "ack"
    UNACK = "unack"
    SILENCE = "silence"
    UNSILENCE = "unsilence"
    APPROVE = "approve"
    REJECT = "reject"
    POSTMORTEM = "postmortem"
    """Send the group's post-mortem draft (Markdown) in reply to its message."""


class Provider(enum.StrEnum):
    """The chat a person acts from; the prefix of their id in `permissions:` (`telegram:ID`)."""

    TELEGRAM = "telegram"
    SLACK = "slack"
    CONSOLE = "console"
    """The web console (/ui): `console:<user>`, a user of `console.users_file`."""


@dataclass(frozen=True)
class Actor:
    """A person acting from a chat. `name` is what messages show (`@alice`, or a first name)."""

    provider: Provider
    user_id: str
    name: str

    @property
    def key(self) -> str:
        """The id as `permissions:` writes it: `telegram:111111111`, `slack:U024BE7LH`."""
        return f"{self.provider.value}:{self.user_id}"

    @property
    def created_by(self) -> str:
        """Alertmanager's `createdBy` for a silence: `alice (telegram)`."""
        return f"{self.name.lstrip('@')} ({self.provider.value})"
