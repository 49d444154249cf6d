"""Tests for app.core.matchers: Alertmanager 0.25's classic matcher syntax and its semantics.

The cases are written for this project from the behaviour documented in:

* [docs] prometheus/alertmanager docs/configuration.md: "Label matchers" (classic matchers,
  "Composition of matchers", "More examples"), the ``<regex>`` placeholder ("anchored on both
  ends") and the inhibition section ("a missing label and a label with an empty value are the
  same thing");
* [parse.go] the examples in the doc comment of ``labels.ParseMatchers`` (pkg/labels/parse.go);
* [parse_test] the behaviour pinned by pkg/labels/parse_test.go (TestMatchers);
* [amtool] the amtool examples of the Alertmanager README;
* [#2968] alertmanager pull request 2968 (``foo=`` is the empty value, ``foo!~".+"``).

Cases marked [am 0.25] were checked against the real amtool 0.25.0 shipped by Debian; the slow
test at the end re-checks a table against it when it is installed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from app.config import ConfigError, parse_config
from app.core.matchers import (
    Matcher,
    MatcherError,
    MatchOp,
    format_matchers,
    matchers_from_legacy,
    matches_all,
    parse_matcher,
    parse_matchers,
)

EQ, NE, RE, NRE = MatchOp.EQ, MatchOp.NE, MatchOp.RE, MatchOp.NRE
Triple = tuple[str, MatchOp, str]


def triples(ms: Sequence[Matcher]) -> list[Triple]:
    return [(m.name, m.op, m.value) for m in ms]


WATCHDOG = [("alertname", EQ, "Watchdog"), ("severity", RE, "warning|critical")]
FOO_DINGS = [("foo", EQ, "bar"), ("dings", NE, "bums")]

VALID: list[tuple[str, list[Triple]]] = [
    # [docs] More examples 1 and 2: one matcher per YAML list item.
    ("foo = bar", [("foo", EQ, "bar")]),
    ("dings != bums", [("dings", NE, "bums")]),
    # [docs] More examples 2: the quoted short form "foo = \"bar,baz\"" is this string.
    ('foo = "bar,baz"', [("foo", EQ, "bar,baz")]),
    # [docs] More examples 3: a PromQL-like string.
    ('{foo="bar", dings!="bums"}', FOO_DINGS),
    # [docs] More examples 4, as a YAML "|-" block (no trailing newline).
    (
        '{quote=~"She said: \\"Hi, all!( How\'re you…)?\\""}',
        [("quote", RE, 'She said: "Hi, all!( How\'re you…)?"')],
    ),
    # [docs] Composition of matchers: braces, trailing comma, whitespace and newlines.
    ('{alertname="Watchdog", severity=~"warning|critical"}', WATCHDOG),
    ('{alertname="Watchdog", severity=~"warning|critical",}', WATCHDOG),
    ('alertname="Watchdog", severity=~"warning|critical"', WATCHDOG),
    ('{\n   alertname = "Watchdog",\n   severity =~ "warning|critical",\n}', WATCHDOG),
    ('{alertname="Watchdog",severity=~"warning|critical"}', WATCHDOG),
    # The docs call unbalanced braces invalid, but that is the UTF-8 parser of 0.27+: the
    # classic parser strips a leading "{" and a trailing "}" independently. [am 0.25]
    ('{alertname="Watchdog", severity=~"warning|critical"', WATCHDOG),
    ('alertname="Watchdog", severity=~"warning|critical"}', WATCHDOG),
    # [parse.go] examples of valid inputs.
    ('{foo = "bar", dings != "bums", }', FOO_DINGS),
    ("foo=bar,dings!=bums", FOO_DINGS),
    ("foo=bar, dings!=bums", FOO_DINGS),
    (
        '{quote="She said: \\"Hi, ladies! That\'s gender-neutral…\\""}',
        [("quote", EQ, 'She said: "Hi, ladies! That\'s gender-neutral…"')],
    ),
    ('statuscode=~"5.."', [("statuscode", RE, "5..")]),
    # Examples of the brief and of the amtool README.
    ('foo=~"bar.*"', [("foo", RE, "bar.*")]),
    ('{foo="bar",baz!~"qu+x"}', [("foo", EQ, "bar"), ("baz", NRE, "qu+x")]),
    ('severity="critical"', [("severity", EQ, "critical")]),
    ('alertname=~"Model.*"', [("alertname", RE, "Model.*")]),
    ("alertname=Test_Alert", [("alertname", EQ, "Test_Alert")]),
    ('instance=~".+0"', [("instance", RE, ".+0")]),
    # [parse_test] every operator, quoted or not.
    ("{foo=bar}", [("foo", EQ, "bar")]),
    ("{foo=~bar.*}", [("foo", RE, "bar.*")]),
    ("{foo!=bar}", [("foo", NE, "bar")]),
    ('{foo!~"bar.*"}', [("foo", NRE, "bar.*")]),
    (
        '{foo="bar", baz!~".*quux.*", derp="wat"}',
        [("foo", EQ, "bar"), ("baz", NRE, ".*quux.*"), ("derp", EQ, "wat")],
    ),
    # [parse_test] commas inside quotes do not separate; quotes may be escaped.
    ('{foo="bar,quux", job="job1"}', [("foo", EQ, "bar,quux"), ("job", EQ, "job1")]),
    (
        'contains_quote != "\\"" , contains_comma !~ "foo,bar" , ',
        [("contains_quote", NE, '"'), ("contains_comma", NRE, "foo,bar")],
    ),
    # [parse_test] the operator is the longest one at the name; the rest is the value.
    ("tricky=~~~", [("tricky", RE, "~~")]),
    ('trickier==\\\\=\\=\\"', [("trickier", EQ, '=\\=\\="')]),
    # [parse_test] empty values, empty lists.
    ('{foo=""}', [("foo", EQ, "")]),
    ("job=", [("job", EQ, "")]),  # [#2968]
    ("{foo=", [("foo", EQ, "")]),
    ("{}", []),
    ("", []),
    # [parse_test] only one brace is stripped at each end, and only at the very ends.
    ("{foo=bar}}", [("foo", EQ, "bar}")]),
    ("{foo=bar}},}", [("foo", EQ, "bar}}")]),
    ("{foo=,bar=}}", [("foo", EQ, ""), ("bar", EQ, "}")]),
    ("{foo=}b", [("foo", EQ, "}b")]),
    ("{foo='}", [("foo", EQ, "'")]),
    ("{foo=`}", [("foo", EQ, "`")]),
    # [parse_test] escapes: \n, \\ and \" are escapes, other backslashes are literal.
    ('{foo=\\"}', [("foo", EQ, '"')]),
    ("{foo=bar\\t}", [("foo", EQ, "bar\\t")]),
    ("{foo=bar\\n}", [("foo", EQ, "bar\n")]),
    ("{foo=bar\\}", [("foo", EQ, "bar\\")]),
    ("{foo=bar\\\\}", [("foo", EQ, "bar\\")]),
    ('{foo=bar\\"}', [("foo", EQ, 'bar"')]),
    ('foo="a\\\\"', [("foo", EQ, "a\\")]),
    # Whitespace around tokens is dropped, inside the value it is kept. [am 0.25]
    ('  foo  =  " spaced "  ', [("foo", EQ, " spaced ")]),
    ("foo=a b  c", [("foo", EQ, "a b  c")]),
    ("foo\t=\tbar\t", [("foo", EQ, "bar")]),
    # Label names may contain colons in the classic syntax. [am 0.25]
    ("a:b=c", [("a:b", EQ, "c")]),
    (":=x", [(":", EQ, "x")]),
]


@pytest.mark.parametrize(("text", "expected"), VALID, ids=[repr(t) for t, _ in VALID])
def test_parse_matchers_valid(text: str, expected: list[Triple]) -> None:
    assert triples(parse_matchers(text)) == expected


# (input, what the message must say, position of the problem in the input)
INVALID: list[tuple[str, str, int]] = [
    # Missing operator.
    ("foo bar", "expected an operator", 4),
    ("foo", "missing operator", 3),
    ('{invalid-name = "valid label"}', "after label name 'invalid', found '-'", 8),  # [parse_test]
    # Empty or invalid label name.
    ('="bar"', "missing label name", 0),
    ("  != bar", "missing label name", 2),
    ("9a=b", "invalid label name", 0),
    ("{{foo=", "invalid label name", 1),  # [parse_test]
    # Empty list items: only a final one is tolerated. [parse_test]
    (",", "empty matcher", 0),
    ("{,}", "empty matcher", 1),
    ("a=1,,b=1", "empty matcher", 4),
    # Quotes. [parse_test]
    ('job="value', "unterminated quoted matcher value", 4),
    ('job=value"', "unescaped double quote", 9),
    ('trickier==\\\\=\\=\\""', "unescaped double quote", 17),
    ('contains_unescaped_quote = foo"bar', "unescaped double quote", 30),
    ('foo="x"y"', "unescaped double quote", 6),
    # Inputs that were escaped twice. [parse_test]
    ('"{foo=\\"bar"}', "invalid label name", 0),
    ('"foo=\\"bar\\""', "invalid label name", 0),
    ('"foo="bar""', "invalid label name", 0),
    # Regular expressions Go would not compile. [parse_test] [am 0.25]
    ('{foo=~"invalid[regexp"}', "missing closing ]", 14),
    # The position is where the fragment Go quotes in its message ("**") starts.
    ('foo=~"a**"', "invalid nested repetition operator", 7),
    ('foo=~"(a"', "missing closing )", 6),
    ('foo=~"a)"', "unexpected )", 7),
    ('foo=~"x{1001}"', "invalid repeat count", 7),
    ('foo=~"*"', "missing argument to repetition operator", 6),
]


@pytest.mark.parametrize(("text", "message", "position"), INVALID, ids=[t for t, _, _ in INVALID])
def test_parse_matchers_invalid(text: str, message: str, position: int) -> None:
    with pytest.raises(MatcherError) as info:
        parse_matchers(text)
    err = info.value
    assert message in str(err)
    assert err.position == position
    assert err.text == text
    assert f"at position {position}" in str(err)
    assert isinstance(err, ValueError)


def test_docs_yaml_block_with_trailing_newline_is_rejected_like_alertmanager() -> None:
    # [docs] More examples 4 uses a YAML "|" block, which keeps the final newline; then the
    # closing "}" is not the last character and Alertmanager 0.25 rejects it. [am 0.25]
    text = '{quote=~"She said: \\"Hi, all!( How\'re you…)?\\""}\n'
    with pytest.raises(MatcherError, match=r"unescaped double quote.*YAML '\|' block"):
        parse_matchers(text)


def test_parse_matcher_is_a_single_matcher_without_braces() -> None:
    assert triples([parse_matcher('foo="a,b"')]) == [("foo", EQ, "a,b")]
    assert triples([parse_matcher("foo = bar")]) == [("foo", EQ, "bar")]
    with pytest.raises(MatcherError, match="invalid label name"):
        parse_matcher('{foo="bar"}')
    with pytest.raises(MatcherError, match="empty matcher"):
        parse_matcher("")


def test_position_points_through_escapes_into_the_input() -> None:
    # The regex error is at the value's backslash; the value starts after two escaped quotes.
    text = 'x=~"\\"\\"\\8"'
    with pytest.raises(MatcherError, match=r"invalid escape sequence \\8") as info:
        parse_matchers(text)
    assert info.value.position == text.index("\\8")


# --- semantics ---------------------------------------------------------------------------------


def m(text: str) -> Matcher:
    return parse_matcher(text)


@pytest.mark.parametrize(
    ("matcher", "labels", "expected"),
    [
        # A missing label is the empty string. [docs] inhibition section; [#2968]
        ('foo=""', {}, True),
        ('foo=""', {"foo": "x"}, False),
        ('foo!=""', {}, False),
        ('foo!=""', {"foo": "x"}, True),
        ('foo=~".*"', {}, True),
        ('foo=~".+"', {}, False),
        ('foo!~".+"', {}, True),
        ('foo!~".+"', {"foo": "x"}, False),
        ("foo=", {"foo": ""}, True),
        # Plain equality is exact.
        ("foo=bar", {"foo": "bar"}, True),
        ("foo=bar", {"foo": "Bar"}, False),
        ("foo=bar", {"foo": "bar "}, False),
        ("foo!=bar", {}, True),
        # [amtool] README: alertname=~"Test.*" instance=~".+1" selects Test_Alert on node1.
        ('alertname=~"Test.*"', {"alertname": "Test_Alert"}, True),
        ('instance=~".+1"', {"instance": "node1"}, True),
        ('instance=~".+0"', {"instance": "node1"}, False),
        # [docs] <regex> is anchored on both ends; .*<regex>.* un-anchors it.
        ('service=~"foo1|foo2|baz"', {"service": "foo2"}, True),
        ('service=~"foo1|foo2|baz"', {"service": "foo22"}, False),
        ('service=~"foo1|foo2|baz"', {"service": "xbaz"}, False),
        ('service=~".*baz.*"', {"service": "xbazx"}, True),
        ('statuscode=~"5.."', {"statuscode": "503"}, True),
        ('statuscode=~"5.."', {"statuscode": "5030"}, False),
        ('alertname=~"Model.*"', {"alertname": "ModelDrift"}, True),
        ('alertname=~"Model.*"', {"alertname": "OldModel"}, False),
        ('baz!~"qu+x"', {"baz": "quuux"}, False),
        ('baz!~"qu+x"', {"baz": "quuuxx"}, True),
        # [docs] More examples 4: the optional group.
        (
            'quote=~"She said: \\"Hi, all!( How\'re you…)?\\""',
            {"quote": 'She said: "Hi, all!"'},
            True,
        ),
        (
            'quote=~"She said: \\"Hi, all!( How\'re you…)?\\""',
            {"quote": 'She said: "Hi, all! How\'re you…"'},
            True,
        ),
        ('quote=~"She said: \\"Hi, all!( How\'re you…)?\\""', {"quote": "She said: Hi"}, False),
    ],
)
def test_matches(matcher: str, labels: dict[str, str], expected: bool) -> None:
    assert m(matcher).matches(labels) is expected


def test_composition_is_and() -> None:
    # [docs] Composition of matchers: the Watchdog example.
    ms = parse_matchers('{alertname="Watchdog", severity=~"warning|critical"}')
    assert matches_all(ms, {"alertname": "Watchdog", "severity": "critical"})
    assert not matches_all(ms, {"alertname": "Watchdog", "severity": "none"})
    assert matches_all([], {"anything": "goes"})


# Go RE2 constructs and how they must behave; all checked against amtool 0.25. [am 0.25]
GO_REGEX: list[tuple[str, str, bool]] = [
    # $ and \z are the end of the text: a trailing newline is not skipped (unlike Python's $).
    ("a$", "a\n", False),
    ("a\\z", "a", True),
    (".*", "a\nb", False),  # . does not match a newline ...
    ("(?s).*", "a\nb", True),  # ... unless s is set
    ("(?m)a$\\nb", "a\nb", True),
    # Flags in the middle of a pattern apply to the rest of the group, across alternatives.
    ("a(?i)b|c", "aB", True),
    ("a(?i)b|c", "C", True),
    ("a(?i)b|c", "Ab", False),
    ("(?i:A)b", "aB", False),
    ("(?i)abc", "ABC", True),
    ("(?U)a+", "aaa", True),  # ungreedy changes nothing for whole-string matching ...
    ("(?U)(a+?)b", "aab", True),
    # Perl classes are ASCII-only in Go.
    ("\\d", "\u0663", False),  # ARABIC-INDIC DIGIT THREE
    ("\\d+", "123", True),
    ("\\w", "é", False),
    ("\\s", "\u00a0", False),
    ("\\s", "\x0b", False),  # Go's \s has no vertical tab
    ("[[:space:]]", "\x0b", True),
    ("[[:alpha:]]+", "abcXYZ", True),
    ("[[:^alpha:]]", "k", False),
    ("[[:^alpha:]]", "é", True),
    ("(?i)[[:^alpha:]]", "\u212a", False),  # KELVIN SIGN folds to k
    ("\\b", "", False),
    ("\\B", "", True),
    # Unicode general categories.
    ("\\pL+", "Ελλάδα", True),
    ("\\p{Lu}", "a", False),
    ("\\PL", "1", True),
    # Unicode scripts.
    ("\\p{Greek}+", "Ελλάδα", True),
    ("\\p{Greek}", "a", False),
    # Any Unicode text: . is one code point, whatever its UTF-8 length.
    ("...", "a€😀", True),
    ("..", "a€😀", False),
    ("(?i)straße", "STRA\u1e9eE", True),  # LATIN CAPITAL LETTER SHARP S
    # Braces that are not a repetition are literal; leading zeros are not repetitions.
    ("a{,5}", "a{,5}", True),
    ("a{,5}", "aa", False),
    ("a{01}", "a{01}", True),
    ("a{2}", "aa", True),
    ("a{2,}", "aaaa", True),
    ("{", "{", True),
    # Literal text, octal and hex escapes.
    ("\\Qa.b\\E", "a.b", True),
    ("\\Qa.b\\E", "axb", False),
    ("\\101\\x42\\x{43}", "ABC", True),
    ("\\12", "\n", True),
    ("[]a]+", "]a", True),
    ("[a-]+", "a-", True),
    ("[\\d-z]+", "1-z", True),
    ("(?P<1a>x)", "x", True),
    ("(?P<n>a)(?P<n>b)", "ab", True),  # Go does not mind a name used twice
    # The value is spliced into ^(?:...)$ as Alertmanager does, so ")|(" escapes the anchors.
    ("a)|(b", "axxx", True),
    ("a)|(b", "xxxb", True),
    ("a)|(b", "xbx", False),
]


@pytest.mark.parametrize(
    ("regex", "value", "expected"), GO_REGEX, ids=[f"{r!r}~{v!r}" for r, v, _ in GO_REGEX]
)
def test_go_regex_semantics(regex: str, value: str, expected: bool) -> None:
    assert Matcher("x", RE, regex).matches({"x": value}) is expected
    assert Matcher("x", NRE, regex).matches({"x": value}) is not expected


@pytest.mark.parametrize(
    ("regex", "message"),
    [
        # Go rejects these. [am 0.25]
        ("(?=a)", "invalid or unsupported Perl syntax"),
        ("(?#comment)", "invalid or unsupported Perl syntax"),
        ("(?x)a", "invalid or unsupported Perl syntax"),
        ("(?i-)", "invalid or unsupported Perl syntax"),
        ("(a)\\1", "invalid escape sequence \\1"),
        ("\\Z", "invalid escape sequence \\Z"),
        ("\\é", "invalid escape sequence"),
        ("a*+", "invalid nested repetition operator"),
        ("a{2}{3}", "invalid nested repetition operator"),
        ("[[:foo:]]", "invalid character class range"),
        ("[z-a]", "invalid character class range"),
        ("\\", "trailing backslash"),
        ("\\E", "invalid escape sequence \\E"),
        # \Q runs to the end of the pattern, so it quotes the ")" Alertmanager appends.
        ("\\Qabc", "missing closing )"),
        # RE2 takes these, the Go of Alertmanager 0.25 does not. [am 0.25]
        ("\\C", "invalid escape sequence \\C"),
        ("x\\Q\\C\\E\\C", "invalid escape sequence \\C"),
        ("(?<n>a)", "invalid or unsupported Perl syntax"),  # Go 1.22 takes it too
        ("(?P<é>a)", "invalid named capture"),
    ],
)
def test_regex_rejected(regex: str, message: str) -> None:
    with pytest.raises(MatcherError, match=re.escape(message)):
        Matcher("x", RE, regex)


@pytest.mark.parametrize(
    ("regex", "position"),
    [
        ("\\8x\\8", 0),  # the first of two identical mistakes
        ("\\Q\\8\\E\\8", 6),  # the quoted \8 is a literal
        ("é(?=x)", 1),
        ("(a{1000}){1000}", 9),  # the repetition that makes the product too large
        ("xx(a(b)", 2),  # the parenthesis left open
        ("a)b)", 1),
        ("[)]a)", 4),  # a ")" in a class is a literal
        ("x\\Q\\C\\E\\C", 7),
    ],
)
def test_regex_error_position(regex: str, position: int) -> None:
    with pytest.raises(MatcherError) as info:
        Matcher("x", RE, regex)
    assert info.value.position == position


def test_regex_over_re2_memory_budget_is_rejected_clearly() -> None:
    # Go takes this; RE2 compiles \pL to a UTF-8 automaton and exceeds its 8 MiB budget.
    with pytest.raises(MatcherError, match=re.escape("expression too large (over RE2's 8 MiB")) as info:
        parse_matcher('script=~"\\pL{1000}"')
    assert info.value.position is None
    assert info.value.text == 'script=~"\\pL{1000}"'


def test_config_load_names_the_matcher_with_a_bad_regex() -> None:
    text = """
