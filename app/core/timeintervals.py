"""Alertmanager's named time intervals: parse the top-level ``time_intervals`` (and the
deprecated ``mute_time_intervals``) and tell whether an instant lies inside one.

Semantics follow Alertmanager's ``timeinterval`` package:

* a named interval is a list of intervals; an instant is inside the name when it is inside any
  of them, and a name without intervals contains no instant;
* an interval has the fields ``times``, ``weekdays``, ``days_of_month``, ``months``, ``years``
  and ``location``; an instant is inside when every field given matches, and a field matches
  when any of its entries does. A field left out (or ``null``) matches everything; a field given
  as an empty list matches nothing (Alertmanager reads ``[]`` as "present, no entry");
* ``times`` are ``HH:MM`` from ``00:00`` to ``24:00`` (two-digit hours), start inclusive, end
  exclusive, start before end (a range cannot wrap midnight);
* the other fields are inclusive ranges ``START:END`` or single values; names are
  case-insensitive. Weekdays are names only (``sunday`` .. ``saturday``); months are names or
  numbers 1-12; days of month are 1..31 or -31..-1 counting from the end of the month (-1 is
  the last day), clamped to the month, and a range starting after the month's last day does
  not match; years are numbers;
* fields are evaluated in ``location`` (an IANA zone name; ``UTC`` or ``""`` for UTC; ``Local``
  for the zone of the machine, as Go's ``time.Local``); without it, in UTC.

Where we differ, on purpose: a month outside 1..12 is an error (Alertmanager 0.25 accepts it and
never matches); the length of a month is its calendar length, as Alertmanager fixed after 0.25
(0.25 measured it in hours, so in zones with a DST change in March, -1 was March 30).

Pure: no I/O except the system's time zone database (:mod:`zoneinfo`, falling back to the
``tzdata`` package) read when a ``location`` is parsed.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "DayRange",
    "Problem",
    "TimeInterval",
    "TimeIntervalError",
    "TimeRange",
    "TimeTable",
    "containing",
    "parse_named_interval",
    "parse_time_intervals",
]

_T = TypeVar("_T")

Problem = tuple[str, str]
"""``(yaml_path, message)``, as the config loader reports problems."""


class TimeIntervalError(ValueError):
    """A time interval definition that cannot be used: ``path`` names the YAML field."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


@dataclass(frozen=True)
class TimeRange:
    """Minutes of the day: ``start`` inclusive, ``end`` exclusive (0 <= start < end <= 1440)."""

    start: int
    end: int

    def __str__(self) -> str:
        return f"{_hhmm(self.start)}-{_hhmm(self.end)}"


@dataclass(frozen=True)
class DayRange:
    """An inclusive range of weekdays (0 = Sunday), days of month, months or years."""

    begin: int
    end: int


@dataclass(frozen=True)
class TimeInterval:
    """One entry of a named interval. ``None`` fields match every instant, empty ones none."""

    times: tuple[TimeRange, ...] | None = None
    weekdays: tuple[DayRange, ...] | None = None
    days_of_month: tuple[DayRange, ...] | None = None
    months: tuple[DayRange, ...] | None = None
    years: tuple[DayRange, ...] | None = None
    location: str | None = None
    """As written; ``None`` is UTC."""
    zone: tzinfo | None = field(default=UTC, compare=False, repr=False)
    """The resolved ``location``; ``None`` is the machine's local zone (``Local``)."""

    def contains(self, instant: datetime) -> bool:
        """Whether the aware datetime `instant` lies inside this interval."""
        if instant.tzinfo is None:
            raise ValueError("time intervals are evaluated at an aware datetime (with a time zone)")
        t = instant.astimezone(self.zone)  # astimezone(None) is the local zone, like Go's Local
        minute = t.hour * 60 + t.minute
        if self.times is not None and not any(r.start <= minute < r.end for r in self.times):
            return False
        if self.days_of_month is not None and not any(_day_in(r, t) for r in self.days_of_month):
            return False
        if self.months is not None and not _in(self.months, t.month):
            return False
        if self.weekdays is not None and not _in(self.weekdays, t.isoweekday() % 7):
            return False
        return self.years is None or _in(self.years, t.year)


