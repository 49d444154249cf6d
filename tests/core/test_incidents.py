"""app.core.incidents (the ingest step, relative times, ranks, redaction) and app.core.postmortem."""

from __future__ import annotations

import pytest

from app.core.incidents import (
    ALERT_EVENTS_MAX,
    AlertFact,
    IncidentDetail,
    IncidentNote,
    IncidentSummary,
    TimelineEvent,
    advance,
    format_relative,
    kind_rank,
    redact_event,
    render_postmortem,
    severity_rank,
)

T = 1_800_000_000.0


def note(*states: tuple[str, str], ends: float | None = None) -> IncidentNote:
    return IncidentNote(
        group_key="g",
        title="DiskFull",
        severity="warning",
        namespace="prod",
        receiver="oncall",
        receivers=("oncall",),
        labels={"alertname": "DiskFull"},
        alerts=tuple(
            AlertFact(fp, f"DiskFull {fp}", s, T - 60, ends if s == "resolved" else None)  # type: ignore[arg-type]
            for fp, s in states
        ),
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "+0s"),
        (59.9, "+59s"),
        (252, "+4m12s"),
        (3600, "+1h00m00s"),
        (3725, "+1h02m05s"),
        (86400 * 2 + 3 * 3600 + 59, "+2d03h"),
        (-30, "-30s"),
    ],
)
def test_relative_times(seconds: float, text: str) -> None:
    assert format_relative(seconds) == text


def test_severity_and_kind_ranks() -> None:
    assert sorted(["info", "weird", "warning", "CRITICAL"], key=severity_rank) == [
        "CRITICAL",
        "warning",
        "info",
        "weird",
    ]
    assert kind_rank("fired") < kind_rank("resolved") < kind_rank("notified") < kind_rank("acked")
    assert kind_rank("something-new") > kind_rank("postmortem_sent")


def test_a_repeat_changes_nothing_and_a_change_adds_only_its_events() -> None:
    first = advance(None, note(("a", "firing"), ("c", "firing")), now=T)
    assert first is not None
    state, events = first
    assert [(e.kind, e.summary) for e in events] == [("fired", "DiskFull fired (2 alerts)")]
    assert events[0].detail["alerts"] == [
        {"fingerprint": "a", "name": "DiskFull a"},
        {"fingerprint": "c", "name": "DiskFull c"},
    ]
    assert (state.started_at, state.opened_at, state.episode, state.resolved_at) == (T - 60, T, 1, None)
    assert advance(state, note(("a", "firing"), ("c", "firing")), now=T + 30) is None
    second = advance(state, note(("a", "firing"), ("b", "firing"), ("c", "resolved")), now=T + 60)
    assert second is not None
    assert [(e.kind, e.summary) for e in second[1]] == [
        ("alert_firing", "DiskFull b firing"),
        ("alert_resolved", "DiskFull c resolved"),
    ]
    third = advance(second[0], note(("a", "resolved"), ("b", "resolved")), now=T + 90)
    assert third is not None
    state, events = third
    assert [(e.kind, e.summary) for e in events] == [("resolved", "DiskFull resolved (2 alerts)")]
    assert [a["fingerprint"] for a in events[0].detail["alerts"]] == ["a", "b"]
    assert state.resolved_at == T + 90 and state.ended_at == T + 90  # no endsAt given: accepted at
    assert advance(state, note(("a", "resolved")), now=T + 95) is None  # an HA peer's copy
    again = advance(state, note(("a", "firing")), now=T + 200)
    assert again is not None and [(e.kind, e.summary) for e in again[1]] == [
        ("fired", "DiskFull fired again (1 alert)")
    ]
    assert (again[0].episode, again[0].opened_at, again[0].resolved_at) == (2, T + 200, None)


def test_first_heard_of_resolved_is_over_at_once() -> None:
    step = advance(None, note(("a", "resolved"), ends=T - 5), now=T)
    assert step is not None
    state, events = step
    assert [(e.kind, e.summary) for e in events] == [("resolved", "DiskFull resolved")]
    assert (state.resolved_at, state.ended_at, state.started_at) == (T, T - 5, T - 60)


