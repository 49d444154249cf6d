"""Slack interactivity requests: signature (valid, invalid, stale, too large) over the raw body,
then the block_actions payload, built by FakeSlack's signed-request helper."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest

from app.chatops.slack_interactions import InteractionError, parse_interaction
from app.chatops.slack_signing import MAX_AGE, MAX_BODY, SignatureError, Verified, signature, verify
from tests.fakes.slack import block_actions_request, sign

SECRET = "slack-signing-secret"
NOW = 1_764_000_000


def click(timestamp: int = NOW, **kw: str) -> tuple[bytes, dict[str, str]]:
    args = {
        "user_id": "U024BE7LH",
        "channel_id": "C0ALERTS01",
        "message_ts": "1764000000.000100",
        "action_id": "alertmedic_silence_4h",
        "value": "s4h.g1.AAAAAAAAAAAAAAAA",
        "response_url": "http://127.0.0.1:9/actions/T/1/x",
    } | kw
    return block_actions_request(SECRET, timestamp=timestamp, **args)


def check(body: bytes, headers: dict[str, str], *, now: float = NOW, secret: str = SECRET) -> Verified:
    return verify(
        secret,
        timestamp=headers.get("X-Slack-Request-Timestamp"),
        signature_header=headers.get("X-Slack-Signature"),
        body=body,
        now=now,
    )


def test_our_signature_is_the_fakes() -> None:
    body, _ = click()
    assert signature(SECRET, "123", body) == sign(SECRET, "123", body)


def test_a_valid_request_passes_with_a_replay_key() -> None:
    body, headers = click()
    first = check(body, headers, now=NOW + MAX_AGE)
    again = check(body, headers, now=NOW - MAX_AGE)
    assert first == again  # the same request has the same replay key...
    other = check(*click(timestamp=NOW + 1), now=NOW)
    assert other != first  # ...and another request another one
    assert first.expires_at == NOW + MAX_AGE


def _flip_last(signature: str) -> str:
    """The signature with its last hex digit changed (always a different one)."""
    return signature[:-1] + ("1" if signature.endswith("0") else "0")


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda b, h: (b + b"&x=1", h), "bad_signature"),
        (lambda b, h: (b, h | {"X-Slack-Signature": _flip_last(h["X-Slack-Signature"])}), "bad_signature"),
        (lambda b, h: (b, h | {"X-Slack-Signature": "v1=" + h["X-Slack-Signature"][3:]}), "bad_signature"),
        (lambda b, h: (b, h | {"X-Slack-Signature": "v0=é"}), "bad_signature"),
        (lambda b, h: (b, {k: v for k, v in h.items() if k != "X-Slack-Signature"}), "missing_signature"),
        (
            lambda b, h: (b, {k: v for k, v in h.items() if k != "X-Slack-Request-Timestamp"}),
            "missing_signature",
        ),
        (lambda b, h: (b, h | {"X-Slack-Request-Timestamp": "soon"}), "bad_timestamp"),
        (lambda b, h: (b, h | {"X-Slack-Request-Timestamp": str(NOW + 1)}), "bad_signature"),
    ],
)
def test_invalid_requests_are_refused(mutate: object, reason: str) -> None:
    body, headers = mutate(*click())  # type: ignore[operator]
    with pytest.raises(SignatureError) as info:
        check(body, headers)
    assert info.value.reason == reason


def test_wrong_secret_is_refused() -> None:
    with pytest.raises(SignatureError, match="does not match"):
        check(*click(), secret="other")


@pytest.mark.parametrize("skew", [MAX_AGE + 1, -(MAX_AGE + 1), 3600])
def test_stale_or_future_requests_are_refused(skew: float) -> None:
    body, headers = click()
    with pytest.raises(SignatureError) as info:
        check(body, headers, now=NOW + skew)
    assert info.value.reason == "stale"


def test_bodies_over_one_mib_are_refused_before_hashing() -> None:
    body = b"payload=" + b"x" * MAX_BODY
    headers = {"X-Slack-Request-Timestamp": str(NOW), "X-Slack-Signature": sign(SECRET, str(NOW), body)}
    with pytest.raises(SignatureError) as info:
        check(body, headers)
    assert info.value.reason == "too_large"


def test_block_actions_payload_is_read() -> None:
    body, _ = click()
    interaction = parse_interaction(body)
    assert interaction.user_id == "U024BE7LH" and interaction.user_name == "alice"
    assert interaction.channel_id == "C0ALERTS01" and interaction.message_ts == "1764000000.000100"
    assert interaction.response_url == "http://127.0.0.1:9/actions/T/1/x" and interaction.trigger_id
    [action] = interaction.actions
    assert (action.action_id, action.block_id, action.value) == (
        "alertmedic_silence_4h",
        "alertmedic_actions",
        "s4h.g1.AAAAAAAAAAAAAAAA",
    )


def payload_body(payload: object) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"", "form field payload is missing"),
        (b"\xff", "not UTF-8"),
        (b"payload=%7Bnot-json", "payload is not JSON"),
        (payload_body([1]), "must be a JSON object"),
        (payload_body({"type": "view_submission"}), "'view_submission' is not handled"),
        (payload_body({"type": "block_actions", "actions": []}), "lacks actions"),
        (payload_body({"type": "block_actions", "actions": [{"value": "x"}]}), "lacks action_id"),
        (payload_body({"type": "block_actions", "actions": [{"action_id": "a"}]}), "lacks user.id"),
    ],
)
def test_bad_payloads_name_the_field(body: bytes, words: str) -> None:
    with pytest.raises(InteractionError, match=words):
        parse_interaction(body)


def test_real_clock_signature_is_accepted() -> None:
    body, headers = block_actions_request(
        SECRET,
        user_id="U1AAAAAAA",
        channel_id="C0ALERTS01",
        message_ts="1.2",
        action_id="alertmedic_ack",
        value="v",
        response_url="http://127.0.0.1:9/r",
    )
    check(body, headers, now=time.time())
