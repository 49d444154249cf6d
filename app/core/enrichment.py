"""What enrichment adds to a notification: log lines, graphs and notes on what could not be had.

An `Enrichment` is computed once per alert group state and stored with the notification, so
every destination and every retry shows the same thing: it round-trips through
`to_json` / `from_json` (PNG bytes as base64). Everything in it is already redacted.

No I/O.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Enrichment", "Fetch", "Graph", "LogLine", "LogSection", "Outcome", "Source"]

Source = Literal["loki", "prometheus"]
Outcome = Literal["ok", "empty", "timeout", "error"]


@dataclass(frozen=True)
class LogLine:
    """One log line: `time` is "HH:MM:SS" UTC, `text` escaped of control characters and cut."""

    ns: int
    time: str
    text: str


@dataclass(frozen=True)
class LogSection:
    """The lines one distinct query returned, oldest first (newest last)."""

    query: str
    lines: tuple[LogLine, ...]


@dataclass(frozen=True)
class Graph:
    """A rendered graph of one expression: PNG bytes and a one-line caption."""

    expr: str
    png: bytes = field(repr=False)
    caption: str
    width: int
    height: int


@dataclass(frozen=True)
class Fetch:
    """One request made for the enrichment, for metrics: source, outcome, seconds taken."""

    source: Source
    outcome: Outcome
    seconds: float


@dataclass(frozen=True)
class Enrichment:
    """Log sections, graphs, and short notes (e.g. "logs unavailable: Loki answered 503")."""

    logs: tuple[LogSection, ...] = ()
    graphs: tuple[Graph, ...] = ()
    notes: tuple[str, ...] = ()
    fetches: tuple[Fetch, ...] = ()
    redactions: int = 0

    @property
    def empty(self) -> bool:
        return not (self.logs or self.graphs or self.notes)

    def to_json(self) -> str:
        return json.dumps(
            {
                "logs": [
                    {"query": s.query, "lines": [[x.ns, x.time, x.text] for x in s.lines]} for s in self.logs
                ],
                "graphs": [
                    {
                        "expr": g.expr,
                        "png": base64.b64encode(g.png).decode(),
                        "caption": g.caption,
                        "width": g.width,
                        "height": g.height,
                    }
                    for g in self.graphs
                ],
                "notes": list(self.notes),
                "fetches": [[f.source, f.outcome, f.seconds] for f in self.fetches],
                "redactions": self.redactions,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> Enrichment:
        raw: dict[str, Any] = json.loads(text)
        return cls(
            logs=tuple(
                LogSection(s["query"], tuple(LogLine(int(n), t, x) for n, t, x in s["lines"]))
                for s in raw["logs"]
            ),
            graphs=tuple(
                Graph(g["expr"], base64.b64decode(g["png"]), g["caption"], g["width"], g["height"])
                for g in raw["graphs"]
            ),
            notes=tuple(raw["notes"]),
            fetches=tuple(Fetch(s, o, float(sec)) for s, o, sec in raw["fetches"]),
            redactions=int(raw["redactions"]),
        )