def test_a_storm_is_summarised() -> None:
    n = ALERT_EVENTS_MAX + 7
    step = advance(None, note(*[(f"f{i:03d}", "firing") for i in range(n)]), now=T)
    assert step is not None
    [fired] = step[1]
    assert fired.summary == f"DiskFull fired ({n} alerts)"
    assert len(fired.detail["alerts"]) == ALERT_EVENTS_MAX and fired.detail["more_alerts"] == 7
    joined = advance(step[0], note(*[(f"f{i:03d}", "firing") for i in range(2 * n)]), now=T + 1)
    assert joined is not None
    assert [e.summary for e in joined[1]][-2:] == [
        f"DiskFull f{ALERT_EVENTS_MAX - 1 + n:03d} firing",
        "7 more alerts firing",
    ]
    assert len(joined[1]) == ALERT_EVENTS_MAX + 1 and len(joined[1][-1].detail["fingerprints"]) == 7


def test_events_of_a_webhook_are_redacted() -> None:
    n = IncidentNote(
        "g", "Login token=abcdef123456 leaked", "", None, "r", ("r",), {}, note(("a", "firing")).alerts
    )
    step = advance(None, n, now=T)
    assert step is not None
    [fired] = step[1]
    assert fired.summary == "Login token=«redacted» leaked fired (1 alert)"
    assert fired.detail["alerts"] == [{"fingerprint": "a", "name": "DiskFull a"}]  # untouched


def test_redaction_reaches_nested_detail() -> None:
    e = redact_event(
        TimelineEvent(T, "retried", None, "password=hunter2", {"a": ["token: abc123456"], "n": 3})
    )
    assert e.summary == "password=«redacted»"
    assert e.detail == {"a": ["token: «redacted»"], "n": 3}


def summary(**kw: object) -> IncidentSummary:
    base: dict[str, object] = {
        "id": "abc",
        "group_key": "g",
        "title": "Disk | full <b>",
        "severity": "warning",
        "namespace": None,
        "receiver": "oncall",
        "state": "open",
        "first_fired": T,
        "last_change": T + 10,
        "resolved_at": None,
        "acked_by": None,
        "acked_at": None,
        "silenced_until": None,
        "escalated": False,
        "remediating": False,
        "alerts_firing": 1,
        "alerts_total": 1,
        "labels": {},
    }
    return IncidentSummary(**{**base, **kw})  # type: ignore[arg-type]


def test_postmortem_of_an_open_incident_with_failures() -> None:
    events = [
        TimelineEvent(T, "fired", "alertmanager", "Disk | full <b> fired (1 alert)"),
        TimelineEvent(T + 5, "dead_lettered", "alertmedic", "not delivered to a/webhook[0]: permanent: 404"),
        TimelineEvent(
            T + 6,
            "remediation_planned",
            "alertmedic",
            "planned clean",
            {"remediation": 1, "action": "clean", "target": "t"},
        ),
        TimelineEvent(
            T + 7,
            "remediation_refused",
            "alertmedic",
            "refused clean: cooldown",
            {"remediation": 1, "action": "clean", "target": "t", "reason": "cooldown"},
        ),
        TimelineEvent(T + 8, "escalated", "alertmedic", "escalated to managers (not acknowledged)"),
    ]
    detail = IncidentDetail(summary(), events, {}, [], None, {}, opened_at=T + 2)
    pm = render_postmortem(detail, now=T + 100)
    assert pm.startswith("# Post-mortem: Disk | full &lt;b&gt; (warning)")
    assert "| Status | **still open** |" in pm and "→ still open" in pm
    assert "| Time to acknowledge | not acknowledged |" in pm
    assert "| clean | t | — | ⛔ refused: cooldown |" in pm
    assert "| +0s | Disk \\| full &lt;b&gt; fired (1 alert) | alertmanager |" in pm
    assert "- escalated to managers (not acknowledged) at" in pm
    assert "No log lines were attached." in pm and "No graph was attached." in pm
    followups = pm.split("## Follow-ups\n\n")[1].splitlines()
    assert followups == [
        "- [ ] Write a runbook for this alert and link it as `runbook_url`",
        "- [ ] Fix the notification path: not delivered to a/webhook[0]: permanent: 404",
        "- [ ] Find out why: refused clean: cooldown",
        "- [ ] Find out why no one acknowledged it",
    ]


def test_postmortem_links_cannot_break_out() -> None:
    detail = IncidentDetail(
        summary(state="resolved", resolved_at=T + 60),
        [],
        {},
        ["12:00:00 boom"],
        b"png",
        {"runbook": "https://x/a b>c", "graph": "http://p/graph?g0.expr=up"},
        opened_at=T,
        ended_at=T + 50,
    )
    pm = render_postmortem(detail, now=T)
    assert "- Runbook: <https://x/a%20b%3Ec>" in pm
    assert "attached in chat to the alert's message; live: <http://p/graph?g0.expr=up>" in pm
    assert "```text\n12:00:00 boom\n```" in pm
    assert "No automated or approved action was planned." in pm