TimeTable = Mapping[str, Sequence[TimeInterval]]
"""Named intervals, as :func:`parse_time_intervals` returns them."""


def containing(table: TimeTable, names: Iterable[str], instant: datetime) -> tuple[str, ...]:
    """Those of `names` (in their order, once each) whose intervals contain `instant`.

    Raises KeyError for a name the table lacks (:func:`app.core.routing.validate` reports such
    references before the tree is used).
    """
    found: list[str] = []
    for name in names:
        if name not in table:
            raise KeyError(f"unknown time interval {name!r}")
        if name not in found and any(i.contains(instant) for i in table[name]):
            found.append(name)
    return tuple(found)


def _in(ranges: Iterable[DayRange], value: int) -> bool:
    return any(r.begin <= value <= r.end for r in ranges)


def _day_in(r: DayRange, t: datetime) -> bool:
    days = calendar.monthrange(t.year, t.month)[1]
    begin = days + r.begin + 1 if r.begin < 0 else r.begin
    end = days + r.end + 1 if r.end < 0 else r.end
    if begin > days:  # e.g. 30:31 in February: not this month at all
        return False
    return max(begin, -days) <= t.day <= min(end, days)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


# --- parsing ---------------------------------------------------------------------------------

_NAMED_KEYS = frozenset({"name", "time_intervals"})
_INTERVAL_KEYS = ("times", "weekdays", "days_of_month", "months", "years", "location")
_TIME_KEYS = ("start_time", "end_time")
_TIME = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00")
_ATOI = re.compile(r"[+-]?[0-9]+")  # what Go's strconv.Atoi accepts
# English names whatever the locale (calendar.day_name follows the locale).
_WEEKDAYS = {
    name: i
    for i, name in enumerate(("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"))
}
_MONTHS = {
    name: i + 1
    for i, name in enumerate(
        (
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        )
    )
}
_WEEKDAY_NAMES = {n: name for name, n in _WEEKDAYS.items()}
_MONTH_NAMES = {n: name for name, n in _MONTHS.items()}


def parse_time_intervals(
    time_intervals: Any = None, mute_time_intervals: Any = None
) -> tuple[dict[str, tuple[TimeInterval, ...]], list[Problem]]:
    """The named intervals of a config's top-level ``time_intervals`` and deprecated
    ``mute_time_intervals`` lists (raw YAML data, ``None`` when absent), and every problem
    found, in YAML order. Both lists share one namespace, as in Alertmanager; a name defined
    twice is a problem at the second definition. Entries with problems are left out of the
    table, so a config with problems must not be used."""
    table: dict[str, tuple[TimeInterval, ...]] = {}
    problems: list[Problem] = []
    seen: set[str] = set()
    # Alertmanager reads the deprecated list first, so a clash is reported on time_intervals.
    for key, raw in (("mute_time_intervals", mute_time_intervals), ("time_intervals", time_intervals)):
        if raw is None:
            continue
        if not isinstance(raw, list):
            problems.append((key, "must be a list of named time intervals"))
            continue
        for i, entry in enumerate(raw):
            path = f"{key}[{i}]"
            name = entry.get("name") if isinstance(entry, dict) else None
            if isinstance(name, str) and name in seen:
                problems.append((f"{path}.name", f"time interval {name!r} is not unique"))
            found = _named(entry, path, problems)
            if found is not None and found[0] not in seen:
                table[found[0]] = found[1]
            if isinstance(name, str):
                seen.add(name)
    return table, problems


