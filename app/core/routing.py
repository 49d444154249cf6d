"""The Alertmanager-shaped route tree and how an alert walks it.

Semantics follow Alertmanager's ``dispatch/route.go`` (``Route.Match``) and what
``amtool config routes test`` prints:

* every alert enters at the root, which always matches;
* children are tried depth-first, left to right; a child matches when all its matchers do;
* after the first matching child the search stops, unless that child has ``continue: true``,
  in which case the following siblings are tried too;
* a matching node none of whose children matched is itself a result;
* a route without a receiver (``None`` or ``""``) inherits its parent's;
* results keep their order and are not de-duplicated (amtool prints them comma-separated,
  duplicates included).

Time intervals (Alertmanager's ``notify`` time stages) apply to the node an alert ends at, with
that node's own ``mute_time_intervals`` / ``active_time_intervals``: unlike the receiver, they are
not inherited from the parent. A result is muted when it has active intervals and none contains
the instant, or else when one of its mute intervals contains it. The root may have neither.

Paths name nodes by child indexes from the root: ``()`` is the root, ``(1, 0)`` is
``route.routes[1].routes[0]`` in the YAML. Stdlib only, no I/O.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from app.core.matchers import Matcher
from app.core.timeintervals import TimeTable, containing

__all__ = [
    "Muted",
    "Path",
    "Route",
    "Routed",
    "effective_receiver",
    "match",
    "match_at",
    "match_paths",
    "route_at",
    "validate",
    "walk",
    "yaml_path",
]

Path = tuple[int, ...]


@dataclass(frozen=True)
class Route:
    """One node of the route tree. ``receiver=None`` means "the parent's receiver"; the time
    interval names are this node's own (never inherited)."""

    receiver: str | None
    matchers: tuple[Matcher, ...] = ()
    continue_: bool = False
    routes: tuple[Route, ...] = ()
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()
    escalation: str | None = None
    """The escalation policy of groups routed here (inherited by child routes)."""

    def __post_init__(self) -> None:
        # Accept lists for convenience; keep the node immutable and hashable.
        object.__setattr__(self, "matchers", tuple(self.matchers))
        object.__setattr__(self, "routes", tuple(self.routes))
        object.__setattr__(self, "mute_time_intervals", tuple(self.mute_time_intervals))
        object.__setattr__(self, "active_time_intervals", tuple(self.active_time_intervals))

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether this node's own matchers all match (the root is never asked)."""
        return all(m.matches(labels) for m in self.matchers)


def match(root: Route, labels: Mapping[str, str]) -> list[str]:
    """The receivers an alert with these labels reaches, in routing-tree order.

    Never empty. A result whose route and ancestors all lack a receiver (an invalid tree,
    see :func:`validate`) is ``""``, as Alertmanager would have it.
    """
    return [receiver for _, receiver in _resolve(root, labels)]


def match_paths(root: Route, labels: Mapping[str, str]) -> list[Path]:
    """The paths of the route nodes an alert with these labels ends at, in order."""
    return [path for path, _ in _resolve(root, labels)]


@dataclass(frozen=True)
class Muted:
    """A result of the walk that must not be notified at this instant, and why.

    ``reason`` ``"mute_time_intervals"``: ``intervals`` are the node's mute intervals that contain
    the instant. ``"active_time_intervals"``: none of the node's active intervals (all listed in
    ``intervals``) contains it.
    """

    path: Path
    receiver: str
    reason: Literal["mute_time_intervals", "active_time_intervals"]
    intervals: tuple[str, ...]

    def __str__(self) -> str:
        names = ", ".join(repr(name) for name in self.intervals)
        intervals = "time intervals" if len(self.intervals) > 1 else "time interval"
        where = f"{self.receiver} muted at {yaml_path(self.path)}"
        if self.reason == "mute_time_intervals":
            return f"{where} by {intervals} {names}"
        return f"{where}: outside its active {intervals} {names}"


@dataclass(frozen=True)
class Routed:
    """Where an alert goes at an instant: the results to notify (receivers and their node
    paths, in routing-tree order) and, separately, the results muted by time intervals."""

    receivers: tuple[str, ...]
    paths: tuple[Path, ...]
    muted: tuple[Muted, ...]


