"""Tests for app.core.timeintervals: Alertmanager's time intervals, parsed and evaluated.

The expectations follow Alertmanager's docs/configuration.md (``<time_interval>``) and the
behaviour of its ``timeinterval`` package; the slow test at the end checks the accept/refuse
verdicts against the real ``amtool check-config`` (tests/e2e/test_time_intervals.py checks the
evaluation against a running Alertmanager).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from app.core.timeintervals import (
    DayRange,
    TimeInterval,
    TimeIntervalError,
    TimeRange,
    containing,
    parse_named_interval,
    parse_time_intervals,
)


def interval(**fields: Any) -> TimeInterval:
    _, [parsed] = parse_named_interval({"name": "x", "time_intervals": [fields]}, "time_intervals[0]")
    return parsed


def at(text: str) -> datetime:
    """An instant written in UTC: ``2024-03-31 00:59``."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


BERLIN = "Europe/Berlin"
WORK_HOURS = {"times": [{"start_time": "09:00", "end_time": "17:00"}]}
EVENING = {"times": [{"start_time": "17:00", "end_time": "24:00"}]}
NIGHT_BERLIN = {"times": [{"start_time": "02:00", "end_time": "03:00"}], "location": BERLIN}

# (fields of one interval, instant in UTC, inside?)
CASES: list[tuple[dict[str, Any], str, bool]] = [
    # Times: start inclusive, end exclusive, in UTC without a location.
    (WORK_HOURS, "2024-05-06 08:59:59", False),
    (WORK_HOURS, "2024-05-06 09:00", True),
    (WORK_HOURS, "2024-05-06 16:59:59.999", True),
    (WORK_HOURS, "2024-05-06 17:00", False),
    # 24:00 ends the day: the last minute is in, the next midnight is not.
    (EVENING, "2024-05-06 23:59:59", True),
    (EVENING, "2024-05-07 00:00", False),
    (EVENING, "2024-05-06 17:00", True),
    ({"times": [{"start_time": "00:00", "end_time": "24:00"}]}, "2024-05-07 00:00", True),
    # Several ranges: any of them.
    ({"times": [WORK_HOURS["times"][0], EVENING["times"][0]]}, "2024-05-06 20:00", True),
    ({"times": [WORK_HOURS["times"][0], EVENING["times"][0]]}, "2024-05-06 08:00", False),
    # Europe/Berlin: 09:00-17:00 local is 08:00-16:00 UTC in winter, 07:00-15:00 in summer.
    ({**WORK_HOURS, "location": BERLIN}, "2024-01-15 08:00", True),
    ({**WORK_HOURS, "location": BERLIN}, "2024-01-15 07:59", False),
    ({**WORK_HOURS, "location": BERLIN}, "2024-07-15 07:00", True),
    ({**WORK_HOURS, "location": BERLIN}, "2024-07-15 14:59", True),
    ({**WORK_HOURS, "location": BERLIN}, "2024-07-15 15:00", False),
    # Spring forward, 2024-03-31 01:00 UTC: 02:00 CET becomes 03:00 CEST, 02:xx never happens.
    (NIGHT_BERLIN, "2024-03-30 01:30", True),  # the day before: 02:30 CET
    (NIGHT_BERLIN, "2024-03-31 00:30", False),  # 01:30 CET
    (NIGHT_BERLIN, "2024-03-31 00:59:59", False),  # 01:59:59 CET
    (NIGHT_BERLIN, "2024-03-31 01:00", False),  # 03:00 CEST
    # Fall back, 2024-10-27 01:00 UTC: 03:00 CEST becomes 02:00 CET, 02:xx happens twice.
    (NIGHT_BERLIN, "2024-10-26 23:59", False),  # 01:59 CEST
    (NIGHT_BERLIN, "2024-10-27 00:00", True),  # 02:00 CEST
    (NIGHT_BERLIN, "2024-10-27 00:59", True),  # 02:59 CEST
    (NIGHT_BERLIN, "2024-10-27 01:00", True),  # 02:00 CET
    (NIGHT_BERLIN, "2024-10-27 01:59", True),  # 02:59 CET
    (NIGHT_BERLIN, "2024-10-27 02:00", False),  # 03:00 CET
    # Weekdays: names in any case, Sunday starts the week, ranges inclusive.
    ({"weekdays": ["Monday:FRIDAY"]}, "2024-05-05 12:00", False),  # Sunday
    ({"weekdays": ["Monday:FRIDAY"]}, "2024-05-06 00:00", True),  # Monday
    ({"weekdays": ["Monday:FRIDAY"]}, "2024-05-10 23:59", True),  # Friday
    ({"weekdays": ["Monday:FRIDAY"]}, "2024-05-11 00:00", False),  # Saturday
    ({"weekdays": ["saturday", "sunday"]}, "2024-05-05 12:00", True),
    ({"weekdays": ["sunday:saturday"]}, "2024-05-08 12:00", True),
    ({"weekdays": ["sunday:monday"]}, "2024-05-07 12:00", False),  # Tuesday
    # The weekday is the local one: Friday 22:30 UTC is Saturday 00:30 in Berlin.
    ({"weekdays": ["saturday", "sunday"]}, "2024-05-10 22:30", False),
    ({"weekdays": ["saturday", "sunday"], "location": BERLIN}, "2024-05-10 22:30", True),
    # Days of month: negative counts from the end; February of the leap year 2024 has 29 days.
    ({"days_of_month": ["-1"]}, "2024-02-29 12:00", True),
    ({"days_of_month": ["-1"]}, "2024-02-28 12:00", False),
    ({"days_of_month": ["-1"]}, "2023-02-28 12:00", True),
    ({"days_of_month": ["-3:-1"]}, "2024-02-26 23:59", False),
    ({"days_of_month": ["-3:-1"]}, "2024-02-27 00:00", True),
    ({"days_of_month": ["-3:-1"]}, "2023-02-26 00:00", True),
    ({"days_of_month": ["-3:-1"]}, "2024-01-28 12:00", False),
    ({"days_of_month": ["-3:-1"]}, "2024-01-29 12:00", True),
    ({"days_of_month": ["1:-1"]}, "2024-02-29 12:00", True),
    ({"days_of_month": ["25:-1"]}, "2024-02-24 12:00", False),
    ({"days_of_month": ["25:-1"]}, "2024-02-29 12:00", True),
    # Past the month's end: clamped, and a range starting after the last day is empty.
    ({"days_of_month": ["29:31"]}, "2024-02-29 12:00", True),
    ({"days_of_month": ["29:31"]}, "2023-02-28 12:00", False),
    ({"days_of_month": ["30:31"]}, "2024-02-29 12:00", False),
    ({"days_of_month": ["31"]}, "2024-04-30 12:00", False),
    # -31 in a 29-day month is before its first day: -31:-29 is February 1 only.
    ({"days_of_month": ["-31:-29"]}, "2024-02-01 12:00", True),
    ({"days_of_month": ["-31:-29"]}, "2024-02-02 12:00", False),
    ({"days_of_month": ["-31:-29"]}, "2024-03-03 12:00", True),
    ({"days_of_month": [1, "15"]}, "2024-03-15 12:00", True),  # unquoted YAML numbers too
    # The month's length is its calendar length in every zone (Berlin's March has 743 hours).
    ({"days_of_month": ["-1"], "location": BERLIN}, "2024-03-31 12:00", True),
    ({"days_of_month": ["-1"], "location": BERLIN}, "2024-03-30 12:00", False),
    # Months: names in any case or numbers, inclusive.
    ({"months": ["may:august"]}, "2024-04-30 23:59", False),
    ({"months": ["may:august"]}, "2024-05-01 00:00", True),
    ({"months": ["may:august"]}, "2024-08-31 23:59", True),
    ({"months": ["may:august"]}, "2024-09-01 00:00", False),
    ({"months": ["1:3"]}, "2024-01-01 00:00", True),
    ({"months": ["1:3"]}, "2024-04-01 00:00", False),
    ({"months": ["2:April", "DECEMBER"]}, "2024-12-01 00:00", True),
    ({"months": ["2:April", "DECEMBER"]}, "2024-01-31 00:00", False),
    # 22:00 on January 31 in New York is February 1 in UTC.
    ({"months": ["january"], "location": "America/New_York"}, "2024-02-01 03:00", True),
    ({"months": ["january"]}, "2024-02-01 03:00", False),
    # Years.
    ({"years": ["2020:2022"]}, "2022-12-31 23:59", True),
    ({"years": ["2020:2022"]}, "2023-01-01 00:00", False),
    ({"years": ["2024", 2026]}, "2026-06-01 00:00", True),
    # Kiritimati is UTC+14: 2022-12-31 10:00 UTC is already 2023 there.
    ({"years": ["2020:2022"], "location": "Pacific/Kiritimati"}, "2022-12-31 10:00", False),
    # Every field must match.
    (
        {**WORK_HOURS, "weekdays": ["monday:friday"], "months": ["may"], "years": ["2024"]},
        "2024-05-06 10:00",
        True,
    ),
    (
        {**WORK_HOURS, "weekdays": ["monday:friday"], "months": ["may"], "years": ["2024"]},
        "2024-05-11 10:00",
        False,
    ),
    # An interval without fields contains every instant; an empty list, none (as Alertmanager
    # reads "present, no entry"); null is "not given".
    ({}, "2024-05-06 10:00", True),
    ({"weekdays": []}, "2024-05-06 10:00", False),
    ({"times": []}, "2024-05-06 10:00", False),
    ({"weekdays": None, "times": None}, "2024-05-06 10:00", True),
    # UTC spelled out, or an empty location, is UTC.
    ({**WORK_HOURS, "location": "UTC"}, "2024-07-15 16:30", True),
    ({**WORK_HOURS, "location": ""}, "2024-07-15 16:30", True),
]


