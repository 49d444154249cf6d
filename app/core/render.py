"""Alert groups rendered into provider messages: sandboxed Jinja2 templates, escaping, size limits.

Every template (the defaults in `app/templates/` and the per-receiver overrides) sees:

    group               the Group being delivered
    status              "firing" or "resolved" (the whole group's status)
    alerts              the alerts shown, firing first (a prefix when the message had to be cut)
    firing, resolved    the shown alerts split by status
    more                alerts not shown: cut to fit the provider's size limit, plus those
                        Alertmanager already truncated (`truncatedAlerts`)
    num_firing          firing alerts in the whole group (not only the shown ones)
    num_resolved        resolved alerts in the whole group
    kind                "new" (a new message) or "update" (an edit of / follow-up to one)
    group_labels, common_labels, common_annotations, external_url, receiver
    title               the default title, e.g. "[FIRING:2] ModelLatencyHigh (prod)"
    now                 the render time (a UTC datetime, passed in: rendering reads no clock)

Each alert has `status`, `labels`, `annotations`, `startsAt`, `endsAt`, `generatorURL`,
`fingerprint` and `name` (its alertname). Filters, besides Jinja2's own:

    fmt_time            datetime -> "2024-05-01 12:00:00 UTC" ("" for Go's zero time)
    since               datetime -> how long ago, e.g. "2h 5m" ("" when in the future)
    duration            alert -> how long it has fired (firing) or fired (resolved), "" when
                        the times do not say (see `alert_duration`); also seconds or a
                        timedelta -> "1h 5m"
    summary             alert -> its summary annotation, else its alertname
    status_emoji        alert or status -> 🔥 / ✅
    status_colour       group, alert or status -> hex colour by severity
    key_labels          alert -> [(name, value)] of severity, namespace, deployment, pod, instance
    alert_links         alert -> [(name, url)]: source, runbook, dashboard, silence
    silence_url         alert -> Alertmanager's "new silence" page prefilled with its labels
    slack_escape        text -> Slack mrkdwn-safe text (&, <, > as entities)
    slack_url           url -> safe inside a Slack `<url|text>` link

HTML templates (Telegram, email HTML) are autoescaped; plain text, Slack and headers are not.
Templates see every label, annotation and name cleaned of control characters and cut (see
`bounded`), so no value can push a message past a provider's limit; links too long to show
whole are left out.
Label and annotation lookups of missing keys render as empty strings; unknown top-level names are
rejected by `compile_template`, so a typo fails at config load rather than at 3 a.m.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from importlib import resources
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from jinja2 import Template, TemplateSyntaxError, meta, pass_context
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from app.core.models import ZERO_TIME, Alert, Group
from app.core.sanitize import (
    REPLACEMENT,
    all_clean_lines,
    all_clean_texts,
    clean_line,
    clean_text,
    is_clean_line,
)

RenderKind = Literal["new", "update"]

TELEGRAM_LIMIT = 4096
"""Characters of message text after entity parsing, counted in UTF-16 code units (Bot API,
sendMessage / editMessageText: "1-4096 characters after entities parsing")."""
TELEGRAM_HTML_LIMIT = 32 * 1024
"""UTF-8 bytes of the HTML we send (tags and link URLs included). Telegram's own bound on the
request is the Bot API server's 1 MiB of form parameters (tdlib tdnet/td/net/HttpReader.h,
MAX_TOTAL_PARAMETERS_LENGTH); form encoding can triple the bytes, so 32 KiB stays far below it
while leaving room for dozens of links next to 4096 visible characters."""
SLACK_HEADER_LIMIT = 150
"""Block Kit header block: plain_text of at most 150 characters."""
SLACK_SECTION_LIMIT = 3000
"""Block Kit section (and context element) text: at most 3000 characters."""
SLACK_BLOCK_LIMIT = 50
"""Blocks in one message."""
SLACK_BLOCKS_TEXT_LIMIT = 10_000
"""Characters of text over all blocks together. Slack refuses more with `msg_blocks_too_long`
(undocumented; a Slack engineer put it at about 12,000 characters including block containers,
slackapi/bolt-js#2509, and #2867 saw a refusal at 11,341): 10,000 keeps a margin."""
SLACK_TEXT_LIMIT = 4000
"""The top-level `text` (notification fallback): chat.postMessage asks for at most 4,000
characters and truncates past 40,000."""
EMAIL_SUBJECT_LIMIT = 255
"""Characters of a subject. RFC 5322 caps a header line at 998 octets (folding allows more), but
no mail client shows more than the first hundred or so."""
EMAIL_HEADER_LIMIT = 998
"""RFC 5322 2.1.1: a line, here `Name: value`, is at most 998 characters."""
EMAIL_BODY_LIMIT = 1 << 20
"""UTF-8 bytes of each body (text and HTML); two of them, encoded, stay well under the 10 MB
default message size limit of Postfix (`message_size_limit`) and most providers' 20-25 MB."""
EMAIL_MAX_ALERTS = 500
"""Alerts listed in one email; the rest are counted in `more` (nobody reads further)."""
URL_LIMIT = 2048
"""Characters of a link we show (source, runbook, dashboard, silence). Longer links are left out,
never cut (a cut URL is a broken one); 2048 is the de facto safe URL length (sitemaps.org,
browsers' address bars) and fits a Slack section many times."""
LABEL_LIMIT = 1024
"""Characters of a label value shown (on one line, control characters replaced)."""
ANNOTATION_LIMIT = 4096
"""Characters of an annotation value shown (newlines and tabs kept)."""
NAME_LIMIT = 256
"""Characters of a label or annotation name, and of the receiver name."""

SEVERITY_COLOURS = {"critical": "#E01E5A", "warning": "#ECB22E", "info": "#36C5F0"}
RESOLVED_COLOUR = "#2EB67D"
_SEVERITY_ALIASES = {
    "critical": "critical",
    "page": "critical",
    "error": "critical",
    "high": "critical",
    "warning": "warning",
    "warn": "warning",
    "medium": "warning",
    "info": "info",
    "informational": "info",
    "low": "info",
    "none": "info",
    "debug": "info",
}
_SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}