def match_at(root: Route, labels: Mapping[str, str], *, intervals: TimeTable, at: datetime) -> Routed:
    """:func:`match` at the aware instant `at`, with the nodes' time intervals applied from the
    named `intervals` (KeyError for a name missing there; :func:`validate` reports those).

    As in Alertmanager's pipeline, active intervals are checked first: a result outside all
    of them is muted for that reason even if a mute interval also covers the instant."""
    receivers: list[str] = []
    paths: list[Path] = []
    muted: list[Muted] = []
    for path, receiver in _resolve(root, labels):
        node = route_at(root, path)
        if node.active_time_intervals and not containing(intervals, node.active_time_intervals, at):
            muted.append(Muted(path, receiver, "active_time_intervals", node.active_time_intervals))
        elif muting := containing(intervals, node.mute_time_intervals, at):
            muted.append(Muted(path, receiver, "mute_time_intervals", muting))
        else:
            receivers.append(receiver)
            paths.append(path)
    return Routed(tuple(receivers), tuple(paths), tuple(muted))


def _resolve(root: Route, labels: Mapping[str, str]) -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    _descend(root, labels, (), "", found)
    return found


def _descend(
    node: Route,
    labels: Mapping[str, str],
    path: Path,
    inherited: str,
    found: list[tuple[Path, str]],
) -> None:
    """Walk below `node`, which matched; add the nodes the alert ends at to `found`."""
    receiver = node.receiver or inherited
    before = len(found)
    for index, child in enumerate(node.routes):
        if not child.matches(labels):
            continue
        _descend(child, labels, (*path, index), receiver, found)
        if not child.continue_:
            break
    if len(found) == before:
        found.append((path, receiver))


def route_at(root: Route, path: Path) -> Route:
    """The node at `path` (IndexError if there is none)."""
    node = root
    for depth, index in enumerate(path):
        if not 0 <= index < len(node.routes):
            raise IndexError(f"no route at {yaml_path(path[: depth + 1])}")
        node = node.routes[index]
    return node


def effective_receiver(root: Route, path: Path) -> str:
    """The receiver of the node at `path`, inherited from the nearest ancestor that has one
    (``""`` if none has)."""
    receiver = root.receiver or ""
    node = root
    for depth, index in enumerate(path):
        if not 0 <= index < len(node.routes):
            raise IndexError(f"no route at {yaml_path(path[: depth + 1])}")
        node = node.routes[index]
        receiver = node.receiver or receiver
    return receiver


def escalation_for(root: Route, labels: Mapping[str, str], receiver: str) -> str | None:
    """The escalation policy of the first route an alert with these labels reaches `receiver`
    by (a route's `escalation` is inherited by its children); None if that route has none."""
    for path in match_paths(root, labels):
        node, policy, to = root, root.escalation, root.receiver or ""
        for index in path:
            node = node.routes[index]
            policy, to = node.escalation or policy, node.receiver or to
        if to == receiver:
            return policy
    return None


def walk(root: Route) -> Iterator[tuple[Path, Route]]:
    """Every node with its path, depth-first, parents before children (YAML order)."""
    stack: list[tuple[Path, Route]] = [((), root)]
    while stack:
        path, node = stack.pop()
        yield path, node
        stack.extend(((*path, i), child) for i, child in reversed(list(enumerate(node.routes))))


def yaml_path(path: Path) -> str:
    """``(1, 0)`` -> ``route.routes[1].routes[0]``."""
    return "route" + "".join(f".routes[{i}]" for i in path)


def validate(
    root: Route, receiver_names: Iterable[str], time_interval_names: Iterable[str] = ()
) -> list[tuple[str, str]]:
    """Problems of the tree as ``(yaml_path, message)``, in YAML order.

    Checks what Alertmanager's config loader checks about the tree: the root has a receiver,
    no matchers, no ``continue`` and no time intervals; every receiver and every time interval
    named in the tree exists.
    """
    names = set(receiver_names)
    intervals = set(time_interval_names)
    problems: list[tuple[str, str]] = []
    if not root.receiver:
        problems.append(("route.receiver", "the root route must have a receiver"))
    if root.matchers:
        problems.append(("route", "the root route must not have any matchers"))
    if root.continue_:
        problems.append(("route.continue", "the root route cannot have continue"))
    for key in ("mute_time_intervals", "active_time_intervals"):
        if getattr(root, key):
            problems.append((f"route.{key}", f"the root route must not have any {key.replace('_', ' ')}"))
    for path, node in walk(root):
        if node.receiver and node.receiver not in names:
            hint = _did_you_mean(node.receiver, names)
            problems.append((f"{yaml_path(path)}.receiver", f"unknown receiver '{node.receiver}'{hint}"))
        if not path:
            continue  # the root's intervals are refused above
        for key, refs in (
            ("mute_time_intervals", node.mute_time_intervals),
            ("active_time_intervals", node.active_time_intervals),
        ):
            problems += [
                (
                    f"{yaml_path(path)}.{key}[{i}]",
                    f"unknown time interval '{name}'{_did_you_mean(name, intervals)}",
                )
                for i, name in enumerate(refs)
                if name not in intervals
            ]
    return problems


def _did_you_mean(name: str, choices: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""
