"""FakeLoki: Loki's log query API (``GET /loki/api/v1/query_range``) over streams held in memory.

Wire format as Loki 3.x answers it:

* ``query`` (LogQL), ``start`` / ``end`` (an integer of more than 10 digits is Unix
  nanoseconds, 10 digits or fewer Unix seconds, a float seconds, or RFC3339; defaults: an
  hour ago / now), ``limit`` (default 100; above ``max_entries`` → 400), ``direction``
  (``backward``, the default: newest first; or ``forward``). ``start`` is inclusive, ``end``
  exclusive.
* 200 ``{"status":"success","data":{"resultType":"streams","result":[{"stream":{labels},
  "values":[["<ns>","<line>"],...]}],"stats":{...}}}``; the limit counts entries across streams.
* Errors are ``text/plain``: 400 ``parse error at line 1, col N: …`` for LogQL it cannot
  parse, 400 for an empty-compatible selector or a bad limit/time, 401 ``no org id`` without
  ``X-Scope-OrgID`` when ``multi_tenant`` (streams are kept per tenant), 429 ``too many
  outstanding requests`` and slow answers by :meth:`FakeLoki.fail_next`.

LogQL understood: a stream selector (``=``, ``!=``, ``=~``, ``!~`` with Go-quoted or backtick
strings; regexes fully anchored, RE2) and line filters (``|=``, ``!=``, ``|~``, ``!~``).
Other pipeline stages are answered with a 400 naming the fake's limit. Every parsed query is
kept in :attr:`FakeLoki.queries` so a test can check what was asked, label by label.

With ``basic_auth=(user, password)`` a request without those credentials gets 401 (as an
authenticating gateway in front of Loki answers).
"""

from __future__ import annotations

import base64
import hmac
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import re2

from tests.fakes.base import FakeHTTPServer, Injection, RecordedRequest, Reply

__all__ = ["FakeLoki", "LogQLQuery", "ParseError", "parse_logql"]

PATH = "/loki/api/v1/query_range"
_RE2 = re2.Options()
_RE2.log_errors = False
MAX_ENTRIES = 5000


class ParseError(ValueError):
    def __init__(self, message: str, col: int | None = None) -> None:
        where = f"parse error at line 1, col {col}: " if col is not None else "parse error : "
        super().__init__(where + message)