KEY_LABELS = ("severity", "namespace", "deployment", "pod", "instance")
"""Labels each alert shows in the default templates, in this order."""

CONTEXT_NAMES = frozenset(
    {
        "group",
        "status",
        "alerts",
        "firing",
        "resolved",
        "more",
        "num_firing",
        "num_resolved",
        "kind",
        "group_labels",
        "common_labels",
        "common_annotations",
        "external_url",
        "receiver",
        "title",
        "now",
    }
)


# --- small pure helpers ---------------------------------------------------------------------


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, as Telegram counts (an emoji outside the BMP counts 2)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def cut_utf16(text: str, limit: int) -> str:
    """The longest prefix of `text` of at most `limit` UTF-16 units (never half a pair)."""
    if utf16_len(text) <= limit:
        return text
    units = 0
    for i, ch in enumerate(text):
        width = 2 if ord(ch) > 0xFFFF else 1
        if units + width > limit:
            return text[:i]
        units += width
    return text


def _ellipsize(text: str, limit: int) -> str:
    if utf16_len(text) <= limit:
        return text
    return cut_utf16(text, limit - 1).rstrip() + "…"


def slack_escape(value: Any) -> str:
    """Text made literal in Slack mrkdwn: `&`, `<`, `>` as the three entities Slack decodes."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_url(value: Any) -> str:
    """A URL safe inside a Slack `<url|text>` link."""
    return slack_escape(value).replace("|", "%7C")


def _is_http(url: Any) -> bool:
    if not isinstance(url, str) or not url:
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _escaped_len(url: str) -> int:
    """Length of `url` escaped for HTML or Slack at worst (`&` -> `&amp;`, `|` -> `%7C`, ...)."""
    return len(url) + 4 * sum(url.count(c) for c in "&<>\"'|")


def _usable_url(url: Any) -> bool:
    """An http(s) URL short enough to show whole, also once escaped, with nothing a reader
    could not click."""
    return (
        isinstance(url, str)
        and is_clean_line(url, URL_LIMIT)
        and _escaped_len(url) <= URL_LIMIT
        and " " not in url
        and REPLACEMENT not in url
        and _is_http(url)
    )


def _go_quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


SILENCE_PREFIX = 64
"""Characters of an over-long label value a silence link still matches on (as a regex prefix)."""


def silence_url(external_url: str, labels: Mapping[str, str]) -> str:
    """Alertmanager's "new silence" page with a filter matching exactly these labels.

    When that link would be longer than URL_LIMIT, the longest values are matched by their first
    SILENCE_PREFIX characters (`name=~"prefix.*"`, RE2-escaped) instead, one at a time, so the
    form still opens prefilled for a label of 500 KB; "" when even that does not fit.
    """
    base = f"{external_url.rstrip('/')}/#/silences/new?filter="
    names = sorted(labels)
    parts = {name: quote(f"{name}={_go_quote(labels[name])}", safe="") for name in names}

    def url() -> str:
        return base + quote("{", safe="") + quote(",", safe="").join(parts[n] for n in names) + quote("}")

    size = len(base) + 6 + 3 * max(0, len(names) - 1) + sum(len(p) for p in parts.values())
    for name in sorted(names, key=lambda n: len(labels[n]), reverse=True):
        if size <= URL_LIMIT or len(labels[name]) <= SILENCE_PREFIX:
            break
        prefix = re.escape(labels[name][:SILENCE_PREFIX]) + ".*"
        size -= len(parts[name])
        parts[name] = quote(f"{name}=~{_go_quote(prefix)}", safe="")
        size += len(parts[name])
    return url() if size <= URL_LIMIT else ""


def humanize(delta: timedelta) -> str:
    """A duration as its two largest units: "45s", "5m 3s", "2h 5m", "3d 4h"."""
    seconds = max(0, int(delta.total_seconds()))
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts[:2])


def _severity(labels: Mapping[str, str]) -> str | None:
    return _SEVERITY_ALIASES.get(labels.get("severity", "").strip().lower())


def group_severity(group: Group) -> str:
    """`critical`, `warning` or `info`: the group's common severity, else its most severe firing
    alert's (an unknown severity still demands attention: warning, not info)."""
    severity = _severity(group.commonLabels)
    if severity is None:
        known = [s for s in (_severity(a.labels) for a in group.firing) if s is not None]
        severity = max(known, key=_SEVERITY_RANK.__getitem__) if known else "warning"
    return severity


