"""The log throttle: first occurrence per (cause, source) in full, then one count per interval."""

from __future__ import annotations

from app.core.logthrottle import OTHER, LogThrottle, Suppressed


def test_first_occurrence_per_cause_and_source_is_logged_then_counted() -> None:
    t = LogThrottle(interval=60)
    assert t.admit("unauthorized", "10.0.0.1", 0.0)
    assert not t.admit("unauthorized", "10.0.0.1", 1.0)
    assert t.admit("unauthorized", "10.0.0.2", 1.0)
    assert t.admit("too_large", "10.0.0.1", 2.0)
    assert not t.admit("unauthorized", "10.0.0.1", 59.0)
    assert t.due(59.9) == []
    assert t.due(60.0) == [Suppressed("unauthorized", "10.0.0.1", 2, 60.0)]
    # the other keys had nothing suppressed: nothing to say, and they are forgotten
    assert t.due(62.0) == []
    assert t.admit("unauthorized", "10.0.0.2", 62.0)


def test_a_steady_flood_gives_one_summary_per_interval() -> None:
    t = LogThrottle(interval=10)
    full = 0
    summaries: list[Suppressed] = []
    for i in range(10_000):
        now = i * 0.01  # 100 a second for 100 seconds
        summaries += t.due(now)
        full += t.admit("bad_json", "10.0.0.9", now)
    summaries += t.due(200.0)
    assert full == 1
    assert len(summaries) == 10
    assert sum(s.count for s in summaries) == 9_999
    assert t.due(300.0) == []
    assert t.admit("bad_json", "10.0.0.9", 300.0)  # quiet for an interval: logged in full again


def test_sources_beyond_the_limit_share_one_key() -> None:
    t = LogThrottle(interval=60, max_sources=3)
    admitted = [t.admit("unauthorized", f"10.0.{i // 256}.{i % 256}", 1.0) for i in range(1000)]
    assert admitted[:4] == [True, True, True, True]  # three sources, then the first of the shared key
    assert sum(admitted) == 4
    assert t.due(61.0) == [Suppressed("unauthorized", OTHER, 996, 60.0)]
    # another cause has its own allowance
    assert t.admit("too_large", "10.9.9.9", 61.0)


def test_forgotten_sources_free_their_place() -> None:
    t = LogThrottle(interval=10, max_sources=1)
    assert t.admit("invalid", "a", 0.0)
    assert t.due(10.0) == []
    assert t.admit("invalid", "b", 10.0)
    assert t.admit("invalid", "c", 10.0)  # the first of the shared key
    assert not t.admit("invalid", "d", 11.0)
    assert t.due(20.0) == [Suppressed("invalid", OTHER, 1, 10.0)]


def test_final_reports_every_open_count() -> None:
    t = LogThrottle(interval=60)
    t.admit("too_large", "a", 0.0)
    t.admit("too_large", "a", 1.0)
    t.admit("invalid", "b", 2.0)
    assert t.due(5.0) == []
    assert t.due(5.0, final=True) == [Suppressed("too_large", "a", 1, 5.0)]
