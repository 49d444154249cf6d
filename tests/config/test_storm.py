"""`delivery.storm`: defaults, durations, and bad values named by their path."""

from __future__ import annotations

import pytest

from app.config import ConfigError, parse_config

BASE = """
server: {listen: "127.0.0.1:9095", auth: {bearer_token: t}}
receivers: [{name: oncall}]
route: {receiver: oncall}
"""


def test_defaults_and_durations() -> None:
    storm = parse_config(BASE, env={}, check_files=False).config.delivery.storm
    assert (storm.after, storm.top) == (30.0, 10)
    text = BASE + "delivery: {storm: {after: 1m30s, top: 5}}\n"
    storm = parse_config(text, env={}, check_files=False).config.delivery.storm
    assert (storm.after, storm.top) == (90.0, 5)


@pytest.mark.parametrize(
    ("storm", "path", "words"),
    [
        ("{after: soon}", "delivery.storm.after", "not a duration: 'soon'"),
        ("{top: 0}", "delivery.storm.top", "greater than or equal to 1"),
        ("{top: 31}", "delivery.storm.top", "less than or equal to 30"),
        ("{afterr: 1m}", "delivery.storm.afterr", "unknown key (did you mean `after`?)"),
    ],
)
def test_bad_values_are_named(storm: str, path: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(BASE + f"delivery: {{storm: {storm}}}\n", env={}, check_files=False)
    problems = dict(err.value.problems)
    assert path in problems and words in problems[path], problems
