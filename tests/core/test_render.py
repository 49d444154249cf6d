"""Rendering alert groups: titles, escaping, Telegram/Slack size limits, email, overrides."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.models import Alert, Group, WebhookMessage
from app.core.render import (
    EMAIL_BODY_LIMIT,
    EMAIL_MAX_ALERTS,
    EMAIL_SUBJECT_LIMIT,
    LABEL_LIMIT,
    RESOLVED_COLOUR,
    SEVERITY_COLOURS,
    SLACK_BLOCK_LIMIT,
    SLACK_BLOCKS_TEXT_LIMIT,
    SLACK_HEADER_LIMIT,
    SLACK_SECTION_LIMIT,
    SLACK_TEXT_LIMIT,
    TELEGRAM_HTML_LIMIT,
    TELEGRAM_LIMIT,
    URL_LIMIT,
    compile_template,
    cut_utf16,
    default_title,
    render_email,
    render_slack,
    render_telegram,
    silence_url,
    slack_escape,
    split_mrkdwn,
    telegram_length,
    telegram_plain,
    utf16_len,
)
from app.core.render import _largest_fitting as largest_fitting
from tests.fakes.telegram_html import parse_telegram_html
from tests.sinks.groups import EXTERNAL_URL, T0, firing, make_alert, make_group, resolved

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EVIL = "<script>alert(\"x\")</script> & 'quoted' <b>"


class _TagBalance(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.errors.append(f"self-closing <{tag}/>")

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(f"unbalanced </{tag}>")


def assert_valid_telegram_html(text: str) -> None:
    checker = _TagBalance()
    checker.feed(text)
    checker.close()
    assert checker.errors == [] and checker.stack == [], (checker.errors, checker.stack)
    parse_telegram_html(text)  # raises like Telegram would on anything it cannot parse


# --- titles and helpers ---------------------------------------------------------------------


def test_title_firing_counts_firing_alerts_and_names_namespace() -> None:
    group = make_group([make_alert(0), make_alert(1), make_alert(2, status="resolved")])
    assert default_title(group) == "[FIRING:2] ModelLatencyHigh (prod)"


def test_title_resolved_and_without_common_namespace() -> None:
    assert default_title(resolved(2)) == "[RESOLVED] ModelLatencyHigh (prod)"
    group = make_group([make_alert(0), make_alert(1, labels={"namespace": "staging"})])
    assert default_title(group) == "[FIRING:2] ModelLatencyHigh"


def test_title_lists_alertnames_when_not_grouped_by_name() -> None:
    alerts = [make_alert(i, name=f"Alert{i}") for i in range(5)]
    group = make_group(alerts, group_labels={"cluster": "eu1"})
    assert default_title(group) == "[FIRING:5] Alert0, Alert1, Alert2 +2 (prod)"


def test_utf16_length_counts_astral_emoji_twice() -> None:
    assert utf16_len("🔥") == 2
    assert utf16_len("✅") == 1
    assert utf16_len("a🔥b") == 4
    assert cut_utf16("🔥🔥🔥", 5) == "🔥🔥"  # never half a surrogate pair
    assert cut_utf16("abc", 5) == "abc"


def test_telegram_plain_strips_tags_and_unescapes() -> None:
    html = '<b>a &lt;b&gt; &amp; &#34;q&#34;</b> <a href="http://x?a=1&amp;b=2">link</a>'
    assert telegram_plain(html) == 'a <b> & "q" link'
    assert telegram_length("<b>🔥</b>&amp;") == 3


def test_silence_url_is_encoded_and_round_trips() -> None:
    url = silence_url("http://am:9093/", {"alertname": "X", "job": 'a"b\\c', "z": "&?#"})
    assert url.startswith("http://am:9093/#/silences/new?filter=")
    fragment = urlsplit(url).fragment
    assert " " not in url and "&" not in fragment.split("?", 1)[1]
    encoded = fragment.split("filter=", 1)[1]
    assert unquote(encoded) == '{alertname="X",job="a\\"b\\\\c",z="&?#"}'
    assert parse_qs(fragment.split("?", 1)[1])["filter"] == [unquote(encoded)]


@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 8, 9, 33, 100])
def test_largest_fitting_matches_brute_force_and_stays_cheap(n: int) -> None:
    for cut in range(-1, n + 1):
        probes: list[int] = []

        def fits(k: int, cut: int = cut, probes: list[int] = probes) -> bool:
            probes.append(k)
            return k <= cut

        assert largest_fitting(n, fits) == (None if cut < 0 else cut)
        assert max(probes) <= max(2 * cut + 2, 1)  # never probes far beyond what fits


# --- Telegram -------------------------------------------------------------------------------


def test_telegram_default_message_content() -> None:
    group = make_group([make_alert(0), make_alert(1, status="resolved")])
    out = render_telegram(group, now=T0)
    assert out.parse_mode == "HTML" and out.shown == 2 and out.more == 0
    assert_valid_telegram_html(out.text)
    plain = telegram_plain(out.text)
    assert plain.startswith("🔥 [FIRING:1] ModelLatencyHigh (prod)")
    assert "🔥 p99 latency above 2s on model-api-0" in plain
    assert "✅ p99 latency above 2s on model-api-1" in plain
    assert "Requests are slow." in plain
    assert "severity: critical" in plain and "deployment: model-api" in plain
    assert "Started 2026-11-24 10:00:00 UTC" in plain
    assert "ended 2026-11-24 10:05:00 UTC (lasted 5m)" in plain
    assert '<a href="http://prometheus.local:9090/graph?g0.expr=latency+%3E+2">source</a>' in (out.text)
    assert '<a href="https://runbooks.local/latency">runbook</a>' in out.text
    # Only the firing alert gets a silence link.
    assert out.text.count(">silence</a>") == 1
    assert f'href="{EXTERNAL_URL}/#/silences/new?filter=%7B' in out.text
    # Firing alerts come first.
    assert plain.index("model-api-0") < plain.index("model-api-1")


def test_telegram_firing_alerts_first() -> None:
    group = make_group([make_alert(0, status="resolved"), make_alert(1)])
    plain = telegram_plain(render_telegram(group, now=T0).text)
    assert plain.index("🔥 p99 latency above 2s on model-api-1") < plain.index(
        "✅ p99 latency above 2s on model-api-0"
    )


def test_telegram_escapes_labels_and_annotations() -> None:
    alert = make_alert(
        0,
        labels={"namespace": EVIL, "deployment": "a&b"},
        annotations={"summary": EVIL, "description": EVIL, "runbook_url": 'https://x/?a="><script>'},
    )
    out = render_telegram(make_group([alert]), now=T0)
    assert "<script>" not in out.text and "&lt;script&gt;" in out.text
    assert "a&amp;b" in out.text
    assert_valid_telegram_html(out.text)
    assert EVIL in telegram_plain(out.text)


def test_telegram_cut_at_alert_boundaries_says_how_many_more() -> None:
    n = 200
    group = firing(n)
    out = render_telegram(group, now=T0)
    assert out.parse_mode == "HTML"
    assert 0 < out.shown < n and out.more == n - out.shown
    assert telegram_length(out.text) <= TELEGRAM_LIMIT
    assert_valid_telegram_html(out.text)
    plain = telegram_plain(out.text)
    assert plain.rstrip().endswith(f"… and {n - out.shown} more")
    # Exactly the first `shown` alerts, each complete.
    shown = re.findall(r"🔥 p99 latency above 2s on model-api-(\d+)\n", plain)
    assert shown == [str(i) for i in range(out.shown)]
    # The cut is as late as possible: more room shows more alerts.
    bigger = render_telegram(group, limit=TELEGRAM_LIMIT + 400, now=T0)
    assert bigger.shown > out.shown


def test_telegram_counts_alertmanager_truncation_in_more() -> None:
    out = render_telegram(firing(2, truncated=5), now=T0)
    assert out.shown == 2 and out.more == 5
    assert telegram_plain(out.text).endswith("… and 5 more")


def test_telegram_limit_counts_utf16_units() -> None:
    # Astral emoji make the UTF-16 length twice the code point count.
    emoji = "🔥" * 600
    group = make_group([make_alert(i, annotations={"description": emoji}) for i in range(10)])
    out = render_telegram(group, now=T0)
    assert telegram_length(out.text) <= TELEGRAM_LIMIT
    assert len(telegram_plain(out.text)) < telegram_length(out.text)
    assert out.more == 10 - out.shown > 0


def test_telegram_huge_group_label_falls_back_to_plain_text() -> None:
    # Each value is cut to LABEL_LIMIT, so only a template showing many of them overflows.
    huge = {f"l{i}": "x" * 10_000 for i in range(10)}
    group = make_group([make_alert(0)], group_labels={"alertname": "A"})
    group = group.model_copy(update={"commonLabels": {**group.commonLabels, **huge}})
    template = compile_template("<b>{{ common_labels.values() | join(' ') }}</b>", html=True)
    out = render_telegram(group, now=T0, template=template)
    assert out.parse_mode is None
    assert utf16_len(out.text) <= TELEGRAM_LIMIT
    assert "<b>" not in out.text


def test_telegram_huge_namespace_is_cut_and_stays_html() -> None:
    group = make_group([make_alert(0)], group_labels={"alertname": "A"})
    group = group.model_copy(update={"commonLabels": {**group.commonLabels, "namespace": "x" * 10_000}})
    out = render_telegram(group, now=T0)
    assert out.parse_mode == "HTML" and out.shown == 1
    assert f"(x{'x' * (LABEL_LIMIT - 2)}…)" in telegram_plain(out.text)


def test_telegram_single_huge_alert_is_truncated_not_dropped() -> None:
    alert = make_alert(0, annotations={"description": "y" * 20_000, "summary": "s" * 5000})
    out = render_telegram(make_group([alert]), now=T0)
    assert out.parse_mode == "HTML" and out.shown == 1
    assert telegram_length(out.text) <= TELEGRAM_LIMIT


def test_telegram_override_template_is_autoescaped() -> None:
    template = compile_template(
        "{{ title }}: {% for a in alerts %}<i>{{ a.labels.namespace }}</i>{% endfor %}"
        "{% if more %} +{{ more }}{% endif %}",
        html=True,
    )
    alert = make_alert(0, labels={"namespace": "<ns>"})
    out = render_telegram(make_group([alert]), template=template, now=T0)
    assert out.template_error is None
    assert out.text == "[FIRING:1] ModelLatencyHigh (&lt;ns&gt;): <i>&lt;ns&gt;</i>"


def test_telegram_override_cut_uses_more() -> None:
    template = compile_template(
        "{% for a in alerts %}{{ a.annotations.description }}\n{% endfor %}"
        "{% if more %}(+{{ more }}){% endif %}",
        html=True,
    )
    alerts = [make_alert(i, annotations={"description": "d" * 1000}) for i in range(10)]
    out = render_telegram(make_group(alerts), template=template, now=T0)
    assert out.shown == 4 and out.more == 6
    assert out.text.endswith("(+6)")


def test_failing_override_falls_back_to_default() -> None:
    template = compile_template("{{ alerts[0].labels.missing.deeper }}", html=True)
    out = render_telegram(firing(1), template=template, now=T0)
    assert out.template_error is not None and "UndefinedError" in out.template_error
    assert telegram_plain(out.text).startswith("🔥 [FIRING:1]")


def test_empty_override_falls_back_to_default() -> None:
    out = render_telegram(firing(1), template=compile_template("  {{ '' }} ", html=True), now=T0)
    assert out.template_error is not None
    assert "[FIRING:1]" in out.text


@pytest.mark.parametrize(
    "source",
    [
        "{{ group.__class__.__mro__ }}",
        "{{ alerts.append(1) }}",
        "{{ group.alerts[0].labels.update({'a': 'b'}) }}",
    ],
)
def test_sandbox_blocks_internals_and_mutation(source: str) -> None:
    out = render_slack(firing(1), text=compile_template(source, html=False), now=T0)
    assert out.template_error is not None and "SecurityError" in out.template_error
    assert out.text.startswith("🔥 [FIRING:1]")  # the default was sent instead


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("{{ title ", "line 1"),
        ("{% for a in alerts %}", "line 1"),
        ("{{ nope }}", "unknown template variable(s) nope"),
        ("{{ title | no_such_filter }}", "no_such_filter"),
    ],
)
def test_compile_template_errors_are_value_errors(source: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=re.escape(fragment)):
        compile_template(source, html=True)


def test_compile_template_accepts_documented_context() -> None:
    source = (
        "{{ group.groupKey }}{{ status }}{{ alerts|length }}{{ firing|length }}"
        "{{ resolved|length }}{{ more }}{{ kind }}{{ group_labels }}{{ common_labels }}"
        "{{ common_annotations }}{{ external_url }}{{ title }}{{ receiver }}"
        "{{ num_firing }}{{ num_resolved }}{{ now | fmt_time }}"
        "{% for a in alerts %}{{ a.startsAt | since }}{{ a | duration }}"
        "{{ a | silence_url }}{{ a.name | slack_escape }}{% endfor %}"
    )
    compile_template(source, html=False)


# --- Slack ----------------------------------------------------------------------------------


def _blocks(payload: dict[str, object]) -> list[dict[str, object]]:
    attachments = payload["attachments"]
    assert isinstance(attachments, list) and len(attachments) == 1
    blocks = attachments[0]["blocks"]
    assert isinstance(blocks, list)
    return blocks


def _section_texts(payload: dict[str, object]) -> list[str]:
    return [b["text"]["text"] for b in _blocks(payload) if b["type"] == "section"]  # type: ignore[index]


def test_slack_default_message() -> None:
    group = make_group([make_alert(0), make_alert(1, status="resolved")])
    payload = render_slack(group, now=T0).payload()
    assert payload["text"] == "🔥 [FIRING:1] ModelLatencyHigh (prod)"
    blocks = _blocks(payload)
    assert blocks[0]["type"] == "header" and blocks[-1]["type"] == "context"
    sections = _section_texts(payload)
    assert len(sections) == 2
    assert sections[0].startswith("🔥 *p99 latency above 2s on model-api-0*")
    assert "<https://runbooks.local/latency|runbook>" in sections[0]
    assert "|silence>" in sections[0] and "|silence>" not in sections[1]
    assert payload["attachments"][0]["color"] == SEVERITY_COLOURS["critical"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("severity", "colour"),
    [
        ("critical", SEVERITY_COLOURS["critical"]),
        ("warning", SEVERITY_COLOURS["warning"]),
        ("info", SEVERITY_COLOURS["info"]),
        ("weird", SEVERITY_COLOURS["warning"]),
    ],
)
def test_slack_colour_by_severity(severity: str, colour: str) -> None:
    group = make_group([make_alert(0, labels={"severity": severity})])
    assert render_slack(group, now=T0).attachments[0]["color"] == colour
    assert render_slack(resolved(1), now=T0).attachments[0]["color"] == RESOLVED_COLOUR


def test_slack_escapes_mrkdwn() -> None:
    alert = make_alert(0, annotations={"summary": EVIL, "description": "a <@U123> & <!here>"})
    sections = _section_texts(render_slack(make_group([alert]), now=T0).payload())
    assert "&lt;script&gt;" in sections[0] and "<script>" not in sections[0]
    assert "a &lt;@U123&gt; &amp; &lt;!here&gt;" in sections[0]
    assert slack_escape("a<b>&c") == "a&lt;b&gt;&amp;c"


def _small_alert(i: int) -> Alert:
    return Alert.model_validate(
        {"status": "firing", "labels": {"alertname": "A"}, "startsAt": T0, "fingerprint": f"{i:x}"}
    )


def test_slack_block_limit_with_many_alerts() -> None:
    # Alerts small enough that the block count binds before the cumulative text limit.
    n = 120
    out = render_slack(make_group([_small_alert(i) for i in range(n)], external_url=""), now=T0)
    blocks = _blocks(out.payload())
    assert len(blocks) <= SLACK_BLOCK_LIMIT
    assert out.shown == SLACK_BLOCK_LIMIT - 3 and out.more == n - out.shown
    assert _section_texts(out.payload())[-1] == f"… and {n - out.shown} more"


def test_slack_header_is_capped() -> None:
    group = make_group([make_alert(0)], group_labels={"alertname": "A" * 400})
    header = _blocks(render_slack(group, now=T0).payload())[0]
    text = header["text"]["text"]  # type: ignore[index]
    assert utf16_len(text) <= SLACK_HEADER_LIMIT and text.endswith("…")


def test_slack_text_override_is_split_into_sections_on_lines() -> None:
    text = compile_template(
        "{% for a in alerts %}{{ a.name }} {{ a.annotations.description }}\n{% endfor %}", html=False
    )
    alerts = [make_alert(i, annotations={"description": "w" * 900}) for i in range(10)]
    out = render_slack(
        make_group(alerts), text=text, title=compile_template("Custom {{ num_firing }}", html=False), now=T0
    )
    sections = _section_texts(out.payload())
    assert out.text == "Custom 10" and out.template_error is None
    assert all(utf16_len(s) <= SLACK_SECTION_LIMIT for s in sections)
    assert len(sections) == 4  # 3 lines of ~917 chars per section
    assert all(line.startswith("ModelLatencyHigh ") for s in sections for line in s.split("\n"))


def test_split_mrkdwn_cuts_long_lines_outside_links_and_entities() -> None:
    line = ("x" * 2990) + "<http://example.com/" + "p" * 50 + "|link> &amp; more"
    chunks = split_mrkdwn(line)
    assert all(utf16_len(c) <= SLACK_SECTION_LIMIT for c in chunks)
    assert "".join(chunks) == line
    assert chunks[1].startswith("<http://example.com/")
    entity = ("y" * 2998) + "&amp;z"
    chunks = split_mrkdwn(entity)
    assert chunks[1].startswith("&amp;")
    assert split_mrkdwn("") == []


def test_slack_huge_override_is_truncated_to_block_limit() -> None:
    text = compile_template(
        "{{ 'line\n' * 0 }}{% for i in range(60) %}{{ 'z' * 2999 }}\n{% endfor %}", html=False
    )
    out = render_slack(firing(1), text=text, now=T0)
    assert len(_blocks(out.payload())) <= SLACK_BLOCK_LIMIT
    # 60 sections of 2999 characters: the cumulative text limit cuts long before 50 blocks.
    assert sum(len(t) for t in _section_texts(out.payload())) <= SLACK_BLOCKS_TEXT_LIMIT
    assert len(_section_texts(out.payload())) == 4
    assert _section_texts(out.payload())[-1] == "… (truncated)"


# --- email ----------------------------------------------------------------------------------


def test_email_default_subject_and_bodies() -> None:
    group = make_group([make_alert(0, annotations={"summary": EVIL}), make_alert(1, status="resolved")])
    out = render_email(group, now=T0)
    assert out.subject == "[FIRING:1] ModelLatencyHigh (prod)"
    assert EVIL in out.text
    assert "<script>" not in out.html and "&lt;script&gt;" in out.html
    assert "ended: 2026-11-24 10:05:00 UTC (lasted 5m)" in out.text
    assert out.html.lstrip().startswith("<!DOCTYPE html>")
    assert out.template_error is None and out.headers == {}


def test_email_lists_a_bounded_number_of_alerts() -> None:
    out = render_email(firing(EMAIL_MAX_ALERTS + 7, truncated=3), now=T0)
    assert out.text.count("🔥 p99 latency") == EMAIL_MAX_ALERTS
    assert "… and 10 more" in out.text and "… and 10 more" in out.html
    assert out.subject == f"[FIRING:{EMAIL_MAX_ALERTS + 7}] ModelLatencyHigh (prod)"


def test_email_resolved_subject() -> None:
    assert render_email(resolved(3), now=T0).subject == "[RESOLVED] ModelLatencyHigh (prod)"


def test_email_overrides_and_header_templates() -> None:
    headers = {
        "subject": compile_template("{{ status|upper }} {{ common_labels.alertname }}\nX", html=False),
        "X-Team": compile_template("team-{{ common_labels.namespace }}", html=False),
    }
    out = render_email(
        firing(2),
        headers=headers,
        text=compile_template("{{ alerts|length }} alerts", html=False),
        html=compile_template("<p>{{ common_labels.severity }} {{ '<x>' }}</p>", html=True),
        now=T0,
    )
    assert out.subject == "FIRING ModelLatencyHigh X"  # folded onto one line
    assert out.headers == {"X-Team": "team-prod"}
    assert out.text == "2 alerts\n"
    assert out.html == "<p>critical &lt;x&gt;</p>\n"


def test_email_failing_override_falls_back() -> None:
    out = render_email(firing(1), text=compile_template("{{ 1 / 0 }}", html=False), now=T0)
    assert out.template_error is not None and out.template_error.startswith("text:")
    assert "[FIRING:1]" in out.text


# --- property: Telegram output always fits and is well-formed ----------------------------

_label_text = st.text(min_size=0, max_size=400)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.lists(st.tuples(_label_text, _label_text, _label_text), min_size=1, max_size=25),
    group_value=st.text(min_size=0, max_size=5000),
)
def test_telegram_always_fits_and_is_balanced(values: list[tuple[str, str, str]], group_value: str) -> None:
    alerts = [
        make_alert(
            i,
            labels={"namespace": ns or "x", "pod": pod or "p"},
            annotations={"summary": summary, "description": summary * 5},
        )
        for i, (ns, pod, summary) in enumerate(values)
    ]
    group = make_group(alerts, group_labels={"alertname": "A", "extra": group_value})
    group = group.model_copy(update={"commonLabels": {**group.commonLabels, "namespace": group_value or "n"}})
    out = render_telegram(group, now=T0)
    if out.parse_mode == "HTML":
        assert telegram_length(out.text) <= TELEGRAM_LIMIT
        assert_valid_telegram_html(out.text)
    else:
        assert utf16_len(out.text) <= TELEGRAM_LIMIT
    assert out.shown + out.more == len(alerts)


# --- bounded content: huge values, control characters, durations -----------------------

HUGE = "v" * 500_000
CONTROL = "a\x00b\x07c\x1b[31md\x7fe\x85f\u2028g"
_RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def _huge_group() -> Group:
    alert = make_alert(
        0,
        labels={"pod": HUGE, "extra": HUGE},
        annotations={"summary": HUGE, "description": HUGE, "dashboard_url": "https://g/" + HUGE},
    )
    return make_group([alert, make_alert(1)])


def test_silence_url_of_a_huge_label_stays_short_and_matches_by_prefix() -> None:
    url = silence_url(EXTERNAL_URL, {"alertname": "X", "pod": HUGE, "z": "ok"})
    assert 0 < len(url) <= URL_LIMIT
    matchers = unquote(url.split("filter=", 1)[1])
    assert matchers.startswith('{alertname="X",pod=~"vvvv') and matchers.endswith('.*",z="ok"}')


def test_silence_url_regex_prefix_is_escaped_for_re2() -> None:
    url = silence_url(EXTERNAL_URL, {"alertname": "X", "path": "a.b*(c)" + "y" * 5000})
    assert 'path=~"a\\\\.b\\\\*\\\\(c\\\\)yyy' in unquote(url)


def test_telegram_huge_values_bound_the_html_not_only_the_visible_text() -> None:
    out = render_telegram(_huge_group(), now=T0)
    assert out.parse_mode == "HTML" and out.shown == 2
    assert telegram_length(out.text) <= TELEGRAM_LIMIT
    assert len(out.text.encode()) <= TELEGRAM_HTML_LIMIT
    assert_valid_telegram_html(out.text)
    hrefs = re.findall(r'href="([^"]*)"', out.text)
    assert hrefs and all(len(h) <= URL_LIMIT for h in hrefs)
    assert out.text.count(">silence</a>") == 2  # the huge label is matched by a prefix
    assert ">dashboard</a>" not in out.text  # a URL over the limit is dropped, not cut


def test_telegram_raw_html_is_bounded_with_many_long_links() -> None:
    long_url = "https://runbooks.local/" + "r" * (URL_LIMIT - 40)
    alerts = [
        make_alert(i, annotations={"runbook_url": long_url, "dashboard_url": long_url}) for i in range(40)
    ]
    out = render_telegram(make_group(alerts), now=T0)
    assert len(out.text.encode()) <= TELEGRAM_HTML_LIMIT
    assert out.parse_mode == "HTML" and 0 < out.shown < 40
    assert_valid_telegram_html(out.text)


def test_slack_huge_values_fit_every_block_kit_limit() -> None:
    out = render_slack(_huge_group(), now=T0)
    payload = out.payload()
    blocks = _blocks(payload)
    assert len(blocks) <= SLACK_BLOCK_LIMIT
    texts = [b["text"]["text"] for b in blocks if "text" in b]  # type: ignore[index]
    texts += [e["text"] for b in blocks for e in b.get("elements", [])]  # type: ignore[union-attr]
    assert all(utf16_len(t) <= SLACK_SECTION_LIMIT for t in texts)
    assert sum(len(t) for t in texts) <= SLACK_BLOCKS_TEXT_LIMIT
    assert len(str(payload["text"])) <= SLACK_TEXT_LIMIT
    assert out.shown == 2 and "|silence>" in _section_texts(payload)[0]


def test_slack_fallback_text_of_a_huge_title_is_bounded() -> None:
    title = compile_template("{{ 'T' * 100000 }}", html=False)
    out = render_slack(firing(1), title=title, now=T0)
    assert len(out.text) <= SLACK_TEXT_LIMIT and out.text.endswith("…")


def test_slack_many_alerts_stay_under_the_cumulative_text_limit() -> None:
    out = render_slack(firing(120), now=T0)
    texts = _section_texts(out.payload())
    assert sum(len(t) for t in texts) <= SLACK_BLOCKS_TEXT_LIMIT
    assert texts[-1] == f"… and {120 - out.shown} more" and out.shown > 5


def test_email_huge_values_bound_subject_headers_and_bodies() -> None:
    group = _huge_group()
    group = group.model_copy(update={"groupLabels": {"alertname": HUGE}})
    headers = {"X-Pod": compile_template("{{ alerts[0].labels.pod }}", html=False)}
    out = render_email(group, headers=headers, now=T0)
    assert len(out.subject) <= EMAIL_SUBJECT_LIMIT and out.subject.endswith("…")
    assert all(len(name) + 2 + len(v) <= 998 for name, v in out.headers.items())
    assert len(out.text.encode()) <= EMAIL_BODY_LIMIT and len(out.html.encode()) <= EMAIL_BODY_LIMIT


def test_email_body_limit_lists_fewer_alerts_and_counts_the_rest() -> None:
    big = "w" * 3000
    alerts = [make_alert(i, annotations={"description": big}) for i in range(EMAIL_MAX_ALERTS)]
    out = render_email(make_group(alerts), now=T0)
    assert len(out.text.encode()) <= EMAIL_BODY_LIMIT and len(out.html.encode()) <= EMAIL_BODY_LIMIT
    shown = out.text.count("🔥 p99 latency")
    assert 0 < shown < EMAIL_MAX_ALERTS
    assert f"… and {EMAIL_MAX_ALERTS - shown} more" in out.text


def test_email_custom_body_over_the_limit_falls_back_to_the_default() -> None:
    out = render_email(firing(2), text=compile_template("{{ 'x' * 2000000 }}", html=False), now=T0)
    assert out.template_error is not None and f"body over {EMAIL_BODY_LIMIT} bytes" in out.template_error
    assert out.text.startswith("[FIRING:2]") and out.text.count("🔥 p99 latency") == 2
    assert len(out.text.encode()) <= EMAIL_BODY_LIMIT


def test_control_characters_never_reach_a_message() -> None:
    alert = make_alert(
        0,
        labels={"pod": CONTROL, "namespace": "ns\nnext\tcol"},
        annotations={"summary": CONTROL, "description": "line1\r\nline2\tcol\x00end"},
    )
    group = make_group([alert])
    telegram = telegram_plain(render_telegram(group, now=T0).text)
    slack = "\n".join(_section_texts(render_slack(group, now=T0).payload()))
    email = render_email(group, now=T0)
    for text in (telegram, slack, email.text, email.html, email.subject):
        assert not _RAW_CONTROL.search(text), repr(text)
    assert "a\ufffdb\ufffdc\ufffd[31md\ufffde\ufffdf\ufffdg" in telegram
    assert "pod: a\ufffdb" in email.text
    assert "namespace: ns next col" in email.text  # single-line place: \n and \t become spaces
    assert "line1\nline2\tcol\ufffdend" in email.text  # a description keeps its lines and tabs
    assert "\n" not in email.subject


def test_firing_alerts_say_how_long_they_have_been_firing() -> None:
    group = make_group([make_alert(0), make_alert(1, status="resolved")])
    now = T0 + timedelta(minutes=17)
    telegram = telegram_plain(render_telegram(group, now=now).text)
    slack = _section_texts(render_slack(group, now=now).payload())
    email = render_email(group, now=now)
    assert "firing for 17m" in telegram
    assert "firing for 17m" in slack[0] and "firing for" not in slack[1]
    assert "firing for 17m" in email.text and "firing for 17m" in email.html
    assert telegram.count("firing for") == 1  # not on the resolved alert
    assert "lasted 5m" in telegram


def test_resolved_alert_that_ended_before_it_started_shows_no_duration() -> None:
    alert = make_alert(0, status="resolved").model_copy(update={"endsAt": T0 - timedelta(days=1, hours=5)})
    group = make_group([alert])
    now = T0 + timedelta(days=1, hours=5)
    telegram = telegram_plain(render_telegram(group, now=now).text)
    email = render_email(group, now=now)
    slack = _section_texts(render_slack(group, now=now).payload())[0]
    for text in (telegram, email.text, email.html, slack):
        assert "lasted" not in text and "1d 5h" not in text
    assert "ended 2026-11-23 05:00:00 UTC" in telegram


def test_firing_alert_that_starts_in_the_future_shows_no_duration() -> None:
    out = telegram_plain(render_telegram(firing(1), now=T0 - timedelta(minutes=3)).text)
    assert "Started 2026-11-24 10:00:00 UTC" in out and "firing for" not in out


def test_rendering_depends_on_the_injected_now_only() -> None:
    group = firing(1)
    first = render_telegram(group, now=T0 + timedelta(hours=2, minutes=5))
    again = render_telegram(group, now=T0 + timedelta(hours=2, minutes=5))
    assert first == again and "firing for 2h 5m" in telegram_plain(first.text)


@pytest.mark.parametrize("name", ["test-alert.json", "test-alert-resolved.json"])
def test_example_alerts_show_the_full_layout(name: str) -> None:
    raw = json.loads((EXAMPLES / name).read_text())
    message = WebhookMessage.model_validate(raw)
    group = Group.model_validate({**message.model_dump(exclude={"version"}), "receiver": "local"})
    [alert] = group.alerts
    assert _is_http_url(alert.annotations["runbook_url"]) and _is_http_url(alert.annotations["dashboard_url"])
    out = render_telegram(group, now=alert.startsAt + timedelta(minutes=17))
    assert_valid_telegram_html(out.text)
    for link in ("source", "runbook", "dashboard"):
        assert f">{link}</a>" in out.text
    plain = telegram_plain(out.text)
    if alert.status == "firing":
        assert ">silence</a>" in out.text and "firing for 17m" in plain
    else:
        assert "lasted 20m" in plain


def test_example_alerts_are_twins() -> None:
    firing_raw = json.loads((EXAMPLES / "test-alert.json").read_text())
    resolved_raw = json.loads((EXAMPLES / "test-alert-resolved.json").read_text())
    for raw in (firing_raw, resolved_raw):
        raw.pop("status")
        for a in raw["alerts"]:
            a.pop("status"), a.pop("endsAt")
    assert firing_raw == resolved_raw


def _is_http_url(value: str) -> bool:
    return urlsplit(value).scheme in ("http", "https") and bool(urlsplit(value).netloc)


def test_a_link_whose_escaped_form_is_over_the_limit_is_left_out() -> None:
    # 1,817 characters, but every `&` becomes `&amp;` in HTML and Slack: 3,617 once escaped.
    url = "https://runbooks.local/?" + "a=1&" * 450
    group = make_group([make_alert(0, annotations={"runbook_url": url})])
    telegram = render_telegram(group, now=T0).text
    slack = _section_texts(render_slack(group, now=T0).payload())[0]
    assert ">runbook</a>" not in telegram and "|runbook>" not in slack
    assert ">source</a>" in telegram and "|source>" in slack
    assert all(len(h) <= URL_LIMIT for h in re.findall(r'href="([^"]*)"', telegram))


def test_slack_context_line_stays_within_its_limit() -> None:
    external = "http://alertmanager.local/" + "p" * 2000
    group = make_group([make_alert(0)], receiver="&" * 1000, external_url=external)
    context = _blocks(render_slack(group, now=T0).payload())[-1]
    text = context["elements"][0]["text"]  # type: ignore[index]
    assert utf16_len(text) <= SLACK_SECTION_LIMIT and text.startswith("1 firing, 0 resolved · receiver &amp;")
