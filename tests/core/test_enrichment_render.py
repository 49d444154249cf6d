"""Enrichment as each provider shows it: within Telegram's 4096 and Slack's block limits, the
alert list first, the oldest lines dropped first, everything escaped (checked by the Telegram
HTML parser of the fake, which refuses what Telegram refuses)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.core.enrichment import Enrichment, LogLine, LogSection
from app.core.enrichment_render import log_html, log_text, slack_blocks, telegram_section
from app.core.render import SLACK_SECTION_LIMIT, render_telegram, telegram_length
from tests.enrich.alerts import alert, group
from tests.fakes.telegram_html import parse_telegram_html

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def logs(n: int, *, width: int = 80, notes: tuple[str, ...] = ()) -> Enrichment:
    lines = tuple(
        LogLine(i, f"12:{i // 60:02d}:{i % 60:02d}", f"ERROR <b>{i}</b> & " + "x" * width) for i in range(n)
    )
    return Enrichment(logs=(LogSection('{app="api"} |= "<err>"', lines),), notes=notes)


@pytest.mark.parametrize("alerts", [1, 20, 200])
def test_telegram_lines_take_the_room_the_alerts_leave(alerts: int) -> None:
    text = render_telegram(group(*(alert(i) for i in range(alerts))), now=NOW)
    room = 4096 - telegram_length(text.text)
    section = telegram_section(logs(100, notes=("graph unavailable: Prometheus answered 503",)), room)
    whole = text.text + section
    parsed = parse_telegram_html(whole)  # well-formed: nothing cut inside a tag or an entity
    assert telegram_length(whole) <= 4096 and len(parsed.text) <= 4096
    kept = [i for i in range(100) if f"<b>{i}</b> &" in parsed.text]
    if kept:  # the newest lines are kept, the oldest go first
        assert kept == list(range(100 - len(kept), 100))
    else:  # too little room for a line: the section says so, or (less room still) only the note
        assert "(100 lines left out: the message is full)" in parsed.text or room < 150
    assert "Prometheus answered 503" in parsed.text


def test_telegram_notes_alone_when_no_line_fits() -> None:
    section = telegram_section(logs(5, notes=("logs: 2 more queries not run",)), 40)
    assert section == "\n<i>⚠ logs: 2 more queries not run</i>"
    assert telegram_section(logs(5, notes=("x" * 100,)), 40) == ""


def test_slack_sections_within_limits_and_escaped() -> None:
    blocks = slack_blocks(
        logs(100, width=200, notes=("logs unavailable: Loki answered 503",)), blocks=5, chars=9000
    )
    sections = [b for b in blocks if b["type"] == "section"]
    assert len(sections) == 1 and len(sections[0]["text"]["text"]) <= SLACK_SECTION_LIMIT
    text = sections[0]["text"]["text"]
    assert "&lt;b&gt;99&lt;/b&gt; &amp;" in text and "<b>" not in text and text.endswith("\n```")
    assert blocks[-1]["type"] == "context" and "Loki answered 503" in blocks[-1]["elements"][0]["text"]
    assert slack_blocks(logs(3), blocks=0, chars=9000) == []
    small = slack_blocks(logs(100), blocks=2, chars=500)
    assert sum(len(b["text"]["text"]) for b in small) <= 500


def test_a_triple_backtick_in_a_line_cannot_close_the_code_block() -> None:
    e = Enrichment(logs=(LogSection('{a="b"}', (LogLine(1, "00:00:01", "oops ``` *bold*"),)),))
    text = slack_blocks(e, blocks=5, chars=9000)[0]["text"]["text"]
    assert text.count("```") == 2


def test_text_and_html_for_email_and_file() -> None:
    e = logs(2, notes=("logs unavailable: Loki answered 503",))
    text = log_text(e)
    assert "  12:00:01 ERROR <b>1</b> &" in text and "⚠ logs unavailable: Loki answered 503" in text
    html = log_html(e, graph_cids=[])
    assert "&lt;b&gt;1&lt;/b&gt; &amp;" in html and "<b>1</b>" not in html
    assert log_text(Enrichment(logs=(LogSection("q", ()),))) == "Logs: q\n  (no matching lines)"