def parse_named_interval(raw: Any, path: str) -> tuple[str, tuple[TimeInterval, ...]]:
    """One named interval (``{name, time_intervals}``) at YAML path `path`, e.g.
    ``time_intervals[0]``. Raises :class:`TimeIntervalError` for its first problem."""
    problems: list[Problem] = []
    found = _named(raw, path, problems)
    if found is None:
        raise TimeIntervalError(*problems[0])
    return found


def _named(raw: Any, path: str, problems: list[Problem]) -> tuple[str, tuple[TimeInterval, ...]] | None:
    if not isinstance(raw, dict):
        problems.append((path, "must be a mapping with name and time_intervals"))
        return None
    before = len(problems)
    problems += [(f"{path}.{k}", "unknown key") for k in raw if k not in _NAMED_KEYS]
    name = raw.get("name")
    if name is None or name == "":
        problems.append((f"{path}.name", "missing name in time interval"))
    elif not isinstance(name, str):
        problems.append((f"{path}.name", "must be a string"))
    entries = raw.get("time_intervals")
    intervals: list[TimeInterval] = []
    if isinstance(entries, list):
        for i, entry in enumerate(entries):
            interval = _interval(entry, f"{path}.time_intervals[{i}]", problems)
            if interval is not None:
                intervals.append(interval)
    elif entries is not None:
        problems.append((f"{path}.time_intervals", "must be a list"))
    if len(problems) > before or not isinstance(name, str):
        return None
    return name, tuple(intervals)


def _interval(raw: Any, path: str, problems: list[Problem]) -> TimeInterval | None:
    if not isinstance(raw, dict):
        problems.append((path, f"must be a mapping of {', '.join(_INTERVAL_KEYS)}"))
        return None
    before = len(problems)
    problems += [(f"{path}.{k}", "unknown key") for k in raw if k not in _INTERVAL_KEYS]
    times = _each(raw, "times", path, problems, _time_range)
    weekdays = _each(raw, "weekdays", path, problems, _weekdays)
    days = _each(raw, "days_of_month", path, problems, _days_of_month)
    months = _each(raw, "months", path, problems, _months)
    years = _each(raw, "years", path, problems, _years)
    location, zone = _location(raw.get("location"), f"{path}.location", problems)
    if len(problems) > before:
        return None
    return TimeInterval(times, weekdays, days, months, years, location, zone)


def _each(
    raw: Mapping[str, Any],
    key: str,
    path: str,
    problems: list[Problem],
    parse: Callable[[Any], _T],
) -> tuple[_T, ...] | None:
    """Parse every entry of the list `raw[key]`; ``None`` when the key is absent or null."""
    items = raw.get(key)
    if items is None:
        return None
    if not isinstance(items, list):
        problems.append((f"{path}.{key}", "must be a list"))
        return None
    out: list[_T] = []
    for i, item in enumerate(items):
        try:
            out.append(parse(item))
        except TimeIntervalError as exc:
            problems.append((f"{path}.{key}[{i}]{exc.path}", exc.reason))
    return tuple(out)


def _time_range(raw: Any) -> TimeRange:
    if not isinstance(raw, dict):
        raise TimeIntervalError("", "must be a mapping with start_time and end_time")
    for key in raw:
        if key not in _TIME_KEYS:
            raise TimeIntervalError(f".{key}", "unknown key")
    minutes = []
    for key in _TIME_KEYS:
        text = raw.get(key)
        if text is None or text == "":
            raise TimeIntervalError(f".{key}", "required key is missing (both start_time and end_time)")
        if isinstance(text, int) and not isinstance(text, bool):
            # e.g. `8`, or an unquoted 17:00 read by a YAML 1.1 loader as the base-60 number 1020
            # (app.config's loader keeps 17:00 as text, as Alertmanager does).
            raise TimeIntervalError(
                f".{key}", f"{text} is a number, not a time of day: use HH:MM, 00:00 to 24:00"
            )
        if not isinstance(text, str) or _TIME.fullmatch(text) is None:
            raise TimeIntervalError(f".{key}", f"{text!r} is not a time of day: use HH:MM, 00:00 to 24:00")
        hours, mins = text.split(":")
        minutes.append(int(hours) * 60 + int(mins))
    start, end = minutes
    if start >= end:
        raise TimeIntervalError(
            "",
            f"start_time {_hhmm(start)} must be before end_time {_hhmm(end)} "
            "(a range cannot cross midnight: use two ranges)",
        )
    return TimeRange(start, end)


