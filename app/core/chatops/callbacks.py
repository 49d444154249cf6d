"""What a button carries: a short, tamper-evident token naming a verb and a stored reference.

Telegram's `callback_data` is 1-64 bytes and comes back from the client, so it is never trusted
by itself: a token is `<verb code><arg>.<ref>.<tag>` where `ref` is an opaque id of state kept in
the store (the group or the pending remediation) and `tag` is a truncated HMAC-SHA256 over the
rest. A forged, altered or truncated token fails `decode`; a valid token whose `ref` is stale
must still be looked up (and found wanting) by the caller. Slack buttons carry the same token
as their `value`, with an `action_id` naming the verb (unique within the actions block).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

from app.core.chatops.actions import Verb

MAX_CALLBACK_BYTES = 64
"""Telegram's limit on `callback_data`."""
TAG_CHARS = 16
"""Characters of the base64url HMAC kept: 96 bits."""
_CODES = {
    Verb.ACK: "a",
    Verb.UNACK: "u",
    Verb.SILENCE: "s",
    Verb.UNSILENCE: "n",
    Verb.APPROVE: "p",
    Verb.REJECT: "r",
    Verb.POSTMORTEM: "m",
}
_VERBS = {code: verb for verb, code in _CODES.items()}
_REF = re.compile(r"[A-Za-z0-9_-]{1,32}")
_ARG = re.compile(r"[0-9a-z]{0,12}")
_TOKEN = re.compile(
    r"(?P<code>[a-z])(?P<arg>[0-9a-z]{0,12})\.(?P<ref>[A-Za-z0-9_-]{1,32})\.(?P<tag>[A-Za-z0-9_-]+)"
)
_SLACK_ACTION = re.compile(r"alertmedic_(?P<verb>[a-z]+)(?:_(?P<arg>[0-9a-z]+))?")
_KEY_LABEL = b"alertmedic callback tokens v1"


class CallbackError(ValueError):
    """A button token that is malformed or was not made by us (forged, altered, other key)."""


@dataclass(frozen=True)
class Intent:
    """What a button asks for: `verb` on the stored state `ref`; `arg` is e.g. a duration."""

    verb: Verb
    ref: str
    arg: str = ""

    def __post_init__(self) -> None:
        if not _REF.fullmatch(self.ref):
            raise ValueError(f"ref must be 1-32 characters of [A-Za-z0-9_-], got {self.ref!r}")
        if not _ARG.fullmatch(self.arg):
            raise ValueError(f"arg must be at most 12 characters of [0-9a-z], got {self.arg!r}")


def derive_key(secret: str) -> bytes:
    """A token key derived from a configured secret (e.g. the bot token), never the secret itself."""
    return hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest()


def _tag(key: bytes, body: str) -> str:
    digest = hmac.new(key, body.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:TAG_CHARS]


def encode(intent: Intent, *, key: bytes) -> str:
    """The token for `intent`; at most 64 bytes by construction (checked)."""
    body = f"{_CODES[intent.verb]}{intent.arg}.{intent.ref}"
    token = f"{body}.{_tag(key, body)}"
    if len(token.encode()) > MAX_CALLBACK_BYTES:  # cannot happen with the limits above
        raise ValueError(f"callback token of {len(token)} bytes exceeds {MAX_CALLBACK_BYTES}")
    return token


def decode(token: str, *, key: bytes) -> Intent:
    """The intent a token carries. Raises CallbackError if it is malformed or its tag is wrong."""
    m = _TOKEN.fullmatch(token)
    if m is None or m["code"] not in _VERBS:
        raise CallbackError("malformed button data")
    body = token[: m.start("tag") - 1]
    if not hmac.compare_digest(m["tag"].encode(), _tag(key, body).encode()):
        raise CallbackError("button data was not issued by this alertmedic")
    return Intent(_VERBS[m["code"]], m["ref"], m["arg"])


def slack_action_id(intent: Intent) -> str:
    """Slack `action_id` for a button: `alertmedic_<verb>[_<arg>]` (unique in its block)."""
    return f"alertmedic_{intent.verb.value}" + (f"_{intent.arg}" if intent.arg else "")


def decode_slack(action_id: str, value: str, *, key: bytes) -> Intent:
    """The intent of a Slack button: its value's token, which must agree with its action_id."""
    if _SLACK_ACTION.fullmatch(action_id) is None:
        raise CallbackError(f"not an alertmedic action: {action_id!r}")
    intent = decode(value, key=key)
    if slack_action_id(intent) != action_id:
        raise CallbackError(f"action_id {action_id!r} does not match its value")
    return intent