def severity_rank(severity: str) -> int:
    """2 for critical, 1 for warning, 0 for info."""
    return _SEVERITY_RANK[severity]


def group_colour(group: Group) -> str:
    """Attachment colour: green when resolved, else by the most severe firing alert."""
    if group.status == "resolved" or not group.firing:
        return RESOLVED_COLOUR
    return SEVERITY_COLOURS[group_severity(group)]


def default_title(group: Group) -> str:
    """`[FIRING:2] ModelLatencyHigh (prod)` / `[RESOLVED] ModelLatencyHigh (prod)`."""
    head = f"[FIRING:{len(group.firing)}]" if group.status == "firing" else "[RESOLVED]"
    name = group.groupLabels.get("alertname") or group.commonLabels.get("alertname")
    if not name:
        names = list(dict.fromkeys(a.name for a in group.alerts if a.name))
        if names:
            name = ", ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")
        else:
            name = " ".join(group.groupLabels.values()) or "alerts"
    namespace = group.commonLabels.get("namespace") or group.groupLabels.get("namespace")
    return f"{head} {name}" + (f" ({namespace})" if namespace else "")


def _ordered(group: Group) -> list[Alert]:
    return group.firing + group.resolved


# --- Jinja2 ---------------------------------------------------------------------------------


def _fmt_time(value: Any, fmt: str = "%Y-%m-%d %H:%M:%S UTC") -> str:
    if not isinstance(value, datetime):
        return "" if value is None else str(value)
    if value <= ZERO_TIME:
        return ""
    return value.astimezone(UTC).strftime(fmt)


@pass_context
def _since(ctx: Context, value: Any) -> str:
    if not isinstance(value, datetime) or value <= ZERO_TIME:
        return ""
    now: datetime = ctx["now"]
    return humanize(now - value) if value <= now else ""


def alert_duration(alert: Alert, *, now: datetime) -> timedelta | None:
    """How long a firing alert has fired until `now`, or a resolved one fired; None when the
    times do not say (no start, a start after `now`, or an end before the start: clock skew
    between Prometheus servers, and "lasted 1d 5h" would be a lie)."""
    if alert.startsAt <= ZERO_TIME:
        return None
    end = now if alert.status == "firing" else alert.endsAt
    if end <= ZERO_TIME or end < alert.startsAt:
        return None
    return end - alert.startsAt


@pass_context
def _duration(ctx: Context, value: Any) -> str:
    if isinstance(value, Alert):
        delta = alert_duration(value, now=ctx["now"])
        return "" if delta is None else humanize(delta)
    if isinstance(value, timedelta):
        return humanize(value)
    if isinstance(value, int | float):
        return humanize(timedelta(seconds=value))
    return ""


