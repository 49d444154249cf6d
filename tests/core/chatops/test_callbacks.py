"""Button tokens: at most 64 bytes, round-trip, and anything altered or foreign is refused."""

from __future__ import annotations

import pytest

from app.core.chatops.actions import Verb
from app.core.chatops.callbacks import (
    MAX_CALLBACK_BYTES,
    CallbackError,
    Intent,
    decode,
    decode_slack,
    derive_key,
    encode,
    slack_action_id,
)

KEY = derive_key("123456:bot-token")


@pytest.mark.parametrize("verb", list(Verb))
def test_round_trip_within_telegram_limit(verb: Verb) -> None:
    longest = Intent(verb, "R" * 32, "1h30m45s" if verb is Verb.SILENCE else "")
    token = encode(longest, key=KEY)
    assert len(token.encode()) <= MAX_CALLBACK_BYTES
    assert decode(token, key=KEY) == longest
    assert len(encode(Intent(Verb.SILENCE, "r" * 32, "x" * 12), key=KEY).encode()) <= MAX_CALLBACK_BYTES


def test_key_is_derived_not_the_secret() -> None:
    assert b"bot-token" not in KEY and len(KEY) == 32
    assert derive_key("other") != KEY


def test_every_single_character_change_is_refused() -> None:
    token = encode(Intent(Verb.ACK, "g42"), key=KEY)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-."
    for i in range(len(token)):
        for c in alphabet:
            if c == token[i]:
                continue
            changed = token[:i] + c + token[i + 1 :]
            with pytest.raises(CallbackError):
                decode(changed, key=KEY)


@pytest.mark.parametrize(
    "bad", ["", "a", "a.g42", "a.g42.", "x.g42.AAAAAAAAAAAAAAAA", "a.g4 2.AAAA", "é.g.x"]
)
def test_malformed_tokens_are_refused(bad: str) -> None:
    with pytest.raises(CallbackError, match=r"malformed|not issued"):
        decode(bad, key=KEY)


def test_a_token_of_another_install_is_refused() -> None:
    token = encode(Intent(Verb.APPROVE, "act7"), key=derive_key("another-bot"))
    with pytest.raises(CallbackError, match="not issued by this alertmedic"):
        decode(token, key=KEY)


def test_truncated_token_is_refused() -> None:
    token = encode(Intent(Verb.ACK, "g42"), key=KEY)
    with pytest.raises(CallbackError):
        decode(token[:-1], key=KEY)


def test_intent_fields_are_checked() -> None:
    with pytest.raises(ValueError, match="ref must be"):
        Intent(Verb.ACK, "has space")
    with pytest.raises(ValueError, match="ref must be"):
        Intent(Verb.ACK, "r" * 33)
    with pytest.raises(ValueError, match="arg must be"):
        Intent(Verb.SILENCE, "g1", "4H")


def test_slack_action_id_must_agree_with_the_value() -> None:
    intent = Intent(Verb.SILENCE, "g42", "4h")
    value = encode(intent, key=KEY)
    assert slack_action_id(intent) == "alertmedic_silence_4h"
    assert decode_slack("alertmedic_silence_4h", value, key=KEY) == intent
    with pytest.raises(CallbackError, match="does not match"):
        decode_slack("alertmedic_ack", value, key=KEY)
    with pytest.raises(CallbackError, match="not an alertmedic action"):
        decode_slack("other_app_button", value, key=KEY)
