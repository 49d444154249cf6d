"""The console's templates (app/templates/console, autoescaped) and the formatting they share."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

TEMPLATES = Path(__file__).resolve().parent.parent.parent / "templates" / "console"

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

SEVERITY_CLASS = {"critical": "crit", "error": "crit", "high": "crit", "warning": "warn", "info": "info"}


def utc(ts: float | None) -> str:
    """`2026-11-25 19:28:48 UTC`; `—` for none."""
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def span(seconds: float) -> str:
    """A duration the way an SRE reads it: `45s`, `4m12s`, `3h05m`, `2d4h`."""
    s = int(max(0.0, seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600}h"


def severity_class(severity: str | None) -> str:
    return SEVERITY_CLASS.get((severity or "").lower(), "none")


_ENV.filters.update(utc=utc, span=span, severity_class=severity_class)


def render(request: web.Request, template: str, *, status: int = 200, **context: Any) -> web.Response:
    """The page `template` with `context`; never cached (it shows live state)."""
    body = _ENV.get_template(template).render(path=request.path, **context)
    return web.Response(
        text=body,
        status=status,
        content_type="text/html",
        headers={
            "Cache-Control": "no-store",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "same-origin",
            # No script, no external anything: inline styles and our own images only.
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self';"
            " form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        },
    )