@pytest.mark.parametrize(("fields", "instant", "inside"), CASES)
def test_contains(fields: dict[str, Any], instant: str, inside: bool) -> None:
    assert interval(**fields).contains(at(instant)) is inside


def test_contains_takes_any_zone_of_the_instant() -> None:
    berlin_nine = datetime(2024, 1, 15, 9, 0, tzinfo=timezone(timedelta(hours=1)))
    assert interval(**WORK_HOURS, location=BERLIN).contains(berlin_nine)
    assert not interval(**WORK_HOURS).contains(berlin_nine.replace(hour=8, minute=59))  # 07:59 UTC
    with pytest.raises(ValueError, match="aware"):
        interval().contains(datetime(2024, 1, 1))  # naive


@pytest.fixture
def local_tokyo(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local zone is Asia/Tokyo (UTC+9, no DST) for the test."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("local_tokyo")
def test_location_local_is_the_machines_zone() -> None:
    local = interval(**WORK_HOURS, location="Local")
    assert local.location == "Local"
    assert local.contains(at("2024-05-06 00:00"))  # 09:00 in Tokyo
    assert not local.contains(at("2024-05-06 08:00"))  # 17:00 in Tokyo
    assert not interval(**WORK_HOURS).contains(at("2024-05-06 00:00"))  # UTC stays UTC


def test_parsed_values() -> None:
    parsed = interval(
        times=[{"start_time": "09:30", "end_time": "24:00"}],
        weekdays=["Monday:wednesday", "SATURDAY"],
        days_of_month=["1:5", "-3:-1"],
        months=["1:3", "may:August"],
        years=["2020:2022"],
        location=BERLIN,
    )
    assert parsed == TimeInterval(
        times=(TimeRange(570, 1440),),
        weekdays=(DayRange(1, 3), DayRange(6, 6)),
        days_of_month=(DayRange(1, 5), DayRange(-3, -1)),
        months=(DayRange(1, 3), DayRange(5, 8)),
        years=(DayRange(2020, 2022),),
        location=BERLIN,
    )
    assert str(parsed.times[0]) == "09:30-24:00"  # type: ignore[index]
    assert interval() == TimeInterval()


def test_table_and_containing() -> None:
    table, problems = parse_time_intervals(
        [
            {"name": "always", "time_intervals": [{}]},
            {"name": "never"},  # no intervals: contains nothing
            {"name": "weekends", "time_intervals": [{"weekdays": ["saturday", "sunday"]}]},
        ],
        [{"name": "legacy", "time_intervals": [{"years": ["2024"]}]}],
    )
    assert problems == []
    assert list(table) == ["legacy", "always", "never", "weekends"]
    saturday = at("2024-05-11 12:00")
    assert containing(table, ["never", "weekends", "always", "weekends"], saturday) == ("weekends", "always")
    assert containing(table, ["legacy", "never"], at("2025-01-01 00:00")) == ()
    assert containing(table, [], saturday) == ()
    with pytest.raises(KeyError, match="unknown time interval 'offhours'"):
        containing(table, ["always", "offhours"], saturday)
    assert parse_time_intervals() == ({}, [])


P = "time_intervals[0].time_intervals[0]"

# (fields of one interval, path below it, message)
BAD: list[tuple[dict[str, Any], str, str]] = [
    ({"weekday": ["monday"]}, ".weekday", "unknown key"),
    ({"times": {"start_time": "09:00"}}, ".times", "must be a list"),
    ({"times": ["09:00-17:00"]}, ".times[0]", "must be a mapping with start_time and end_time"),
    ({"times": [{"start_time": "09:00"}]}, ".times[0].end_time", "required key is missing"),
    ({"times": [{"start_time": "", "end_time": "10:00"}]}, ".times[0].start_time", "required key is missing"),
    (
        {"times": [{"start_time": "9:00", "end_time": "10:00"}]},
        ".times[0].start_time",
        "'9:00' is not a time",
    ),
    ({"times": [{"start_time": "09:60", "end_time": "10:00"}]}, ".times[0].start_time", "not a time of day"),
    ({"times": [{"start_time": "09:00", "end_time": "24:01"}]}, ".times[0].end_time", "not a time of day"),
    ({"times": [{"start_time": "09:00", "end_time": "25:00"}]}, ".times[0].end_time", "not a time of day"),
    (
        {"times": [{"start_time": 1020, "end_time": "18:00"}]},
        ".times[0].start_time",
        "is a number, not a time of day",
    ),
    ({"times": [{"start_time": "10:00", "end_time": "10:00"}]}, ".times[0]", "must be before end_time 10:00"),
    ({"times": [{"start_time": "22:00", "end_time": "06:00"}]}, ".times[0]", "cannot cross midnight"),
    ({"times": [{"start_time": "24:00", "end_time": "24:00"}]}, ".times[0]", "must be before"),
    ({"times": [{"start_time": "09:00", "end_time": "10:00", "tz": "x"}]}, ".times[0].tz", "unknown key"),
    ({"weekdays": "monday"}, ".weekdays", "must be a list"),
    ({"weekdays": ["1"]}, ".weekdays[0]", "'1' is not a weekday"),
    ({"weekdays": [1]}, ".weekdays[0]", "'1' is not a weekday"),
    ({"weekdays": ["mon"]}, ".weekdays[0]", "'mon' is not a weekday"),
    ({"weekdays": ["friday:monday"]}, ".weekdays[0]", "start day friday is after end day monday"),
    # The week starts on Sunday: a weekend is two entries.
    ({"weekdays": ["saturday:sunday"]}, ".weekdays[0]", "start day saturday is after end day sunday"),
    ({"weekdays": ["monday:"]}, ".weekdays[0]", "'' is not a weekday"),
    ({"weekdays": ["monday:tuesday:friday"]}, ".weekdays[0]", "is not a range"),
    ({"weekdays": [True]}, ".weekdays[0]", "must be a string"),
    ({"days_of_month": ["0"]}, ".days_of_month[0]", "0 is not a day of the month"),
    ({"days_of_month": ["32"]}, ".days_of_month[0]", "32 is not a day of the month"),
    ({"days_of_month": ["-32:-1"]}, ".days_of_month[0]", "-32 is not a day of the month"),
    ({"days_of_month": ["1:0"]}, ".days_of_month[0]", "0 is not a day of the month"),
    ({"days_of_month": ["-1:1"]}, ".days_of_month[0]", "end day must be negative"),
    ({"days_of_month": ["5:1"]}, ".days_of_month[0]", "end day 1 is always before start day 5"),
    ({"days_of_month": ["-1:-3"]}, ".days_of_month[0]", "end day -3 is always before start day -1"),
    ({"days_of_month": ["28:-1"]}, ".days_of_month[0]", "end day -1 is always before start day 28"),
    ({"days_of_month": [" 3"]}, ".days_of_month[0]", "' 3' is not a day of the month"),
    ({"days_of_month": ["1_0"]}, ".days_of_month[0]", "'1_0' is not a day of the month"),
    ({"days_of_month": [1.5]}, ".days_of_month[0]", "must be a string"),
    ({"months": ["13"]}, ".months[0]", "13 is not a month"),
    ({"months": ["0:3"]}, ".months[0]", "0 is not a month"),
    ({"months": ["mai"]}, ".months[0]", "'mai' is not a month"),
    ({"months": ["august:may"]}, ".months[0]", "end month may is before start month august"),
    ({"years": ["2022:2020"]}, ".years[0]", "end year 2020 is before start year 2022"),
    ({"years": ["twenty"]}, ".years[0]", "'twenty' is not a year"),
    ({"location": "Mars/Olympus"}, ".location", "unknown time zone 'Mars/Olympus'"),
    ({"location": "europe/berlin"}, ".location", "unknown time zone 'europe/berlin'"),
    ({"location": "utc"}, ".location", "unknown time zone 'utc'"),
    ({"location": "Europe"}, ".location", "unknown time zone 'Europe'"),
    ({"location": "../etc/passwd"}, ".location", "unknown time zone"),
    ({"location": 1}, ".location", "must be a time zone name"),
]


@pytest.mark.parametrize(("fields", "where", "message"), BAD)
def test_bad_interval_names_the_field(fields: dict[str, Any], where: str, message: str) -> None:
    table, problems = parse_time_intervals([{"name": "x", "time_intervals": [fields]}])
    assert len(problems) == 1, problems
    [(path, text)] = problems
    assert path == P + where
    assert message in text
    assert table == {}  # nothing half-accepted
    with pytest.raises(TimeIntervalError, match="^" + (P + where).replace("[", r"\[").replace("]", r"\]")):
        parse_named_interval({"name": "x", "time_intervals": [fields]}, "time_intervals[0]")


def test_every_problem_is_listed_in_yaml_order() -> None:
    table, problems = parse_time_intervals(
        [
            {"name": "ok", "time_intervals": [{"weekdays": ["monday"]}]},
            {"time_intervals": [{}]},
            {"name": "bad", "time_intervals": [{"weekdays": ["x", "friday:monday"]}, {"months": ["y"]}]},
            {"name": "ok", "time_intervals": [{"years": ["x"]}]},
            "offhours",
            {"name": 7, "intervals": []},
        ],
        [{"name": "ok"}],
    )
    assert problems == [
        ("time_intervals[0].name", "time interval 'ok' is not unique"),
        ("time_intervals[1].name", "missing name in time interval"),
        ("time_intervals[2].time_intervals[0].weekdays[0]", "'x' is not a weekday (sunday to saturday)"),
        (
            "time_intervals[2].time_intervals[0].weekdays[1]",
            "start day friday is after end day monday (a range cannot wrap the week: use two ranges)",
        ),
        (
            "time_intervals[2].time_intervals[1].months[0]",
            "'y' is not a month (january to december, or 1 to 12)",
        ),
        ("time_intervals[3].name", "time interval 'ok' is not unique"),
        ("time_intervals[3].time_intervals[0].years[0]", "'x' is not a year"),
        ("time_intervals[4]", "must be a mapping with name and time_intervals"),
        ("time_intervals[5].intervals", "unknown key"),
        ("time_intervals[5].name", "must be a string"),
    ]
    # The deprecated list is read first, as in Alertmanager; a repeated name keeps the first.
    assert table == {"ok": ()}
    assert parse_time_intervals({"name": "x"})[1] == [
        ("time_intervals", "must be a list of named time intervals")
    ]
    assert parse_time_intervals(None, [{"name": "x", "time_intervals": {}}])[1] == [
        ("mute_time_intervals[0].time_intervals", "must be a list")
    ]


# --- against the real Alertmanager ------------------------------------------------------------

# Intervals Alertmanager 0.25 accepts and we refuse, on purpose (see the module docstring).
STRICTER = [{"months": ["13"]}, {"months": ["0:3"]}]
GOOD = [fields for fields, _, _ in CASES] + [
    {"weekdays": ["Sunday"]},
    {"days_of_month": ["-31:-1"]},
    {"years": ["-5:-3"]},
    {"location": "Local"},
    {"months": ["+3"]},
    {"times": [{"start_time": "00:00", "end_time": "00:01"}]},
]


@pytest.mark.slow
def test_accepts_and_refuses_what_amtool_check_config_does(tmp_path: Path) -> None:
    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.fail("amtool is missing: `make system-deps` installs it", pytrace=False)
    assert all(any(f == bad for bad, _, _ in BAD) for f in STRICTER)
    # We accept what amtool accepts and refuse what it refuses, except STRICTER.
    cases = [(f, True) for f in GOOD] + [(f, f in STRICTER) for f, _, _ in BAD]
    disagree = []
    for i, (fields, am_accepts) in enumerate(cases):
        entry = {"name": "x", "time_intervals": [fields]}
        ours = parse_time_intervals([entry])[1] == []
        assert ours is (am_accepts and fields not in STRICTER), (fields, parse_time_intervals([entry])[1])
        config = {
            "route": {"receiver": "r", "routes": [{"receiver": "r", "mute_time_intervals": ["x"]}]},
            "receivers": [{"name": "r"}],
            "time_intervals": [entry],
        }
        path = tmp_path / f"c{i}.yml"
        path.write_text(json.dumps(config))
        run = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True, check=False)
        if (run.returncode == 0) is not am_accepts:
            disagree.append((fields, run.stdout + run.stderr))
    assert disagree == []
