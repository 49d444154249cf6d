"""The Enrichment value round-trips through JSON (it is stored with the notification)."""

from __future__ import annotations

from app.core.enrichment import Enrichment, Fetch, Graph, LogLine, LogSection
from app.core.series import Series, legend_labels


def test_json_round_trip() -> None:
    e = Enrichment(
        logs=(LogSection('{app="api"}', (LogLine(1, "00:00:00", "boom «redacted» é"),)),),
        graphs=(Graph("up == 0", b"\x89PNG\r\n\x1a\n\x00\xff", "up == 0 · last 1h", 800, 300),),
        notes=("logs unavailable: Loki answered 503",),
        fetches=(Fetch("loki", "ok", 0.25), Fetch("prometheus", "timeout", 5.0)),
        redactions=2,
    )
    assert Enrichment.from_json(e.to_json()) == e
    assert Enrichment().empty and not e.empty


def test_legend_names_series_by_the_labels_that_differ() -> None:
    a = Series({"job": "api", "pod": "a", "instance": "x"}, ())
    b = Series({"job": "api", "pod": "b", "instance": "x"}, ())
    assert legend_labels([a, b]) == ['{pod="a"}', '{pod="b"}']
    assert legend_labels([a]) == ['{instance="x", job="api", pod="a"}']
    assert legend_labels([Series({}, ())]) == ["value"]
    long = Series({"pod": "p" * 100}, ())
    assert len(legend_labels([long, a])[0]) == 40
