"""Query templates (LogQL for Loki, PromQL for graphs) rendered over one alert, injection-safe.

A template is Jinja2 in a sandbox and sees `labels` and `annotations` of the alert. Every value
it can reach is already escaped for a double-quoted LogQL/PromQL string literal (both follow Go's
string syntax), so a label value such as ``x"} |= "y`` stays inside the quotes the template put
around it and cannot change the query's selector or pipeline. Write the placeholders inside
double quotes: a placeholder outside them, or inside a raw (backtick) string where nothing can be
escaped, is refused at load (backtick strings without placeholders, e.g. for regexes, are fine).

No I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from jinja2 import Template, TemplateError, TemplateSyntaxError, Undefined, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from app.core.models import Alert

__all__ = ["QueryTemplate", "escape_string"]

NAMES = frozenset({"labels", "annotations"})

_SIMPLE = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_string(value: str) -> str:
    """`value` as the inside of a Go double-quoted string: backslash, quote and every control
    character escaped, so it reads back as exactly `value` and never ends the literal."""
    out = []
    for ch in value:
        if ch in _SIMPLE:
            out.append(_SIMPLE[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F or 0xD800 <= ord(ch) <= 0xDFFF:
            out.append(f"\\u{ord(ch) if ord(ch) < 0xD800 else 0xFFFD:04x}")
        else:
            out.append(ch)
    return "".join(out)


class _Lenient(Undefined):
    """A missing label renders as the empty string, as a missing label matches `=""`."""


class _Escaped(dict[str, str]):
    """Label values escaped for a string literal; a missing key is the empty string."""

    def __missing__(self, key: str) -> str:
        return ""


_ENV = ImmutableSandboxedEnvironment(autoescape=False, undefined=_Lenient, keep_trailing_newline=False)


@dataclass(frozen=True)
class QueryTemplate:
    """A compiled query template; `render(alert)` gives the query text."""

    source: str
    template: Template = field(repr=False, compare=False)

    @classmethod
    def compile(cls, source: str) -> QueryTemplate:
        """Raises ValueError on a syntax error, an unknown variable or a placeholder that is
        not inside a double-quoted string."""
        if not source.strip():
            raise ValueError("the query is empty")
        if _misplaced_placeholder(source):
            raise ValueError(
                'put every {{ ... }} inside a double-quoted string ("..."): label values are '
                "escaped for those, and cannot be made safe anywhere else"
            )
        try:
            unknown = meta.find_undeclared_variables(_ENV.parse(source)) - NAMES
            template = _ENV.from_string(source)
        except TemplateSyntaxError as exc:
            raise ValueError(f"template error on line {exc.lineno}: {exc.message}") from None
        if unknown:
            raise ValueError(
                f"unknown template variable(s) {', '.join(sorted(unknown))}; available: labels, annotations"
            )
        return cls(source, template)

    def render(self, alert: Alert) -> str:
        return self.render_with(alert.labels, alert.annotations)

    def render_with(self, labels: Mapping[str, str], annotations: Mapping[str, str]) -> str:
        """Raises ValueError when the template fails (e.g. the sandbox refuses an access)."""
        try:
            return self.template.render(
                labels=_Escaped({k: escape_string(v) for k, v in labels.items()}),
                annotations=_Escaped({k: escape_string(v) for k, v in annotations.items()}),
            ).strip()
        except TemplateError as exc:
            raise ValueError(f"query template failed: {exc.message or type(exc).__name__}") from None


def _misplaced_placeholder(source: str) -> bool:
    """Whether a `{{ ... }}` outputs text outside a double-quoted string of the query."""
    state = ""  # "" outside strings, '"' in a double-quoted string, "`" in a raw one
    i = 0
    while i < len(source):
        if source.startswith(("{{", "{%", "{#"), i):
            if source.startswith("{{", i) and state != '"':
                return True
            close = {"{{": "}}", "{%": "%}", "{#": "#}"}[source[i : i + 2]]
            end = source.find(close, i + 2)
            i = len(source) if end < 0 else end + 2
            continue
        ch = source[i]
        if state == '"' and ch == "\\":
            i += 2
            continue
        if state == "" and ch in '"`':
            state = ch
        elif ch == state:
            state = ""
        i += 1
    return False