receivers: [{name: a}]
route:
  receiver: a
  routes:
    - matchers: ['severity="x"', 'instance=~"(?=a)b"']
      receiver: a
    - match_re: {service: 'a\\C'}
      receiver: a
"""
    with pytest.raises(ConfigError) as info:
        parse_config(text, check_files=False)
    problems = dict(info.value.problems)
    assert problems["route.routes[0].matchers"] == (
        "matchers[1]: invalid regular expression '(?=a)b': invalid or unsupported Perl syntax"
        """ at position 11 in 'instance=~"(?=a)b"'"""
    )
    assert problems["route.routes[1].match_re"] == (
        "match_re: service: invalid regular expression: invalid escape sequence \\C at position 1 in 'a\\\\C'"
    )


@pytest.mark.parametrize(
    ("regex", "value"),
    [
        ("(a+)+b", "a" * 10_000),
        ("(x+x+)+y", "x" * 10_000),
        ("(.*a){20}", "a" * 10_000 + "!"),
        ("(a|aa)+c", "a" * 10_000),
        ("(?s)(.*)*é(.*)*z", "é" * 10_000),
    ],
)
def test_pathological_regex_answers_in_linear_time(regex: str, value: str) -> None:
    # With Python's backtracking re, (a+)+b against 24 a's took half a second, doubling with
    # each further "a"; RE2 takes tens of microseconds for 10,000 characters.
    matcher = Matcher("instance", RE, regex)
    labels = {"instance": value}
    runs = 100
    start = time.perf_counter()
    for _ in range(runs):
        assert not matcher.matches(labels)
    assert (time.perf_counter() - start) / runs < 0.005


@given(st.text(max_size=20))
def test_any_unicode_label_value(value: str) -> None:
    # . is one code point of the text (Go matches UTF-8 text), whatever its encoded length.
    assert Matcher("x", RE, f"(?s).{{{len(value)}}}").matches({"x": value})
    assert not Matcher("x", RE, f"(?s).{{{len(value) + 1}}}").matches({"x": value})
    assume("\\E" not in value)
    literal = Matcher("x", RE, f"\\Q{value}\\E")
    assert literal.matches({"x": value})
    assert not literal.matches({"x": value + "x"})


def test_lone_surrogate_in_a_label_value_is_the_replacement_character() -> None:
    # JSON "\ud800" decodes to a lone surrogate in Python, to U+FFFD in Go.
    assert Matcher("x", RE, "a.b").matches({"x": "a\ud800b"})
    assert Matcher("x", RE, "\ufffd").matches({"x": "\udc00"})
    assert not Matcher("x", NRE, "\ufffd").matches({"x": "\udc00"})


def test_matcher_constructor_validates_and_coerces() -> None:
    assert Matcher("x", "=~", "a.") == Matcher("x", RE, "a.")  # type: ignore[arg-type]
    assert Matcher("x", EQ, "[").regex is None  # only regex operators compile the value
    with pytest.raises(MatcherError, match="unknown matcher operator"):
        Matcher("x", "==", "a")  # type: ignore[arg-type]
    with pytest.raises(MatcherError, match="missing closing ]") as info:
        Matcher("x", NRE, "ab[")
    assert info.value.position == 2
    assert info.value.text == "ab["


def test_matchers_are_values() -> None:
    a, b = parse_matcher('foo=~"a+"'), Matcher("foo", RE, "a+")
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b, parse_matcher("foo=a+")}) == 2


# --- rendering -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("matcher", "text"),
    [
        (Matcher("foo", EQ, "bar"), 'foo="bar"'),
        (Matcher("dings", NE, "bums"), 'dings!="bums"'),
        (Matcher("foo", RE, "bar.*"), 'foo=~"bar.*"'),
        (Matcher("baz", NRE, "qu+x"), 'baz!~"qu+x"'),
        (Matcher("foo", EQ, ""), 'foo=""'),
        # OpenMetrics escaping: backslash, newline and double quote only. [am 0.25]
        (Matcher("trickier", EQ, '=\\=\\="'), 'trickier="=\\\\=\\\\=\\""'),
        (Matcher("foo", EQ, "a\nb\tc"), 'foo="a\\nb\tc"'),
    ],
)
def test_str(matcher: Matcher, text: str) -> None:
    assert str(matcher) == text


def test_format_matchers() -> None:
    ms = parse_matchers("foo = bar, dings != bums")
    assert format_matchers(ms) == '{foo="bar",dings!="bums"}'
    assert format_matchers([]) == "{}"


# --- legacy match / match_re ---------------------------------------------------------------------


def test_legacy_match_and_match_re() -> None:
    # [docs] doc/examples/simple.yml: match_re service: ^(foo1|foo2|baz)$, match severity.
    ms = matchers_from_legacy({"severity": "critical"}, {"service": "^(foo1|foo2|baz)$"})
    assert triples(ms) == [("severity", EQ, "critical"), ("service", RE, "^(foo1|foo2|baz)$")]
    assert matches_all(ms, {"severity": "critical", "service": "foo2"})
    assert not matches_all(ms, {"severity": "critical", "service": "foo3"})
    assert not matches_all(ms, {"severity": "critical", "service": "xbaz"})
    # match_re values are anchored like matchers: "foo1|foo2|baz" alone behaves the same.
    assert matchers_from_legacy({}, {"service": "foo1|foo2|baz"})[0].matches({"service": "baz"})
    assert not matchers_from_legacy({}, {"service": "foo1|foo2|baz"})[0].matches({"service": "bazz"})
    assert matchers_from_legacy({}, {}) == []


@pytest.mark.parametrize(
    ("match", "match_re", "message"),
    [
        ({"foo-bar": "x"}, {}, "match: invalid label name 'foo-bar'"),
        ({}, {"a:b": "x"}, "match_re: invalid label name 'a:b'"),  # no colons in these keys
        ({"": "x"}, {}, "invalid label name ''"),
        (
            {},
            {"service": "foo(1"},
            "match_re: service: invalid regular expression: missing closing )",
        ),
    ],
)
def test_legacy_invalid(match: dict[str, str], match_re: dict[str, str], message: str) -> None:
    with pytest.raises(MatcherError, match=re.escape(message)):
        matchers_from_legacy(match, match_re)


# --- properties ----------------------------------------------------------------------------------

label_names = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,10}", fullmatch=True)
ops = st.sampled_from([EQ, NE])


@given(label_names, ops, st.text(max_size=20))
def test_str_round_trips(name: str, op: MatchOp, value: str) -> None:
    matcher = Matcher(name, op, value)
    assert parse_matcher(str(matcher)) == matcher
    assert parse_matchers("{" + str(matcher) + "}") == [matcher]


@given(st.lists(st.tuples(label_names, ops, st.text(max_size=12)), max_size=4), st.booleans())
def test_format_round_trips(specs: list[tuple[str, MatchOp, str]], trailing_comma: bool) -> None:
    ms = [Matcher(name, op, value) for name, op, value in specs]
    text = format_matchers(ms)
    if trailing_comma and ms:
        text = text[:-1] + ",}"
    assert parse_matchers(text) == ms


@given(
    st.from_regex(r"[a-zA-Z0-9]{1,8}", fullmatch=True),
    st.text(alphabet="xyz \n-.", max_size=5),
    st.text(alphabet="xyz \n-.", max_size=5),
)
def test_regex_is_anchored(literal: str, before: str, after: str) -> None:
    # [docs] <regex>: "The regex is anchored on both ends. To un-anchor the regex, use .*<regex>.*"
    anchored = Matcher("l", RE, literal)
    assert anchored.matches({"l": literal})
    assert anchored.matches({"l": before + literal + after}) is (before + after == "")
    unanchored = Matcher("l", RE, f"(?s).*{literal}.*")
    assert unanchored.matches({"l": before + literal + after})


@given(st.text(max_size=12), st.text(max_size=12))
def test_absent_label_is_the_empty_string(name_value: str, other: str) -> None:
    for op in MatchOp:
        for value in ("", ".*", ".+", name_value):
            try:
                matcher = Matcher("foo", op, value)
            except MatcherError:
                continue
            assert matcher.matches({"bar": other}) == matcher.matches({"foo": ""})


# --- against the real Alertmanager ------------------------------------------------------------


def _amtool() -> str:
    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.fail(
            "amtool is missing: `make system-deps` installs Debian's prometheus-alertmanager", pytrace=False
        )
    return amtool


def _amtool_render(inputs: list[str], tmp_path: Path) -> tuple[list[bool], dict[int, str]]:
    """For each input, whether amtool accepts it as route matchers, and how it renders it."""
    amtool = _amtool()

    def config(items: list[str]) -> str:
        lines = ["route:", "  receiver: default", "  routes:"]
        for i, s in enumerate(items):
            lines += [
                f"    - matchers: [{json.dumps(s, ensure_ascii=False)}]",
                f"      receiver: r{i}",
            ]
        lines += [
            "receivers:",
            "  - name: default",
            *(f"  - name: r{i}" for i in range(len(items))),
        ]
        return "\n".join(lines) + "\n"

    accepted = []
    for i, s in enumerate(inputs):
        path = tmp_path / f"one{i}.yml"
        path.write_text(config([s]))
        run = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True, check=False)
        accepted.append("SUCCESS" in run.stdout)
    good = [s for s, ok in zip(inputs, accepted, strict=True) if ok]
    path = tmp_path / "all.yml"
    path.write_text(config(good))
    run = subprocess.run(
        [amtool, "config", "routes", f"--config.file={path}"],
        capture_output=True,
        text=True,
        check=True,
    )
    rendered: dict[int, str] = {}
    for line in run.stdout.splitlines():
        found = re.search(r"── (.*)  receiver: r(\d+)$", line)
        if found:
            rendered[inputs.index(good[int(found.group(2))])] = found.group(1)
    return accepted, rendered


@pytest.mark.slow
def test_agrees_with_amtool(tmp_path: Path) -> None:
    inputs = [t for t, expected in VALID if expected] + [t for t, _, _ in INVALID]
    inputs += [f'x=~"{r}"'.replace("\\", "\\\\") for r, _, _ in GO_REGEX if '"' not in r]
    inputs = list(dict.fromkeys(inputs))
    accepted, rendered = _amtool_render(inputs, tmp_path)
    order = {EQ: 0, NE: 1, RE: 2, NRE: 3}
    for i, text in enumerate(inputs):
        try:
            ours = parse_matchers(text)
        except MatcherError:
            assert not accepted[i], f"amtool accepts {text!r}"
            continue
        assert accepted[i], f"amtool rejects {text!r}"
        # amtool sorts a route's matchers by name, value, then operator.
        ours.sort(key=lambda x: (x.name.encode(), x.value.encode(), order[x.op]))
        assert rendered[i] == format_matchers(ours), text


@pytest.mark.slow
def test_go_regex_table_matches_like_amtool(tmp_path: Path) -> None:
    # One route per regex, all with continue: `amtool config routes test` lists the receivers of
    # the routes whose regex matches the label value, as Alertmanager's Go evaluates it.
    amtool = _amtool()
    regexes = list(dict.fromkeys(r for r, _, _ in GO_REGEX))
    lines = ["route:", "  receiver: default", "  routes:"]
    for i, r in enumerate(regexes):
        lines += [
            f"    - matchers: [{json.dumps(str(Matcher('x', RE, r)), ensure_ascii=False)}]",
            f"      receiver: r{i}",
            "      continue: true",
        ]
    lines += ["receivers:", "  - name: default", *(f"  - name: r{i}" for i in range(len(regexes)))]
    path = tmp_path / "go_regex.yml"
    path.write_text("\n".join(lines) + "\n")
    for value in dict.fromkeys(v for _, v, _ in GO_REGEX):
        run = subprocess.run(
            [amtool, "config", "routes", "test", f"--config.file={path}", str(Matcher("x", EQ, value))],
            capture_output=True,
            text=True,
            check=True,
        )
        theirs = set(run.stdout.strip().split(","))
        ours = {f"r{i}" for i, r in enumerate(regexes) if Matcher("x", RE, r).matches({"x": value})}
        assert theirs == (ours or {"default"}), value