@dataclass(frozen=True)
class LabelMatcher:
    name: str
    op: str
    value: str

    def matches(self, labels: dict[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op in ("=", "!="):
            return (actual == self.value) == (self.op == "=")
        hit = re2.compile(self.value, _RE2).fullmatch(actual) is not None
        return hit == (self.op == "=~")


@dataclass(frozen=True)
class LineFilter:
    op: str
    value: str

    def keeps(self, line: str) -> bool:
        if self.op in ("|=", "!="):
            return (self.value in line) == (self.op == "|=")
        return (re2.compile(self.value, _RE2).search(line) is not None) == (self.op == "|~")


@dataclass(frozen=True)
class LogQLQuery:
    """A parsed query: the selector's matchers and the line filters, in order."""

    text: str
    matchers: tuple[LabelMatcher, ...]
    filters: tuple[LineFilter, ...] = ()

    def label(self, name: str) -> list[tuple[str, str]]:
        """(op, value) of every matcher on `name`."""
        return [(m.op, m.value) for m in self.matchers if m.name == name]


# --- LogQL (the subset above) ---------------------------------------------------------------

_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_GO_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
}


class _Reader:
    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    def col(self) -> int:
        return self.pos + 1

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
            self.pos += 1

    def peek(self, n: int = 1) -> str:
        return self.text[self.pos : self.pos + n]

    def take(self, token: str) -> bool:
        self.skip()
        if self.text.startswith(token, self.pos):
            self.pos += len(token)
            return True
        return False

    def string(self) -> str:
        self.skip()
        if self.peek() == "`":
            end = self.text.find("`", self.pos + 1)
            if end < 0:
                raise ParseError("syntax error: unexpected end of input, unterminated raw string", self.col())
            value, self.pos = self.text[self.pos + 1 : end], end + 1
            return value
        if self.peek() != '"':
            raise ParseError(f"syntax error: unexpected {self._token()}, expecting STRING", self.col())
        start, i, out = self.pos, self.pos + 1, []
        while i < len(self.text):
            ch = self.text[i]
            if ch == '"':
                self.pos = i + 1
                return "".join(out)
            if ch == "\n":
                break
            if ch != "\\":
                out.append(ch)
                i += 1
                continue
            esc = self.text[i + 1 : i + 2]
            if esc in _GO_ESCAPES:
                out.append(_GO_ESCAPES[esc])
                i += 2
            elif esc in ("x", "u", "U"):
                width = {"x": 2, "u": 4, "U": 8}[esc]
                digits = self.text[i + 2 : i + 2 + width]
                if len(digits) != width or not all(c in "0123456789abcdefABCDEF" for c in digits):
                    raise ParseError("invalid char escape", start + 1)
                out.append(chr(int(digits, 16)))
                i += 2 + width
            else:
                raise ParseError("invalid char escape", start + 1)
        raise ParseError("literal not terminated", start + 1)

    def _token(self) -> str:
        return repr(self.text[self.pos : self.pos + 10]) if self.pos < len(self.text) else "$end"


def parse_logql(text: str) -> LogQLQuery:
    """Parse a log query; raises ParseError worded like Loki's."""
    r = _Reader(text)
    if not r.take("{"):
        raise ParseError("syntax error: unexpected " + r._token() + ", expecting {", r.col())
    matchers: list[LabelMatcher] = []
    while True:
        r.skip()
        if r.take("}"):
            break
        if matchers and not r.take(","):
            raise ParseError(f"syntax error: unexpected {r._token()}, expecting , or }}", r.col())
        r.skip()
        m = _NAME.match(r.text, r.pos)
        if m is None:
            raise ParseError(f"syntax error: unexpected {r._token()}, expecting IDENTIFIER", r.col())
        r.pos = m.end()
        op = next((o for o in ("=~", "!~", "!=", "=") if r.take(o)), None)
        if op is None:
            raise ParseError(f"syntax error: unexpected {r._token()}, expecting = or =~ or != or !~", r.col())
        value = r.string()
        if op in ("=~", "!~"):
            try:
                re2.compile(value, _RE2)
            except re2.error:
                raise ParseError(f"error parsing regexp: {value!r}", r.col()) from None
        matchers.append(LabelMatcher(m.group(0), op, value))
    if not any(m.op in ("=", "=~") and not LabelMatcher(m.name, m.op, m.value).matches({}) for m in matchers):
        raise ParseError(
            "queries require at least one regexp or equality matcher that does not have an "
            'empty-compatible value. For instance, app=~".*" does not meet this requirement, '
            'but app=~".+" will'
        )
    filters: list[LineFilter] = []
    while True:
        r.skip()
        if r.pos >= len(r.text):
            break
        op = next((o for o in ("|=", "|~", "!=", "!~") if r.take(o)), None)
        if op is None:
            raise ParseError(
                f"syntax error: unexpected {r._token()} "
                "(FakeLoki understands selectors and line filters only)",
                r.col(),
            )
        value = r.string()
        if op in ("|~", "!~"):
            try:
                re2.compile(value, _RE2)
            except re2.error:
                raise ParseError(f"error parsing regexp: {value!r}", r.col()) from None
        filters.append(LineFilter(op, value))
    return LogQLQuery(text, tuple(matchers), tuple(filters))


# --- times ----------------------------------------------------------------------------------


def parse_time(value: str, name: str) -> int:
    """Unix nanoseconds from a Loki time parameter."""
    if re.fullmatch(r"-?\d+", value):
        n = int(value)
        return n if len(value.lstrip("-")) > 10 else n * 1_000_000_000
    try:
        return int(float(value) * 1_000_000_000)
    except ValueError:
        pass
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f'invalid parameter "{name}": cannot parse "{value}" to a valid timestamp') from None
    return int(t.timestamp()) * 1_000_000_000 + t.microsecond * 1000


# --- the server -----------------------------------------------------------------------------


@dataclass
class _Stream:
    labels: dict[str, str]
    entries: list[tuple[int, str]] = field(default_factory=list)


