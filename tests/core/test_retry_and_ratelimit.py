"""Retry delays (exponential, jittered, provider waits honoured, horizon) and token buckets."""

from __future__ import annotations

import random

import pytest

from app.core.durations import format_duration, parse_duration
from app.core.ratelimit import Limiter
from app.core.retry import RetryPolicy


def test_backoff_grows_exponentially_within_jitter_bounds() -> None:
    p = RetryPolicy(initial=1, maximum=60)
    rng = random.Random(7)
    for attempt, step in [(1, 1), (2, 2), (3, 4), (4, 8), (7, 60), (30, 60)]:
        for _ in range(50):
            d = p.delay(attempt, rand=rng)
            assert step / 2 <= d <= step


def test_retry_after_is_a_floor_never_shortened() -> None:
    p = RetryPolicy(initial=1, maximum=60)
    rng = random.Random(1)
    for _ in range(50):
        d = p.delay(9, retry_after=3, rand=rng)
        assert 3 <= d <= 3.3
    assert p.delay(1, retry_after=600, rand=rng) >= 600


def test_horizon() -> None:
    p = RetryPolicy(horizon=100)
    assert not p.gives_up(accepted_at=0, now=50, next_delay=49)
    assert p.gives_up(accepted_at=0, now=50, next_delay=51)


def test_limiter_spaces_sends_per_key_and_shares_a_bot_bucket() -> None:
    lim = Limiter()
    chat = ("tg:chat:1", 1.0, 1)
    bot = ("tg:bot", 30.0, 30)
    assert lim.reserve([chat, bot], now=0.0) == 0.0
    assert lim.reserve([chat, bot], now=0.5) == pytest.approx(0.5)  # refused, nothing taken
    assert lim.reserve([chat, bot], now=1.0) == 0.0
    # another chat of the same bot is not held back by the first chat
    assert lim.reserve([("tg:chat:2", 1.0, 1), bot], now=1.0) == 0.0


def test_limiter_burst_and_penalty() -> None:
    lim = Limiter()
    waits = [lim.reserve([("bot", 30.0, 30)], now=0.0) for _ in range(31)]
    assert waits[:30] == [0.0] * 30
    assert waits[30] == pytest.approx(1 / 30)
    assert lim.reserve([("bot", 30.0, 30)], now=1 / 30) == 0.0
    lim.reserve([("c", 1.0, 1)], now=0.0)
    lim.penalise(("c", 1.0, 1), until=10.0)
    assert lim.reserve([("c", 1.0, 1)], now=1.0) == pytest.approx(9.0)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("1h30m", 5400),
        ("100ms", 0.1),
        ("0", 0),
        (12, 12),
        ("2d", 172800),
        ("1w2d3h4m5s6ms", 788645.006),
        ("1y", 31536000),
    ],
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["", "5", "m5", "5 m", "-1s", "1.5h", " 5m"])
def test_bad_durations(bad: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("1s1h", "units must go from largest to smallest, y w d h m s ms: 'h' comes after 's'"),
        ("30m1d", "'d' comes after 'm'"),
        ("100ms1s", "'s' comes after 'ms'"),
        ("5m5m", "unit 'm' given twice"),
        ("1h30m30m", "unit 'm' given twice"),
    ],
)
def test_duration_units_follow_prometheus_order(bad: str, why: str) -> None:
    """As Prometheus' ParseDuration: each unit once, largest first."""
    with pytest.raises(ValueError, match="not a duration") as err:
        parse_duration(bad)
    assert why in str(err.value)


def test_format_duration() -> None:
    assert format_duration(5400) == "1h30m"
    assert format_duration(0.25) == "250ms"
