"""Redaction: built-in secrets always replaced, configured RE2 patterns added, counts kept."""

from __future__ import annotations

import time

import pytest

from app.core.redact import MARK, Redactor

# (line, the secret that must go, what must stay)
SECRETS = [
    (
        "GET /v1 Authorization: Bearer eyJhbGciOi.abcDEF123_-x",
        "eyJhbGciOi.abcDEF123_-x",
        "Authorization: Bearer",
    ),
    ("curl -H 'Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l'", "YWxhZGRpbjpvcGVuc2VzYW1l", "Basic"),
    ("bearer s3cr3tT0kenValue", "s3cr3tT0kenValue", "bearer"),
    ("db connect password=hunter2&user=app", "hunter2", "password=&user=app".replace("=&", "=" + MARK + "&")),
    ('{"password": "p@ss w0rd", "user": "x"}', "p@ss", '"password": "'),
    ("PASSWD: Tr0ub4dor", "Tr0ub4dor", "PASSWD:"),
    ("api_key=AbCdEf123456 api-key: zz99", "AbCdEf123456", "api_key="),
    ("client_secret=xyz987 ok", "xyz987", "client_secret="),
    (
        "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "token ",
    ),
    ("using key AKIAIOSFODNN7EXAMPLE in us-east-1", "AKIAIOSFODNN7EXAMPLE", "in us-east-1"),
    ("fetch https://bob:hunter2@db.example.com/x failed", "hunter2", "https://" + MARK + "@db.example.com/x"),
    ("postgres://app:pw0rd@10.0.0.1:5432/db", "pw0rd", "@10.0.0.1:5432/db"),
]


@pytest.mark.parametrize(("line", "secret", "kept"), SECRETS)
def test_builtin_patterns_apply_with_an_empty_list(line: str, secret: str, kept: str) -> None:
    out, n = Redactor.compile([]).redact(line)
    assert secret not in out and MARK in out and n >= 1
    assert kept in out


def test_harmless_lines_are_untouched() -> None:
    for line in [
        "GET /healthz 200 3ms",
        "tokens processed: 1234",
        "user bob logged in",
        "https://example.com/a",
    ]:
        assert Redactor().redact(line) == (line, 0)


def test_configured_patterns_are_unanchored_re2_searches() -> None:
    r = Redactor.compile(
        [r"sk-[A-Za-z0-9]{10,}", r"(?i)(authorization|password|passwd|secret|token|api[_-]?key)[=:]\s*\S+"]
    )
    out, n = r.redact("openai key sk-abcdefghij1234 in the middle")
    assert out == f"openai key {MARK} in the middle" and n == 1
    assert "s3cret" not in r.redact("secret=s3cret")[0]


def test_a_pattern_re2_rejects_is_named_by_index() -> None:
    with pytest.raises(ValueError, match=r"^\[1\]: invalid regex: missing \)"):
        Redactor.compile(["ok", "(unclosed"])
    with pytest.raises(ValueError, match=r"^\[0\]: invalid regex"):
        Redactor.compile(["x**"])


def test_redaction_takes_linear_time_on_a_pathological_line() -> None:
    r = Redactor.compile(["(a+)+$"])  # catastrophic for a backtracking engine
    line = "a" * 50_000 + "!"
    began = time.monotonic()
    assert r.redact(line) == (line, 0)
    assert time.monotonic() - began < 2
