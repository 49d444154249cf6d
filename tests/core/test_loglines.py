"""Log lines shaped for a message: newest last, limited, printable, cut, times as HH:MM:SS UTC."""

from __future__ import annotations

from app.core.loglines import MAX_LINE_LENGTH, clock_time, printable, shape_lines

S = 1_000_000_000
T0 = 1_767_268_800 * S  # 12:00:00 UTC


def test_newest_last_and_limited() -> None:
    entries = [(T0 + i * S, f"line {i}") for i in range(10)]
    shaped = shape_lines(reversed(entries), limit=3)  # Loki answers newest first
    assert [(x.time, x.text) for x in shaped] == [
        ("12:00:07", "line 7"),
        ("12:00:08", "line 8"),
        ("12:00:09", "line 9"),
    ]


def test_equal_timestamps_in_written_order() -> None:
    newest_first = [(T0, "second"), (T0, "first")]
    assert [x.text for x in shape_lines(newest_first, limit=5)] == ["first", "second"]


def test_lines_are_cut_and_escaped() -> None:
    [line] = shape_lines([(T0, "x" * 1000)], limit=1)
    assert len(line.text) == MAX_LINE_LENGTH and line.text.endswith("…")
    [line] = shape_lines([(T0, "a\nb")], limit=1, max_length=10)
    assert line.text == "a\\nb"


def test_printable() -> None:
    assert printable("\x1b[31mERROR\x1b[0m boom") == "ERROR boom"
    assert printable("a\tb\rc\x00d\x7f") == "a\\tb\\rc\\x00d\\x7f"
    assert printable("user \u202egnp.exe") == "user \\u202egnp.exe"
    assert printable("é ✓ 🔥 <b>&") == "é ✓ 🔥 <b>&"  # HTML escaping is the renderer's job


def test_clock_time_is_utc() -> None:
    assert clock_time(T0 + 3661 * S + 999_999_999) == "13:01:01"


def test_zero_limit() -> None:
    assert shape_lines([(T0, "x")], limit=0) == ()