def _summary(alert: Any) -> str:
    if not isinstance(alert, Alert):
        return str(alert)
    return alert.annotations.get("summary") or alert.name or "alert"


def _status_of(value: Any) -> str:
    if isinstance(value, Alert | Group):
        return value.status
    return str(value)


def _status_emoji(value: Any) -> str:
    return "✅" if _status_of(value) == "resolved" else "🔥"


def _status_colour(value: Any) -> str:
    if isinstance(value, Group):
        return group_colour(value)
    if isinstance(value, Alert) and value.status == "firing":
        return SEVERITY_COLOURS[_severity(value.labels) or "warning"]
    return RESOLVED_COLOUR if _status_of(value) == "resolved" else SEVERITY_COLOURS["warning"]


def _key_labels(alert: Any) -> list[tuple[str, str]]:
    if not isinstance(alert, Alert):
        return []
    return [(name, alert.labels[name]) for name in KEY_LABELS if alert.labels.get(name)]


def _original(ctx: Context, alert: Alert) -> Alert:
    """The alert as received (its labels uncut), for the silence link that must match it."""
    originals: Mapping[int, Alert] = ctx.get("_originals") or {}
    return originals.get(id(alert), alert)


@pass_context
def _silence_url(ctx: Context, alert: Any) -> str:
    external = ctx.get("external_url")
    if not isinstance(alert, Alert) or not _usable_url(external):
        return ""
    return silence_url(external, _original(ctx, alert).labels)


@pass_context
def _alert_links(ctx: Context, alert: Any) -> list[tuple[str, str]]:
    if not isinstance(alert, Alert):
        return []
    links = []
    if _usable_url(alert.generatorURL):
        links.append(("source", alert.generatorURL))
    for key, name in (("runbook_url", "runbook"), ("dashboard_url", "dashboard")):
        url = alert.annotations.get(key)
        if _usable_url(url):
            links.append((name, str(url)))
    if alert.status == "firing":
        url = _silence_url(ctx, alert)
        if url:
            links.append(("silence", url))
    return links


_FILTERS: dict[str, Callable[..., Any]] = {
    "fmt_time": _fmt_time,
    "since": _since,
    "duration": _duration,
    "summary": _summary,
    "status_emoji": _status_emoji,
    "status_colour": _status_colour,
    "key_labels": _key_labels,
    "alert_links": _alert_links,
    "silence_url": _silence_url,
    "slack_escape": slack_escape,
    "slack_url": slack_url,
}


def _environment(*, html: bool) -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(autoescape=html, keep_trailing_newline=False)
    env.filters.update(_FILTERS)
    return env


_HTML_ENV = _environment(html=True)
_TEXT_ENV = _environment(html=False)


def compile_template(source: str, *, html: bool) -> Template:
    """A user template, compiled in the sandbox. Raises ValueError on a syntax error, an unknown
    filter, or a variable that is not in the context (see the module docstring)."""
    env = _HTML_ENV if html else _TEXT_ENV
    try:
        ast = env.parse(source)
        unknown = meta.find_undeclared_variables(ast) - CONTEXT_NAMES - set(env.globals)
        if unknown:
            raise ValueError(
                f"unknown template variable(s) {', '.join(sorted(unknown))}; "
                f"available: {', '.join(sorted(CONTEXT_NAMES))}"
            )
        return env.from_string(source)
    except TemplateSyntaxError as exc:
        raise ValueError(f"template error on line {exc.lineno}: {exc.message}") from None


def _default(name: str, *, html: bool) -> Template:
    source = resources.files("app").joinpath("templates", name).read_text(encoding="utf-8")
    return (_HTML_ENV if html else _TEXT_ENV).from_string(source)


_TELEGRAM = _default("telegram.html.j2", html=True)
_SLACK_ALERT = _default("slack_alert.mrkdwn.j2", html=False)
_EMAIL_TEXT = _default("email.txt.j2", html=False)
_EMAIL_HTML = _default("email.html.j2", html=True)


def _clean_labels(labels: Mapping[str, str]) -> dict[str, str] | None:
    """Labels as shown (one line each, cut), or None when they are already fine."""
    if all_clean_lines(labels.keys(), NAME_LIMIT) and all_clean_lines(labels.values(), LABEL_LIMIT):
        return None
    return {clean_line(k, NAME_LIMIT): clean_line(v, LABEL_LIMIT) for k, v in labels.items()}


