"""`time_intervals:` and the deprecated `mute_time_intervals:`: Alertmanager's named intervals.

Both top-level lists are parsed by the core (`app.core.timeintervals`) once, at validation; every
problem keeps its own YAML path (`time_intervals[0].time_intervals[1].times[0].end_time`). The
two lists share one namespace, as in Alertmanager: `Config.time_table` joins them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import PlainValidator
from pydantic_core import PydanticCustomError

from app.core.timeintervals import Problem, TimeInterval, parse_time_intervals

PROBLEMS = "time_interval_problems"
"""The pydantic error type whose `ctx["problems"]` lists (yaml path, message) pairs."""


def raise_problems(problems: list[Problem]) -> None:
    """One pydantic error carrying every problem with its own path (see app.config.problems)."""
    raise PydanticCustomError(
        PROBLEMS, "{count} time interval problems", {"count": len(problems), "problems": problems}
    )


def _parser(key: str) -> PlainValidator:
    def parse(raw: Any) -> dict[str, tuple[TimeInterval, ...]]:
        if key == "time_intervals":
            table, problems = parse_time_intervals(raw, None)
        else:
            table, problems = parse_time_intervals(None, raw)
        if problems:
            raise_problems(problems)
        return table

    return PlainValidator(parse)


NamedIntervals = dict[str, tuple[TimeInterval, ...]]
TimeIntervals = Annotated[NamedIntervals, _parser("time_intervals")]
"""The top-level `time_intervals:` list, parsed into name -> intervals."""
MuteTimeIntervals = Annotated[NamedIntervals, _parser("mute_time_intervals")]
"""The deprecated top-level `mute_time_intervals:` list (same entries, same namespace)."""


def clashes(time_intervals: Mapping[str, Any], mute_time_intervals: Mapping[str, Any]) -> list[Problem]:
    """`time_intervals` names already defined in `mute_time_intervals` (Alertmanager reads the
    deprecated list first, so the clash is reported on `time_intervals`). A valid list keeps
    its YAML order, so the position is the entry's index."""
    return [
        (f"time_intervals[{i}].name", f"time interval {name!r} is not unique")
        for i, name in enumerate(time_intervals)
        if name in mute_time_intervals
    ]


def interval_names(raw: Mapping[str, Any]) -> set[str]:
    """The names defined in a raw config mapping, also when some entries are invalid (so a
    route naming a broken interval is not also told that the name is unknown)."""
    names: set[str] = set()
    for key in ("time_intervals", "mute_time_intervals"):
        entries = raw.get(key)
        if isinstance(entries, list):
            names.update(e["name"] for e in entries if isinstance(e, dict) and isinstance(e.get("name"), str))
    return names
