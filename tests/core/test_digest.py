"""Storm digests (app.core.digest): every group named or counted, the most urgent named first,
each rendering within its provider's limits."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from app.core.digest import Digest, DigestBuilder, render_slack, render_telegram, render_text
from app.core.models import Alert, Group
from app.core.render import TELEGRAM_LIMIT, utf16_len
from tests.fakes.telegram_html import parse_telegram_html

T0 = datetime(2026, 11, 24, 10, tzinfo=UTC)


def group(
    name: str, *, status: str = "firing", severity: str = "warning", n: int = 2, **labels: str
) -> Group:
    alerts = [
        Alert(
            status=status,  # type: ignore[arg-type]
            labels={"alertname": name, "severity": severity, "pod": f"p{i}", **labels},
            startsAt=T0,
            fingerprint=f"{abs(hash(name)):x}-{i}",
        )
        for i in range(n)
    ]
    return Group(
        groupKey=f'{{}}:{{alertname="{name}"}}',
        status=status,  # type: ignore[arg-type]
        receiver="oncall",
        groupLabels={"alertname": name},
        commonLabels={"alertname": name, "severity": severity, **labels},
        commonAnnotations={},
        externalURL="",
        alerts=alerts,
    )


def build(groups: list[Group], *, top: int = 10) -> Digest:
    b = DigestBuilder(top=top, after=30.0)
    for g in groups:
        b.add(g)
    return b.digest()


def test_every_group_is_named_or_counted_and_a_later_state_replaces_an_earlier() -> None:
    groups = [group(f"G{i}") for i in range(25)]
    groups += [group("G3", status="resolved"), group("G4", status="resolved")]
    d = build(groups)
    assert d.notifications == 27
    assert (d.groups, d.fired, d.resolved) == (25, 23, 2)
    assert len(d.named) == 10 and d.more_firing + d.more_resolved == 15
    assert d.more_firing == 13 and d.more_resolved == 2  # resolved rank after every firing one


def test_the_most_urgent_are_named_first_then_queue_order() -> None:
    d = build(
        [
            group("Info", severity="info"),
            group("Warn1"),
            group("Crit", severity="critical"),
            group("Done", status="resolved", severity="critical"),
            group("Warn2", severity="bogus"),  # an unknown severity counts as a warning
        ],
        top=4,
    )
    assert [line.title for line in d.named] == [
        "[FIRING:2] Crit",
        "[FIRING:2] Warn1",
        "[FIRING:2] Warn2",
        "[FIRING:2] Info",
    ]
    assert (d.more_firing, d.more_resolved) == (0, 1)


def test_text() -> None:
    d = build([group("A", severity="critical", namespace="prod"), group("B", status="resolved")], top=1)
    text = render_text(d)
    assert text.splitlines()[0] == "Alert storm: 2 alert groups (1 firing, 1 resolved)"
    assert "🔴 [FIRING:2] A (prod) — 2 firing" in text
    assert "…and 1 more group (0 firing, 1 resolved)." in text
    assert "/alerts" in text and "alertmedic incidents list" in text and "(/ui)" in text


def test_telegram_fits_4096_and_counts_what_it_cannot_name() -> None:
    long = "X" * 140
    d = build([group(f"<&>{i:03d}{long}", severity="critical") for i in range(40)], top=30)
    html = render_telegram(d)
    visible = parse_telegram_html(html).text  # valid Telegram HTML
    assert utf16_len(visible) <= TELEGRAM_LIMIT
    named = [line for line in visible.splitlines() if line.startswith("🔴")]
    more = re.search(r"and (\d+) more groups \((\d+) firing", visible)
    assert more is not None and 0 < len(named) < 30
    assert len(named) + int(more.group(1)) == 40  # nothing lost to the limit
    assert "&lt;&amp;&gt;" in html and "<&>" in visible


def test_slack_sections_and_message_within_limits() -> None:
    d = build([group(f"&<>{i}" + "Y" * 150, severity="critical") for i in range(45)], top=30)
    body = render_slack(d)
    texts = [b["text"]["text"] for b in body["blocks"]]
    assert all(len(t) <= 3000 for t in texts) and sum(len(t) for t in texts) <= 10_000
    assert len(body["blocks"]) <= 50
    assert sum(t.count("🔴") for t in texts) == 30
    assert "…and 15 more groups (15 firing, 0 resolved)." in texts[-2]
    assert body["text"] == "Alert storm: 45 alert groups (45 firing, 0 resolved)"
    assert "&amp;&lt;&gt;" in texts[1]
