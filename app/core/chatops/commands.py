"""Telegram text commands: `/ack`, `/silence 2h [comment]`, `/approve ID`, ... parsed into a
`Command`, or a `CommandError` whose message names the bad argument (sent back as the reply).

A command acts on the alert message it replies to, or on the id given as its first argument
(`/ack 42`, `/silence 42 4h migration`). Ids never look like durations, so `/silence 4h` is a
duration and `/silence 42 4h` an id and a duration. `/cmd@OtherBot` is not ours: `None`.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from app.core.chatops.actions import Verb
from app.core.durations import format_duration, parse_duration


class Name(enum.StrEnum):
    """The commands, as typed after the slash."""

    ACK = "ack"
    UNACK = "unack"
    SILENCE = "silence"
    UNSILENCE = "unsilence"
    ALERTS = "alerts"
    ACTIONS = "actions"
    APPROVE = "approve"
    REJECT = "reject"
    POSTMORTEM = "postmortem"
    WHOAMI = "whoami"
    HELP = "help"

    @property
    def verb(self) -> Verb | None:
        """The right the command needs (None: a read-only command)."""
        try:
            return Verb(self.value)
        except ValueError:
            return None


HELP = {
    Name.ACK: "/ack [ID] - acknowledge (reply to the alert or give its id); stops escalation",
    Name.UNACK: "/unack [ID] - take the acknowledgement back",
    Name.SILENCE: "/silence [ID] DURATION [comment] - silence the group in Alertmanager, e.g. /silence 2h",
    Name.UNSILENCE: "/unsilence [ID] - expire the group's silence",
    Name.ALERTS: "/alerts - open alert groups in this chat, with their state",
    Name.ACTIONS: "/actions - remediations awaiting approval",
    Name.APPROVE: "/approve ID - run a remediation awaiting approval",
    Name.REJECT: "/reject ID [reason] - refuse a remediation awaiting approval",
    Name.POSTMORTEM: "/postmortem [ID] - the post-mortem draft of the alert group, as a Markdown file",
    Name.WHOAMI: "/whoami - your id, to put in permissions",
    Name.HELP: "/help - this list",
}
_TARGETED = {Name.ACK, Name.UNACK, Name.UNSILENCE, Name.POSTMORTEM}
_BARE = {Name.ALERTS, Name.ACTIONS, Name.WHOAMI, Name.HELP}
_ID = re.compile(r"#?([A-Za-z0-9_-]{1,32})")
_HEAD = re.compile(r"/(?P<name>[A-Za-z0-9_]+)(?:@(?P<bot>[A-Za-z0-9_]+))?")


class CommandError(ValueError):
    """A command that cannot be run as typed; the message is the reply to send."""


class UnknownCommand(CommandError):
    """A slash command that is not one of ours (in a group, possibly meant for another bot)."""


@dataclass(frozen=True)
class Command:
    """A parsed command. `target` is the id given (None: the replied-to message decides)."""

    name: Name
    target: str | None = None
    duration: float | None = None
    """Seconds, for /silence."""
    comment: str = ""


def parse_command(
    text: str, *, bot_username: str | None = None, max_duration: float | None = None
) -> Command | None:
    """The command in a message's text; None if the text is no command or names another bot."""
    parts = text.strip().split(maxsplit=1)
    if not parts or not parts[0].startswith("/"):
        return None
    head, rest = parts[0], parts[1] if len(parts) > 1 else ""
    m = _HEAD.fullmatch(head)
    if m is None:
        return None
    if m["bot"] and bot_username is not None and m["bot"].lower() != bot_username.lstrip("@").lower():
        return None
    try:
        name = Name(m["name"].lower())
    except ValueError:
        raise UnknownCommand(f"unknown command /{m['name']}; /help lists the commands") from None
    args = rest.split()
    if name in _BARE:
        if args:
            raise CommandError(f"/{name} takes no arguments (got {args[0]!r})")
        return Command(name)
    if name in _TARGETED:
        if len(args) > 1:
            raise CommandError(f"/{name} takes at most an id (got {args[1]!r} after it). Usage: {HELP[name]}")
        return Command(name, _target(name, args[0]) if args else None)
    if name is Name.SILENCE:
        return _silence(args, rest, max_duration)
    # approve / reject: an id is required
    if not args:
        raise CommandError(f"/{name} needs the id of the action (see /actions). Usage: {HELP[name]}")
    comment = rest.strip()[len(args[0]) :].strip()
    if name is Name.APPROVE and comment:
        raise CommandError(f"/approve takes only an id (got {args[1]!r} after it)")
    return Command(name, _target(name, args[0]), comment=comment)


def _target(name: Name, text: str) -> str:
    m = _ID.fullmatch(text)
    if m is None:
        raise CommandError(f"/{name}: {text!r} is not an id (letters, digits, - and _)")
    return m[1]


def _duration(text: str) -> float | None:
    try:
        return parse_duration(text)
    except ValueError:
        return None


def _silence(args: list[str], rest: str, max_duration: float | None) -> Command:
    usage = f"Usage: {HELP[Name.SILENCE]}"
    if not args:
        raise CommandError(f"/silence needs a duration, e.g. /silence 2h. {usage}")
    target: str | None = None
    used = 1
    duration = _duration(args[0])
    if duration is None:
        target = _target(Name.SILENCE, args[0])
        if len(args) < 2:
            raise CommandError(f"/silence: {args[0]!r} is not a duration (use e.g. 30m, 4h, 1d). {usage}")
        duration = _duration(args[1])
        if duration is None:
            raise CommandError(f"/silence: {args[1]!r} is not a duration (use e.g. 30m, 4h, 1d). {usage}")
        used = 2
    if duration <= 0:
        raise CommandError(f"/silence: the duration must be more than 0 (got {args[used - 1]!r})")
    if max_duration is not None and duration > max_duration:
        raise CommandError(
            f"/silence: {args[used - 1]!r} is longer than the longest allowed silence, "
            f"{format_duration(max_duration)}"
        )
    comment = rest.strip()
    for arg in args[:used]:
        comment = comment[len(arg) :].lstrip()
    return Command(Name.SILENCE, target, duration, comment)
