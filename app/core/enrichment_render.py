"""Enrichment as each provider shows it: Telegram HTML, Slack blocks, email text and HTML.

The alert list keeps priority: each function is given the room the rendered alert message left
and fits the log lines into it, dropping the oldest lines first (lines are cut when shaped, in
app.core.loglines, before they are escaped, so nothing is ever cut inside a tag or an entity).

No I/O.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from app.core.enrichment import Enrichment, LogSection
from app.core.render import SLACK_SECTION_LIMIT, slack_escape, utf16_len

__all__ = ["log_html", "log_text", "slack_blocks", "telegram_section"]

QUERY_LIMIT = 200
"""Characters of a LogQL query shown above its lines."""


def _query(section: LogSection) -> str:
    q = section.query
    return q if len(q) <= QUERY_LIMIT else q[: QUERY_LIMIT - 1] + "…"


def _fit(sections: Sequence[LogSection], size: Any, room: int) -> list[list[str]] | None:
    """Per section, the lines ("HH:MM:SS text") kept so that `size(kept)` <= room: the oldest
    line of the longest section goes first. None when not even the headers fit."""
    kept = [[f"{x.time} {x.text}" for x in s.lines] for s in sections]
    while size(kept) > room:
        longest = max(range(len(kept)), key=lambda i: len(kept[i]))
        if not kept[longest]:
            return None
        kept[longest].pop(0)
    return kept


def _body(section: LogSection, kept: list[str]) -> str:
    if kept:
        return "\n".join(kept)
    if section.lines:
        return f"({len(section.lines)} lines left out: the message is full)"
    return "(no matching lines)"


def _notes(enrichment: Enrichment) -> list[str]:
    return [f"⚠ {n}" for n in enrichment.notes]


def telegram_section(enrichment: Enrichment, room: int) -> str:
    """HTML to append to a Telegram message: log lines in `<pre>` and notes in `<i>`, at most
    `room` visible characters (UTF-16 units, as Telegram counts); "" when nothing fits."""
    notes = _notes(enrichment)
    notes_len = sum(utf16_len(n) + 1 for n in notes)
    sections = enrichment.logs

    def size(kept: list[list[str]]) -> int:
        total = notes_len
        for section, lines in zip(sections, kept, strict=True):
            total += 2 + utf16_len(f"Logs: {_query(section)}") + 1
            total += utf16_len(_body(section, lines))
        return total

    kept = _fit(sections, size, room)
    if kept is None:
        notes_only = "\n".join(notes)
        return f"\n<i>{html.escape(notes_only, quote=False)}</i>" if notes and notes_len <= room else ""
    parts = []
    for section, lines in zip(sections, kept, strict=True):
        body = _body(section, lines)
        parts.append(
            f"\n\n<b>Logs:</b> <code>{html.escape(_query(section), quote=False)}</code>\n"
            f"<pre>{html.escape(body, quote=False)}</pre>"
        )
    if notes:
        parts.append("\n<i>" + html.escape("\n".join(notes), quote=False) + "</i>")
    return "".join(parts)


def _code(text: str) -> str:
    # A ``` inside a line would close the code block early.
    return slack_escape(text).replace("```", "`\u200b`\u200b`")


def slack_blocks(enrichment: Enrichment, *, blocks: int, chars: int) -> list[dict[str, Any]]:
    """Block Kit blocks for the log lines (one section per query, each within 3000 characters)
    and a context block for the notes, using at most `blocks` blocks and `chars` characters."""
    out: list[dict[str, Any]] = []
    notes = _notes(enrichment)
    if notes and blocks >= 1:
        text = _code(" · ".join(notes))[:SLACK_SECTION_LIMIT]
        if utf16_len(text) <= chars:
            out.append({"type": "context", "elements": [{"type": "mrkdwn", "text": text}]})
            blocks, chars = blocks - 1, chars - utf16_len(text)
    logs: list[dict[str, Any]] = []
    for section in enrichment.logs[: max(0, blocks)]:
        head = f"*Logs:* `{_code(_query(section))}`\n```\n"
        room = min(SLACK_SECTION_LIMIT, chars) - utf16_len(head) - 4

        def size(kept: list[list[str]], section: LogSection = section) -> int:
            return utf16_len(_code(_body(section, kept[0])))

        kept = _fit([section], size, room)
        if kept is None:
            break
        text = head + _code(_body(section, kept[0])) + "\n```"
        logs.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
        chars -= utf16_len(text)
    return logs + out


def log_text(enrichment: Enrichment) -> str:
    """Plain text of the log lines and notes (email text body, file sink)."""
    parts = []
    for section in enrichment.logs:
        lines = [f"{x.time} {x.text}" for x in section.lines] or ["(no matching lines)"]
        parts.append(f"Logs: {_query(section)}\n" + "\n".join(f"  {line}" for line in lines))
    parts += _notes(enrichment)
    return "\n\n".join(parts)


def log_html(enrichment: Enrichment, *, graph_cids: Sequence[str] = ()) -> str:
    """HTML of the log lines, the graphs (inline `cid:` images) and the notes (email)."""
    parts = []
    for section in enrichment.logs:
        body = "\n".join(f"{x.time} {x.text}" for x in section.lines) or "(no matching lines)"
        parts.append(
            f"<h3>Logs</h3><p><code>{html.escape(_query(section))}</code></p>"
            f'<pre style="font-size:12px;background:#f6f8fa;padding:8px">{html.escape(body)}</pre>'
        )
    for graph, cid in zip(enrichment.graphs, graph_cids, strict=False):
        parts.append(
            f'<p><img src="cid:{html.escape(cid)}" alt="{html.escape(graph.caption)}"'
            f' width="{graph.width}" height="{graph.height}">'
            f"<br><small>{html.escape(graph.caption)}</small></p>"
        )
    if enrichment.notes:
        parts.append("".join(f"<p><em>{html.escape(n)}</em></p>" for n in _notes(enrichment)))
    return "\n".join(parts)