def _clean_annotations(annotations: Mapping[str, str]) -> dict[str, str] | None:
    """Annotations as shown (lines kept, cut), or None when they are already fine."""
    if all_clean_lines(annotations.keys(), NAME_LIMIT) and all_clean_texts(
        annotations.values(), ANNOTATION_LIMIT
    ):
        return None
    return {clean_line(k, NAME_LIMIT): clean_text(v, ANNOTATION_LIMIT) for k, v in annotations.items()}


def _bounded_alert(alert: Alert) -> Alert:
    update: dict[str, Any] = {}
    labels = _clean_labels(alert.labels)
    if labels is not None:
        update["labels"] = labels
    annotations = _clean_annotations(alert.annotations)
    if annotations is not None:
        update["annotations"] = annotations
    if alert.generatorURL and not _usable_url(alert.generatorURL):
        update["generatorURL"] = ""
    return alert.model_copy(update=update) if update else alert


def _all_clean(alerts: Sequence[Alert]) -> bool:
    """True when `_bounded_alert` would change none of `alerts` (checked in a few C-speed scans;
    a group of 10,000 alerts is rendered often)."""
    names = [k for a in alerts for k in a.labels] + [k for a in alerts for k in a.annotations]
    return (
        all_clean_lines(names, NAME_LIMIT)
        and all_clean_lines([v for a in alerts for v in a.labels.values()], LABEL_LIMIT)
        and all_clean_texts([v for a in alerts for v in a.annotations.values()], ANNOTATION_LIMIT)
        and all(_usable_url(url) for url in {a.generatorURL for a in alerts} if url)
    )


def bounded(group: Group) -> tuple[Group, dict[int, Alert]]:
    """The group as every template sees it: each label, annotation, name and URL cleaned of
    control characters and cut (links too long to show dropped), so no value can blow a
    provider's limit. Also the originals of the alerts that changed, by `id()` of the copy.
    Alerts that need nothing are not copied, and the usual case (nothing to change) costs one
    scan over all of them at once."""
    originals: dict[int, Alert] = {}
    alerts: list[Alert] = []
    if not _all_clean(group.alerts):
        for alert in group.alerts:
            shown = _bounded_alert(alert)
            if shown is not alert:
                originals[id(shown)] = alert
            alerts.append(shown)
    update: dict[str, Any] = {"alerts": alerts} if originals else {}
    for field in ("groupLabels", "commonLabels"):
        labels = _clean_labels(getattr(group, field))
        if labels is not None:
            update[field] = labels
    annotations = _clean_annotations(group.commonAnnotations)
    if annotations is not None:
        update["commonAnnotations"] = annotations
    if not is_clean_line(group.receiver, NAME_LIMIT):
        update["receiver"] = clean_line(group.receiver, NAME_LIMIT)
    if not is_clean_line(group.groupKey, URL_LIMIT):
        update["groupKey"] = clean_line(group.groupKey, URL_LIMIT)
    if group.externalURL and not _usable_url(group.externalURL):
        update["externalURL"] = ""
    return (group.model_copy(update=update) if update else group), originals


def _context(
    group: Group,
    *,
    kind: RenderKind,
    shown: Sequence[Alert],
    more: int,
    now: datetime,
    originals: Mapping[int, Alert],
) -> dict[str, Any]:
    return {
        "group": group,
        "status": group.status,
        "alerts": list(shown),
        "firing": [a for a in shown if a.status == "firing"],
        "resolved": [a for a in shown if a.status == "resolved"],
        "more": more,
        "num_firing": len(group.firing),
        "num_resolved": len(group.resolved),
        "kind": kind,
        "group_labels": group.groupLabels,
        "common_labels": group.commonLabels,
        "common_annotations": group.commonAnnotations,
        "external_url": group.externalURL,
        "receiver": group.receiver,
        "title": default_title(group),
        "now": now,
        "_originals": originals,
    }


