"""The route tree as text, in the format of ``amtool config routes show`` (Alertmanager 0.25).

One line per node, depth-first in YAML order, drawn like amtool's tree printer: the node's
matchers sorted as Alertmanager sorts them (by name, value, then operator) or
``default-route`` when it has none, ``continue: true`` when set, and the node's effective
(inherited) receiver. One difference: a deprecated ``match_re`` value is shown as written,
where amtool shows its anchored form ``^(?:...)$``.
"""

from __future__ import annotations

from app.core.matchers import Matcher, MatchOp, format_matchers
from app.core.routing import Route

__all__ = ["render_routes"]

# Alertmanager's matcher type order (labels.MatchType), the last key of its sort.
_OP_ORDER = {MatchOp.EQ: 0, MatchOp.NE: 1, MatchOp.RE: 2, MatchOp.NRE: 3}
# amtool's tree printer: the branch glyphs and the indentation under a non-last branch, whose
# two middle characters are no-break spaces.
_MIDDLE, _LAST = "├── ", "└── "
_UNDER_MIDDLE, _UNDER_LAST = "│\u00a0\u00a0 ", "    "


def render_routes(root: Route, *, time_intervals: bool = False) -> str:
    """What ``amtool config routes show`` prints for this tree, final blank line included.

    `time_intervals` adds each node's own ``mute_time_intervals`` / ``active_time_intervals``
    to its line (amtool does not show them).
    """
    lines = ["Routing tree:", "."]
    _branch(root, "", True, root.receiver or "", time_intervals, lines)
    return "\n".join(lines) + "\n\n"


def _branch(
    node: Route, prefix: str, last: bool, inherited: str, time_intervals: bool, lines: list[str]
) -> None:
    receiver = node.receiver or inherited
    lines.append(prefix + (_LAST if last else _MIDDLE) + _slug(node, receiver, time_intervals))
    below = prefix + (_UNDER_LAST if last else _UNDER_MIDDLE)
    for i, child in enumerate(node.routes):
        _branch(child, below, i == len(node.routes) - 1, receiver, time_intervals, lines)


def _slug(node: Route, receiver: str, time_intervals: bool) -> str:
    parts = [format_matchers(sorted(node.matchers, key=_sort_key)) if node.matchers else "default-route"]
    if node.continue_:
        parts.append("continue: true")
    parts.append(f"receiver: {receiver}")
    if time_intervals:
        if node.mute_time_intervals:
            parts.append(f"mute_time_intervals: {', '.join(node.mute_time_intervals)}")
        if node.active_time_intervals:
            parts.append(f"active_time_intervals: {', '.join(node.active_time_intervals)}")
    return "  ".join(parts)


def _sort_key(m: Matcher) -> tuple[str, str, int]:
    return m.name, m.value, _OP_ORDER[m.op]
