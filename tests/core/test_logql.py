"""Query templates: label values escaped for LogQL/PromQL strings, so they cannot change a query."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.logql import QueryTemplate, escape_string
from tests.enrich.alerts import alert
from tests.fakes.loki import parse_logql

QUERY = '{namespace="{{ labels.namespace }}", app="{{ labels.deployment }}"} |~ "(?i)error|exception|timeout"'


def test_issue_template_renders_the_alert_labels() -> None:
    t = QueryTemplate.compile(QUERY)
    assert t.render(alert()) == '{namespace="prod", app="model-api"} |~ "(?i)error|exception|timeout"'


@pytest.mark.parametrize(
    "value",
    [
        'x"} |= "y',  # closes the string and the selector, adds a filter
        'x", namespace=~".*',  # widens the selector
        "a\\",  # a trailing backslash would eat the closing quote
        'x"} or {app=~".+',
        "line\nbreak\ttab\x00nul\x1b[31m",
        "é ✓ 🔥",
    ],
)
def test_a_label_value_cannot_change_the_query(value: str) -> None:
    rendered = QueryTemplate.compile(QUERY).render(alert(labels={"deployment": value}))
    parsed = parse_logql(rendered)  # Loki's string syntax, read back
    assert parsed.label("app") == [("=", value)]
    assert parsed.label("namespace") == [("=", "prod")]
    assert len(parsed.matchers) == 2
    assert [(f.op, f.value) for f in parsed.filters] == [("|~", "(?i)error|exception|timeout")]


@given(st.text())
def test_any_value_reads_back_unchanged(value: str) -> None:
    value = "".join(ch for ch in value if not 0xD800 <= ord(ch) <= 0xDFFF)
    parsed = parse_logql('{job="x", app="' + escape_string(value) + '"}')
    assert parsed.label("app") == [("=", value)] and parsed.filters == ()


def test_missing_label_and_annotations() -> None:
    t = QueryTemplate.compile('{app="{{ labels.nope }}", s="{{ annotations.summary }}"}')
    assert t.render(alert()) == '{app="", s="p95 latency high"}'


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ('{app="x"} |= {{ labels.app }}', "inside a double-quoted string"),
        ('{app="x"} |= `{{ labels.app }}`', "inside a double-quoted string"),
        ('{app="{{ nope }}"}', "unknown template variable(s) nope"),
        ('{app="{{ labels.app "}', "template error on line 1"),
        ("  ", "empty"),
    ],
)
def test_bad_templates_are_refused(source: str, words: str) -> None:
    with pytest.raises(ValueError, match=r".*" + words.replace("(", r"\(").replace(")", r"\)")):
        QueryTemplate.compile(source)


def test_backtick_strings_without_placeholders_and_statements_are_fine() -> None:
    source = '{% if labels.deployment %}{app="{{ labels.deployment }}"}{% endif %} |~ `\\d+`'
    t = QueryTemplate.compile(source)
    assert t.render(alert()) == '{app="model-api"} |~ `\\d+`'


def test_the_sandbox_refuses_attribute_games() -> None:
    t = QueryTemplate.compile('{app="{{ labels.__class__.__mro__ }}"}')
    with pytest.raises(ValueError, match="query template failed: access to attribute '__class__'"):
        t.render(alert())
