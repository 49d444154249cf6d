"""Time series of a Prometheus range query, and how a graph names them (legend, caption).

No I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["MAX_SERIES", "Series", "legend_labels"]

MAX_SERIES = 10
"""Lines drawn in one graph; more would not be readable on a phone."""
_LEGEND_LENGTH = 40


@dataclass(frozen=True)
class Series:
    """One series of a matrix result: its labels and (Unix seconds, value) points."""

    labels: Mapping[str, str]
    points: tuple[tuple[float, float], ...]


def legend_labels(series: Sequence[Series]) -> list[str]:
    """A legend entry per series from the labels whose values differ between them
    (`{pod="a"}`, `{pod="b"}`); a single series is named by all of its labels."""
    names = sorted({k for s in series for k in s.labels})
    if len(series) > 1:
        names = [n for n in names if len({s.labels.get(n) for s in series}) > 1]
    out = []
    for s in series:
        text = ", ".join(f'{n}="{s.labels[n]}"' for n in names if n in s.labels)
        text = "{" + text + "}" if text else "value"
        out.append(text if len(text) <= _LEGEND_LENGTH else text[: _LEGEND_LENGTH - 1] + "…")
    return out
