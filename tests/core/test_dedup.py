"""Dedup keys and decisions: HA duplicates collapse, repeats and changes are delivered."""

from __future__ import annotations

from datetime import UTC, datetime

from app.core.dedup import ThreadState, decide, signature
from app.core.models import Alert

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def alert(fp: str, status: str = "firing", **annotations: str) -> Alert:
    return Alert(
        status=status,
        labels={"alertname": "X", "fp": fp},
        annotations=annotations,  # type: ignore[arg-type]
        startsAt=T0,
        fingerprint=fp,
    )


def test_signature_ignores_order_and_annotations() -> None:
    a = [alert("a", summary="one"), alert("b")]
    b = [alert("b"), alert("a", summary="changed")]
    assert signature(a) == signature(b)


def test_signature_depends_on_status() -> None:
    assert signature([alert("a")]) != signature([alert("a", "resolved")])
    assert signature([alert("a"), alert("b")]) != signature([alert("a")])


def test_first_time_is_new() -> None:
    assert decide(None, sig="s", firing=frozenset({"a"}), now=0, window=60) == "new"


def test_same_state_within_window_is_duplicate_after_it_a_repeat() -> None:
    prev = ThreadState("s", frozenset({"a"}), accepted_at=100)
    assert decide(prev, sig="s", firing=frozenset({"a"}), now=159, window=60) == "duplicate"
    assert decide(prev, sig="s", firing=frozenset({"a"}), now=160, window=60) == "new"


def test_resolution_is_an_update_new_firing_is_new() -> None:
    prev = ThreadState("s1", frozenset({"a", "b"}), accepted_at=100)
    assert decide(prev, sig="s2", firing=frozenset({"a"}), now=101, window=60) == "update"
    assert decide(prev, sig="s3", firing=frozenset(), now=101, window=60) == "update"
    assert decide(prev, sig="s4", firing=frozenset({"a", "c"}), now=101, window=60) == "new"


def test_refiring_after_resolve_is_new() -> None:
    prev = ThreadState("resolved", frozenset(), accepted_at=100)
    assert decide(prev, sig="firing-again", firing=frozenset({"a"}), now=101, window=60) == "new"
