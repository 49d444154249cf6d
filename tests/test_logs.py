"""Structured logs: one bounded JSON line per record, control characters escaped, secrets scrubbed."""

from __future__ import annotations

import io
import json
import logging
import re

from app.logs import LOG_EXCEPTION_LIMIT, LOG_VALUE_LIMIT, JSONFormatter, add_secrets, setup_logging

# Characters a line-oriented reader (tail, grep, Python's splitlines, a terminal) treats as
# a line break or a control sequence.
_RAW_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("alertmedic.test", logging.WARNING, __file__, 1, msg, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_huge_values_are_cut_in_every_field() -> None:
    huge = "v" * 500_000
    line = JSONFormatter().format(
        _record("refused %s", huge, label=huge, nested={"labels": {"pod": huge}}, items=[huge, 1])
    )
    data = json.loads(line)
    assert len(line) < 6 * LOG_VALUE_LIMIT
    assert data["msg"].startswith("refused vvv") and len(data["msg"]) <= LOG_VALUE_LIMIT
    assert "(+" in data["msg"] and data["msg"].endswith(" chars)")
    assert len(data["label"]) <= LOG_VALUE_LIMIT
    assert len(data["nested"]["labels"]["pod"]) <= LOG_VALUE_LIMIT
    assert len(data["items"][0]) <= LOG_VALUE_LIMIT and data["items"][1] == 1


def test_control_characters_are_escaped_not_written_raw() -> None:
    value = "a\x00b\x07c\x1b[31md\x7fe\x85f\u2028g\nh"
    line = JSONFormatter().format(_record("got %s", value, pod=value))
    assert not _RAW_CONTROL.search(line)
    assert line.count("\n") == 0
    data = json.loads(line)
    assert data["pod"] == value and data["msg"] == f"got {value}"  # escaped, not lost


def test_exception_text_is_bounded() -> None:
    try:
        raise ValueError("x" * 200_000)
    except ValueError:
        record = _record("failed")
        record.exc_info = __import__("sys").exc_info()
    data = json.loads(JSONFormatter().format(record))
    assert len(data["exception"]) <= LOG_EXCEPTION_LIMIT
    assert data["exception"].startswith("Traceback")


def test_secrets_are_still_scrubbed_after_cutting() -> None:
    secret = "hunter2-secret-token"
    stream = io.StringIO()
    setup_logging(secrets=[secret], stream=stream)
    try:
        logging.getLogger("alertmedic.test").warning(
            "token %s", secret, extra={"detail": "y" * (LOG_VALUE_LIMIT - 12) + secret}
        )
    finally:
        setup_logging(stream=io.StringIO())
    line = stream.getvalue()
    assert secret not in line and "***" in line
    assert secret[:8] not in line  # scrubbed before cutting: no half secret at the cut


def test_secrets_of_a_reloaded_configuration_are_scrubbed_too() -> None:
    first, rotated = "first-secret-token", "rotated-secret-token"
    stream = io.StringIO()
    setup_logging(secrets=[first], stream=stream)
    try:
        add_secrets([rotated, ""])
        logging.getLogger("alertmedic.test").warning("tokens %s %s", first, rotated)
    finally:
        setup_logging(stream=io.StringIO())
    line = stream.getvalue()
    assert first not in line and rotated not in line and line.count("***") == 2