def _error(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def _largest_fitting(n: int, fits: Callable[[int], bool]) -> int | None:
    """The largest k in 0..n with fits(k), assuming fits is (mostly) monotonic; None if none.

    Gallops up (1, 2, 4, ...) and then bisects, so the cost follows what fits, not n: a group of
    thousands of alerts is never rendered whole for a 4096-character message. The answer is
    always a k that was checked, so a non-monotonic `fits` cannot overflow.
    """
    lo, hi, k = 0, n + 1, 1
    while k <= n:
        if not fits(k):
            hi = k
            break
        lo, k = k, (n if k < n < 2 * k else 2 * k)
    if lo == 0 and not fits(0):
        return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    return lo


# --- Telegram -------------------------------------------------------------------------------


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def telegram_plain(text_html: str) -> str:
    """The text Telegram would show for this HTML: tags stripped, entities unescaped."""
    parser = _TextOnly()
    parser.feed(text_html)
    parser.close()
    return "".join(parser.parts)


def telegram_length(text_html: str) -> int:
    """Length of an HTML-mode message as Telegram checks it against 4096."""
    return utf16_len(telegram_plain(text_html))


@dataclass(frozen=True)
class TelegramText:
    text: str
    parse_mode: Literal["HTML"] | None
    """None: the HTML could not fit even without alerts; `text` is plain and must be sent so."""
    shown: int
    more: int
    template_error: str | None = None
    """Why the configured template was not used (the default was rendered instead)."""


def _fit_telegram(
    template: Template,
    group: Group,
    *,
    kind: RenderKind,
    now: datetime,
    limit: int,
    originals: Mapping[int, Alert],
) -> TelegramText:
    ordered = _ordered(group)
    n = len(ordered)
    cache: dict[int, str] = {}

    def render(k: int) -> str:
        if k not in cache:
            more = n - k + group.truncatedAlerts
            ctx = _context(group, kind=kind, shown=ordered[:k], more=more, now=now, originals=originals)
            cache[k] = template.render(ctx).strip()
        return cache[k]

    def fits(k: int) -> bool:
        html = render(k)
        # The raw HTML first: cheap, and it keeps the parse below from ever seeing a huge text.
        return len(html.encode()) <= TELEGRAM_HTML_LIMIT and telegram_length(html) <= limit

    k = _largest_fitting(n, fits)
    if k is not None and (k > 0 or n == 0):
        if not telegram_plain(render(k)).strip():
            raise ValueError("the template rendered an empty message")
        return TelegramText(render(k), "HTML", k, n - k + group.truncatedAlerts)
    # Not even one alert fits as HTML (a huge label or annotation): hard-cut the plain text
    # of the message with the first alert, and say how many are not shown.
    shown = min(1, n)
    more = n - shown + group.truncatedAlerts
    tail = f"\n\n… and {more} more" if more else ""
    plain = telegram_plain(render(shown)).strip()
    if not plain:
        raise ValueError("the template rendered an empty message")
    text = _ellipsize(plain, limit - utf16_len(tail)) + tail
    return TelegramText(text, None, shown, more)


def render_telegram(
    group: Group,
    *,
    kind: RenderKind = "new",
    template: Template | None = None,
    now: datetime,
    limit: int = TELEGRAM_LIMIT,
) -> TelegramText:
    """The message for Telegram's HTML parse mode, at most `limit` visible UTF-16 units and
    TELEGRAM_HTML_LIMIT bytes of HTML (links included). `now` is the render time.

    Alerts are shown firing first; the largest prefix that fits is kept and the template is told
    how many it left out (`more`). A failing or empty custom template falls back to the default.
    Values are cut before they are escaped, so the HTML is never cut inside a tag or entity.
    """
    group, originals = bounded(group)
    if template is not None:
        try:
            return _fit_telegram(template, group, kind=kind, now=now, limit=limit, originals=originals)
        except Exception as exc:  # any template failure falls back to the default
            error = _error(exc)
        result = _fit_telegram(_TELEGRAM, group, kind=kind, now=now, limit=limit, originals=originals)
        return TelegramText(result.text, result.parse_mode, result.shown, result.more, error)
    return _fit_telegram(_TELEGRAM, group, kind=kind, now=now, limit=limit, originals=originals)


# --- Slack ----------------------------------------------------------------------------------


def _mrkdwn_cut(text: str, limit: int) -> int:
    """Where to cut an over-long mrkdwn line: not inside a `<link|text>` or an `&entity;`."""
    cut = len(cut_utf16(text, limit))
    head = text[:cut]
    opened = head.rfind("<")
    if opened > head.rfind(">") and opened > 0:
        cut = opened
    amp = text.rfind("&", 0, cut)
    if amp > 0 and amp > text.rfind(";", 0, cut) and cut - amp < 10:
        cut = amp
    return max(cut, 1)


def split_mrkdwn(text: str, limit: int = SLACK_SECTION_LIMIT) -> list[str]:
    """Text as section-sized chunks, cut on line boundaries where a line allows it."""
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        while utf16_len(line) > limit:
            if current.strip():
                chunks.append(current)
            current = ""
            cut = _mrkdwn_cut(line, limit)
            chunks.append(line[:cut])
            line = line[cut:]
        candidate = f"{current}\n{line}" if current else line
        if utf16_len(candidate) <= limit:
            current = candidate
        else:
            if current.strip():
                chunks.append(current)
            current = line
    if current.strip():
        chunks.append(current)
    return [c.strip("\n") for c in chunks if c.strip()]


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


@dataclass(frozen=True)
class SlackMessage:
    text: str
    """Fallback text (notifications, clients without Block Kit): the title."""
    attachments: list[dict[str, Any]]
    shown: int
    more: int
    template_error: str | None = None

    def payload(self) -> dict[str, Any]:
        """The JSON body for chat.postMessage / chat.update / an incoming webhook."""
        return {"text": self.text, "attachments": self.attachments}


def _slack_blocks(
    group: Group,
    *,
    kind: RenderKind,
    now: datetime,
    title: Template | None,
    text: Template | None,
    originals: Mapping[int, Alert],
) -> SlackMessage:
    ordered = _ordered(group)
    n = len(ordered)

    def context_for(k: int) -> dict[str, Any]:
        more = n - k + group.truncatedAlerts
        return _context(group, kind=kind, shown=ordered[:k], more=more, now=now, originals=originals)

    base = context_for(n)
    if title is not None:
        heading = clean_line(" ".join(title.render(base).split()), SLACK_TEXT_LIMIT)
        if not heading:
            raise ValueError("the title template rendered an empty title")
    else:
        heading = clean_line(f"{_status_emoji(group)} {base['title']}", SLACK_TEXT_LIMIT)
    context_parts = [f"{len(group.firing)} firing, {len(group.resolved)} resolved"]
    if group.receiver:
        context_parts.append(f"receiver {slack_escape(group.receiver)}")
    if _usable_url(group.externalURL):
        context_parts.append(f"<{slack_url(group.externalURL)}|Alertmanager>")
    context_text = " · ".join(context_parts)
    if utf16_len(context_text) > SLACK_SECTION_LIMIT:  # a long receiver name and a long URL
        context_text = " · ".join(context_parts[:2])
    context = {"type": "context", "elements": [{"type": "mrkdwn", "text": context_text}]}
    header_text = _ellipsize(heading, SLACK_HEADER_LIMIT)
    header = {"type": "header", "text": {"type": "plain_text", "text": header_text, "emoji": True}}
    room = SLACK_BLOCK_LIMIT - 2
    budget = SLACK_BLOCKS_TEXT_LIMIT - utf16_len(header_text) - utf16_len(context_text)
    cache: dict[int, list[str]] = {}

    def sections(k: int) -> list[str]:
        if k not in cache:
            ctx = context_for(k)
            if text is not None:
                cache[k] = split_mrkdwn(text.render(ctx).strip())
            else:
                out: list[str] = []
                for alert in ordered[:k]:
                    out += split_mrkdwn(_SLACK_ALERT.render({**ctx, "alert": alert}).strip())
                if ctx["more"]:
                    out.append(f"… and {ctx['more']} more")
                cache[k] = out
        return cache[k]

    def fits(k: int) -> bool:
        chunks = sections(k)
        return len(chunks) <= room and sum(utf16_len(c) for c in chunks) <= budget

    k = _largest_fitting(n, fits)
    if k is not None and (k > 0 or n == 0):
        chosen = sections(k)
    else:
        k = min(1, n)
        marker = "… (truncated)"
        chosen, spent = [], utf16_len(marker)
        for chunk in sections(k)[: room - 1]:
            spent += utf16_len(chunk)
            if spent > budget:
                break
            chosen.append(chunk)
        chosen.append(marker)
    if text is not None and not chosen:
        raise ValueError("the text template rendered an empty message")
    blocks = [header, *(_section(s) for s in chosen), context]
    attachment = {"color": group_colour(group), "blocks": blocks}
    return SlackMessage(heading, [attachment], k, n - k + group.truncatedAlerts)


def render_slack(
    group: Group,
    *,
    kind: RenderKind = "new",
    title: Template | None = None,
    text: Template | None = None,
    now: datetime,
) -> SlackMessage:
    """A Block Kit message: a coloured attachment with a header, sections and a context line.
    `now` is the render time.

    By default each alert is one section (split on line boundaries past 3000 characters); a
    custom `text` template renders the whole body, which is split into sections likewise. At
    most 50 blocks and SLACK_BLOCKS_TEXT_LIMIT characters in all: the alerts that do not fit
    are left out and counted (`more`). The fallback `text` is at most SLACK_TEXT_LIMIT.
    """
    group, originals = bounded(group)
    if title is None and text is None:
        return _slack_blocks(group, kind=kind, now=now, title=None, text=None, originals=originals)
    try:
        return _slack_blocks(group, kind=kind, now=now, title=title, text=text, originals=originals)
    except Exception as exc:  # any template failure falls back to the default
        error = _error(exc)
    result = _slack_blocks(group, kind=kind, now=now, title=None, text=None, originals=originals)
    return SlackMessage(result.text, result.attachments, result.shown, result.more, error)


# --- email ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EmailContent:
    subject: str
    text: str
    html: str
    headers: dict[str, str]
    """The configured extra headers (rendered; `Subject` excluded: it is `subject`)."""
    template_error: str | None = None


def _one_line(text: str, limit: int) -> str:
    return clean_line(" ".join(text.split()), limit)


def render_email(
    group: Group,
    *,
    kind: RenderKind = "new",
    text: Template | None = None,
    html: Template | None = None,
    headers: Mapping[str, Template] | None = None,
    now: datetime,
) -> EmailContent:
    """Subject, plain-text and HTML bodies; `now` is the render time. Header values are
    templates too (`Subject` among them, matched case-insensitively), folded onto one line so
    they cannot inject headers, and cut so `Name: value` fits a 998-character line (the subject
    to EMAIL_SUBJECT_LIMIT). Each body is at most EMAIL_BODY_LIMIT bytes: the alerts that do not
    fit are counted in `more`; a custom body template too big even without alerts falls back
    to the default."""
    group, originals = bounded(group)
    ordered = _ordered(group)
    n = min(len(ordered), EMAIL_MAX_ALERTS)

    def context_for(k: int) -> dict[str, Any]:
        more = len(ordered) - k + group.truncatedAlerts
        return _context(group, kind=kind, shown=ordered[:k], more=more, now=now, originals=originals)

    def render(
        template: Template | None, default: Template | None, what: str, ctx: dict[str, Any], errors: list[str]
    ) -> str:
        if template is not None:
            try:
                out = template.render(ctx).strip()
                if out:
                    return out
                errors.append(f"{what}: rendered empty")
            except Exception as exc:  # any template failure falls back
                errors.append(f"{what}: {_error(exc)}")
        return default.render(ctx).strip() if default is not None else ""

    cache: dict[tuple[int, bool], tuple[str, str, list[str]]] = {}

    def bodies(k: int) -> tuple[str, str, list[str]]:
        key = (k, text is None and html is None)
        if key not in cache:
            ctx = context_for(k)
            errs: list[str] = []
            cache[key] = (
                render(text, _EMAIL_TEXT, "text", ctx, errs),
                render(html, _EMAIL_HTML, "html", ctx, errs),
                errs,
            )
        return cache[key]

    def fits(k: int) -> bool:
        body_text, body_html, _ = bodies(k)
        return len(body_text.encode()) < EMAIL_BODY_LIMIT and len(body_html.encode()) < EMAIL_BODY_LIMIT

    errors: list[str] = []
    k = n if fits(n) else _largest_fitting(n, fits)
    if k is None:  # a custom body is too big on its own: the defaults always fit some alerts
        errors.append(f"body over {EMAIL_BODY_LIMIT} bytes")
        text = html = None
        k = _largest_fitting(n, fits) or 0
    ctx = context_for(k)
    body_text, body_html, body_errors = bodies(k)
    errors += body_errors
    subject = str(ctx["title"])
    extra: dict[str, str] = {}
    for name, template in (headers or {}).items():
        if name.lower() == "subject":
            subject = (
                _one_line(render(template, None, "Subject", ctx, errors), EMAIL_SUBJECT_LIMIT) or subject
            )
        else:
            value = _one_line(render(template, None, name, ctx, errors), EMAIL_HEADER_LIMIT - len(name) - 2)
            if value:
                extra[name] = value
    return EmailContent(
        subject=_one_line(subject, EMAIL_SUBJECT_LIMIT),
        text=body_text + "\n",
        html=body_html + "\n",
        headers=extra,
        template_error="; ".join(errors) or None,
    )
