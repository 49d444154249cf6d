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

Paths name nodes by child indexes from the root: ``()`` is the root, ``(1, 0)`` is
``route.routes[1].routes[0]`` in the YAML. Stdlib only, no I/O.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from app.core.matchers import Matcher

__all__ = [
    "Path",
    "Route",
    "effective_receiver",
    "match",
    "match_paths",
    "route_at",
    "validate",
    "walk",
    "yaml_path",
]

Path = tuple[int, ...]


@dataclass(frozen=True)
class Route:
    """One node of the route tree. ``receiver=None`` means "the parent's receiver"."""

    receiver: str | None
    matchers: tuple[Matcher, ...] = ()
    continue_: bool = False
    routes: tuple[Route, ...] = ()

    def __post_init__(self) -> None:
        # Accept lists for convenience; keep the node immutable and hashable.
        object.__setattr__(self, "matchers", tuple(self.matchers))
        object.__setattr__(self, "routes", tuple(self.routes))

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


def validate(root: Route, receiver_names: Iterable[str]) -> list[tuple[str, str]]:
    """Problems of the tree as ``(yaml_path, message)``, in YAML order.

    Checks what Alertmanager's config loader checks about the tree: the root has a receiver,
    no matchers and no ``continue``; every receiver named in the tree exists.
    """
    names = set(receiver_names)
    problems: list[tuple[str, str]] = []
    if not root.receiver:
        problems.append(("route.receiver", "the root route must have a receiver"))
    if root.matchers:
        problems.append(("route", "the root route must not have any matchers"))
    if root.continue_:
        problems.append(("route.continue", "the root route cannot have continue"))
    for path, node in walk(root):
        if node.receiver and node.receiver not in names:
            close = difflib.get_close_matches(node.receiver, sorted(names), n=1, cutoff=0.6)
            hint = f" (did you mean `{close[0]}`?)" if close else ""
            problems.append((f"{yaml_path(path)}.receiver", f"unknown receiver '{node.receiver}'{hint}"))
    return problems
