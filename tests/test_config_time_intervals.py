"""Config: top-level time_intervals / mute_time_intervals and the route keys that use them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from app.config import ConfigError, parse_config
from app.config.loading import YamlLoader
from app.core.routing import match_at

HEAD = """
server:
  listen: 127.0.0.1:9095
  auth:
    bearer_token: t
receivers:
  - name: default
  - name: pager
"""

NIGHTS = (
    HEAD
    + """
time_intervals:
  - name: night
    time_intervals:
      - times:
          - start_time: 00:00
            end_time: 08:00
          - start_time: 17:00
            end_time: 24:00
        location: Europe/Berlin
  - name: weekdays
    time_intervals:
      - weekdays: ['monday:friday']
mute_time_intervals:
  - name: christmas
    time_intervals:
      - months: [december]
        days_of_month: ['24:26']
route:
  receiver: default
  routes:
    - matchers: ['namespace="staging"']
      receiver: pager
      mute_time_intervals: [night, christmas]
    - matchers: ['severity="critical"']
      receiver: pager
      active_time_intervals: [weekdays]
"""
)


def problems_of(text: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as err:
        parse_config(text, check_files=False)
    return dict(err.value.problems)


def test_intervals_are_accepted_with_unquoted_times_and_reach_the_tree() -> None:
    config = parse_config(NIGHTS, check_files=False).config
    assert set(config.time_table) == {"night", "weekdays", "christmas"}
    [night] = config.time_table["night"]
    assert [str(t) for t in night.times or ()] == ["00:00-08:00", "17:00-24:00"]
    tree = config.route.tree
    assert tree.routes[0].mute_time_intervals == ("night", "christmas")
    assert tree.routes[1].active_time_intervals == ("weekdays",)
    staging = {"namespace": "staging"}
    # 18:30 in Berlin (17:30 UTC) on a Wednesday is night; 10:00 Berlin is not.
    at_night = match_at(
        tree, staging, intervals=config.time_table, at=datetime(2026, 11, 25, 17, 30, tzinfo=UTC)
    )
    by_day = match_at(tree, staging, intervals=config.time_table, at=datetime(2026, 11, 25, 9, 0, tzinfo=UTC))
    assert (at_night.receivers, [m.intervals for m in at_night.muted]) == ((), [("night",)])
    assert (by_day.receivers, by_day.muted) == (("pager",), ())


def test_the_loader_reads_no_base60_numbers() -> None:
    """YAML 1.1 reads an unquoted 17:00 as 1020 (yaml.safe_load does); Alertmanager keeps the text."""
    assert yaml.safe_load("t: 17:00") == {"t": 1020}
    got = yaml.load(
        "t: 17:00\nh: 1:30:00.5\nn: 12\nx: 0x1f\nf: 1.5e+3\nneg: -1001234567890", Loader=YamlLoader
    )
    assert got == {"t": "17:00", "h": "1:30:00.5", "n": 12, "x": 31, "f": 1500.0, "neg": -1001234567890}
    assert yaml.safe_load("t: 17:00") == {"t": 1020}  # SafeLoader itself is left unchanged


@pytest.mark.parametrize(
    ("old", "new", "path", "message"),
    [
        (
            "end_time: 08:00",
            "end_time: 25:00",
            "time_intervals[0].time_intervals[0].times[0].end_time",
            "'25:00' is not a time of day",
        ),
        (
            "['monday:friday']",
            "['monday:fryday']",
            "time_intervals[1].time_intervals[0].weekdays[0]",
            "'fryday' is not a weekday",
        ),
        (
            "location: Europe/Berlin",
            "location: Europe/Berlln",
            "time_intervals[0].time_intervals[0].location",
            "unknown time zone 'Europe/Berlln'",
        ),
        (
            "months: [december]",
            "monthz: [december]",
            "mute_time_intervals[0].time_intervals[0].monthz",
            "unknown key",
        ),
        (
            "mute_time_intervals: [night, christmas]",
            "mute_time_intervals: [night, xmas]",
            "route.routes[0].mute_time_intervals[1]",
            "unknown time interval 'xmas'",
        ),
        (
            "active_time_intervals: [weekdays]",
            "active_time_intervals: [weekday]",
            "route.routes[1].active_time_intervals[0]",
            "unknown time interval 'weekday'",
        ),
        (
            "- name: christmas",
            "- name: night",
            "time_intervals[0].name",
            "time interval 'night' is not unique",
        ),
    ],
)
def test_a_bad_interval_is_named_by_its_path(old: str, new: str, path: str, message: str) -> None:
    assert old in NIGHTS
    problems = problems_of(NIGHTS.replace(old, new))
    assert path in problems, problems
    assert problems[path].startswith(message)


def test_every_interval_problem_is_listed_with_the_other_sections_problems() -> None:
    text = (
        NIGHTS.replace("end_time: 08:00", "end_time: 07:60")
        .replace("start_time: 17:00", "start_time: 18:00\n            end_time: 17:00\n            x: 1")
        .replace("listen:", "listn:")
    )
    problems = problems_of(text)
    assert "time_intervals[0].time_intervals[0].times[0].end_time" in problems
    assert "time_intervals[0].time_intervals[0].times[1].x" in problems
    assert problems["server.listn"].startswith("unknown key")
    # A route naming an interval whose definition is broken is not also told the name is unknown.
    assert not any(p.startswith("route.") for p in problems), problems


def test_the_root_route_cannot_be_muted() -> None:
    text = NIGHTS.replace(
        "  receiver: default\n  routes:", "  receiver: default\n  mute_time_intervals: [night]\n  routes:"
    )
    assert problems_of(text) == {
        "route.mute_time_intervals": "the root route must not have any mute time intervals"
    }


def test_a_route_interval_names_must_be_strings() -> None:
    problems = problems_of(NIGHTS.replace("[night, christmas]", "night"))
    assert "route.routes[0].mute_time_intervals" in problems


def test_the_readme_example_mutes_staging_at_night_and_at_weekends() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    example = readme.split("### Time intervals", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    text = HEAD.replace("- name: default", "- name: oncall").replace("- name: pager", "- name: staging-team")
    config = parse_config(text + example, check_files=False).config
    tree, table = config.route.tree, config.time_table
    labels = {"namespace": "staging-eu"}

    def notified(at: str) -> tuple[str, ...]:
        return match_at(tree, labels, intervals=table, at=datetime.fromisoformat(at)).receivers

    assert notified("2026-11-25T21:30:00+01:00") == ()  # Wednesday night in Berlin
    assert notified("2026-11-25T07:59:00+01:00") == ()
    assert notified("2026-11-25T08:00:00+01:00") == ("staging-team",)
    assert notified("2026-11-28T12:00:00+01:00") == ()  # Saturday
    assert match_at(
        tree, {"namespace": "prod"}, intervals=table, at=datetime.fromisoformat("2026-11-28T03:00:00+01:00")
    ).receivers == ("oncall",)