def _weekdays(raw: Any) -> DayRange:
    r = _range(raw, lambda s: _named_member(s, _WEEKDAYS, "a weekday (sunday to saturday)"))
    if r.begin > r.end:
        begin, end = _WEEKDAY_NAMES[r.begin], _WEEKDAY_NAMES[r.end]
        raise TimeIntervalError(
            "", f"start day {begin} is after end day {end} (a range cannot wrap the week: use two ranges)"
        )
    return r


def _days_of_month(raw: Any) -> DayRange:
    r = _range(raw, lambda s: _number(s, "a day of the month"))
    for day in (r.begin, r.end):
        if day == 0 or not -31 <= day <= 31:
            raise TimeIntervalError(
                "", f"{day} is not a day of the month: use 1 to 31, or -31 to -1 counting from the end"
            )
    if r.begin < 0 < r.end:
        raise TimeIntervalError("", "the end day must be negative when the start day is negative")
    # Negative days move with the month's length; 28 days, the shortest month, catches the
    # ranges that are empty in every month.
    if (28 + r.begin if r.begin < 0 else r.begin) > (28 + r.end if r.end < 0 else r.end):
        raise TimeIntervalError("", f"end day {r.end} is always before start day {r.begin}")
    return r


def _months(raw: Any) -> DayRange:
    def member(text: str) -> int:
        if text in _MONTHS:
            return _MONTHS[text]
        number = _number(text, "a month (january to december, or 1 to 12)")
        if not 1 <= number <= 12:
            raise TimeIntervalError("", f"{number} is not a month: use january to december, or 1 to 12")
        return number

    r = _range(raw, member)
    if r.begin > r.end:
        raise TimeIntervalError(
            "", f"end month {_MONTH_NAMES[r.end]} is before start month {_MONTH_NAMES[r.begin]}"
        )
    return r


def _years(raw: Any) -> DayRange:
    r = _range(raw, lambda s: _number(s, "a year"))
    if r.begin > r.end:
        raise TimeIntervalError("", f"end year {r.end} is before start year {r.begin}")
    return r


def _range(raw: Any, member: Callable[[str], int]) -> DayRange:
    """``START:END`` or a single value, lower-cased, each side read by `member`."""
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise TimeIntervalError("", "must be a string such as 'START:END' or a single value")
    text = str(raw).lower()
    parts = text.split(":")
    if len(parts) > 2:
        raise TimeIntervalError("", f"{raw!r} is not a range: use START:END or a single value")
    return DayRange(member(parts[0]), member(parts[-1]))


def _named_member(text: str, names: Mapping[str, int], what: str) -> int:
    if text not in names:
        raise TimeIntervalError("", f"{text!r} is not {what}")
    return names[text]


def _number(text: str, what: str) -> int:
    if _ATOI.fullmatch(text) is None:
        raise TimeIntervalError("", f"{text!r} is not {what}")
    return int(text)


def _location(raw: Any, path: str, problems: list[Problem]) -> tuple[str | None, tzinfo | None]:
    if raw is None:
        return None, UTC
    if not isinstance(raw, str):
        problems.append((path, "must be a time zone name such as Europe/Berlin"))
        return None, UTC
    if raw in ("", "UTC"):
        return raw, UTC
    if raw == "Local":
        return raw, None
    try:
        return raw, ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: e.g. a directory name
        problems.append((path, f"unknown time zone {raw!r}"))
        return raw, UTC