class FakeLoki(FakeHTTPServer):
    """In-memory Loki; :meth:`push` adds lines, :attr:`queries` records what was asked."""

    def __init__(
        self,
        *,
        multi_tenant: bool = False,
        basic_auth: tuple[str, str] | None = None,
        max_entries: int = MAX_ENTRIES,
        now_ns: int | None = None,
    ) -> None:
        super().__init__()
        self.multi_tenant = multi_tenant
        self.basic_auth = basic_auth
        self.max_entries = max_entries
        self.now_ns = now_ns
        """The default ``end`` (``None``: the real clock)."""
        self._streams: dict[tuple[str, tuple[tuple[str, str], ...]], _Stream] = {}
        self.queries: list[LogQLQuery] = []
        """Every query that parsed, in arrival order."""

    def push(self, labels: dict[str, str], entries: list[tuple[int, str]], *, tenant: str = "fake") -> None:
        """Add (ns, line) entries to the stream with `labels` (of `tenant` when multi-tenant)."""
        key = (tenant if self.multi_tenant else "fake", tuple(sorted(labels.items())))
        self._streams.setdefault(key, _Stream(dict(labels))).entries.extend(entries)

    def fail_next(
        self, n: int = 1, status: int = 429, *, body: str | None = None, delay: float = 0.0
    ) -> None:
        """Answer the next `n` queries with `status` (text/plain body, Loki's words by default);
        `delay` seconds first (a slow Loki)."""
        default = {429: "too many outstanding requests", 504: "Gateway Timeout"}.get(status, "internal error")
        self.inject(Injection(status, None, None, {"body": body or default}, delay), n)

    def answer_slowly(self, delay: float, n: int = 1) -> None:
        """Answer the next `n` queries normally, after `delay` seconds."""
        self.inject(Injection(200, None, None, {"normal": True}, delay), n)

    def _render_injection(self, rec: RecordedRequest, inj: Injection) -> Reply:
        if inj.extra.get("normal"):
            return self._handle(rec)
        return Reply(inj.status, str(inj.extra["body"]) + "\n", content_type="text/plain")

    def _handle(self, rec: RecordedRequest) -> Reply:
        if rec.method != "GET" or rec.path != PATH:
            return Reply(404, "404 page not found\n", content_type="text/plain")
        if self.basic_auth is not None:
            expected = "Basic " + base64.b64encode(":".join(self.basic_auth).encode()).decode()
            if not hmac.compare_digest(rec.headers.get("Authorization", "").encode(), expected.encode()):
                return Reply(401, "Unauthorized\n", {"WWW-Authenticate": 'Basic realm="loki"'})
        tenant = "fake"
        if self.multi_tenant:
            tenant = rec.headers.get("X-Scope-OrgID", "")
            if not tenant:
                return _text(401, "no org id")
        try:
            return self._query(rec.query, tenant)
        except ValueError as exc:
            return _text(400, str(exc))

    def _query(self, params: dict[str, str], tenant: str) -> Reply:
        if "query" not in params:
            raise ValueError("query parameter is required")  # not a ParseError: no position
        query = parse_logql(params["query"])
        self.queries.append(query)
        now = self.now_ns if self.now_ns is not None else int(datetime.now().timestamp() * 1e9)
        end = parse_time(params["end"], "end") if "end" in params else now
        start = parse_time(params["start"], "start") if "start" in params else end - 3600 * 10**9
        if end < start:
            raise ValueError("end timestamp must not be before or equal to start time")
        limit = int(params.get("limit", "100"))
        if limit <= 0:
            raise ValueError("limit must be a positive value")
        if limit > self.max_entries:
            raise ValueError(
                f"max entries limit per query exceeded, limit > max_entries_limit_per_query "
                f"({limit} > {self.max_entries})"
            )
        direction = params.get("direction", "backward")
        if direction not in ("backward", "forward"):
            raise ValueError(f'invalid parameter "direction": invalid direction "{direction}"')
        picked: list[tuple[int, int, str]] = []  # (ns, stream index, line)
        streams = [s for (t, _), s in self._streams.items() if t == tenant]
        for i, s in enumerate(streams):
            if all(m.matches(s.labels) for m in query.matchers):
                for ns, line in s.entries:
                    if start <= ns < end and all(f.keeps(line) for f in query.filters):
                        picked.append((ns, i, line))
        picked.sort(key=lambda e: e[0], reverse=direction == "backward")
        picked = picked[:limit]
        result: dict[int, list[list[str]]] = {}
        for ns, i, line in picked:
            result.setdefault(i, []).append([str(ns), line])
        body: dict[str, Any] = {
            "status": "success",
            "data": {
                "resultType": "streams",
                "result": [{"stream": streams[i].labels, "values": values} for i, values in result.items()],
                "stats": {"summary": {"totalEntriesReturned": len(picked), "execTime": 0.001}},
            },
        }
        return Reply(200, body)


def _text(status: int, message: str) -> Reply:
    return Reply(status, message + "\n", content_type="text/plain")
