"""From one webhook message to the notifications it implies: route each alert, group per destination.

Pure: takes the parsed message and the routing tables (core objects only), returns plans.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from app.core.models import Alert, Group, WebhookMessage
from app.core.routing import Route, match


@dataclass(frozen=True)
class Destination:
    """One configured integration of one receiver: the unit of ordering and dedup.

    `id` is `receiver/integration[index]`; `receiver` and `integration` are given as fields, so
    nothing needs to parse the id apart.
    """

    id: str
    receiver: str
    integration: str
    send_resolved: bool
    max_in_flight: int = 1
    """Deliveries at once; order is always kept within an alert group."""


@dataclass(frozen=True)
class Planned:
    destination: Destination
    group: Group


def destination_id(receiver: str, integration: str, index: int) -> str:
    return f"{receiver}/{integration}[{index}]"


@dataclass(frozen=True)
class Router:
    """The route tree and each receiver's destinations (app.sinks.registry builds both)."""

    route: Route
    destinations: Mapping[str, Sequence[Destination]]

    def receivers_for(self, labels: Mapping[str, str]) -> list[str]:
        return match(self.route, labels)

    def plan(self, msg: WebhookMessage) -> list[Planned]:
        """Each destination with the alerts of `msg` that reach it (resolved ones only where
        the destination sends resolved), in the message's alert order.

        Linear in the alerts, whatever the group's size: the tree is walked once per distinct
        combination of the label values its matchers read (not once per alert), and the
        destinations of a receiver that take the same alerts share one Group, which the store
        then serialises once.
        """
        names = route_label_names(self.route)
        walked: dict[tuple[str, ...], tuple[tuple[str, bool], ...]] = {}
        per_receiver: dict[tuple[str, bool], list[Alert]] = {}
        for alert in msg.alerts:
            key = tuple(alert.labels.get(n, "") for n in names)
            targets = walked.get(key)
            if targets is None:
                targets = walked[key] = tuple(
                    (receiver, with_resolved)
                    for receiver in dict.fromkeys(self.receivers_for(alert.labels))
                    for with_resolved in self._takes_resolved(receiver)
                )
            for receiver, with_resolved in targets:
                if with_resolved or alert.status == "firing":
                    per_receiver.setdefault((receiver, with_resolved), []).append(alert)
        plans = []
        for (receiver, with_resolved), alerts in per_receiver.items():
            status = "firing" if any(a.status == "firing" for a in alerts) else "resolved"
            group = Group(
                groupKey=msg.groupKey,
                status=status,
                receiver=receiver,
                groupLabels=msg.groupLabels,
                commonLabels=msg.commonLabels,
                commonAnnotations=msg.commonAnnotations,
                externalURL=msg.externalURL,
                truncatedAlerts=msg.truncatedAlerts,
                alerts=alerts,
            )
            plans += [
                Planned(dest, group)
                for dest in self.destinations.get(receiver, ())
                if dest.send_resolved == with_resolved
            ]
        return plans

    def _takes_resolved(self, receiver: str) -> tuple[bool, ...]:
        """The distinct `send_resolved` of the receiver's destinations, in config order."""
        return tuple(dict.fromkeys(d.send_resolved for d in self.destinations.get(receiver, ())))


def route_label_names(route: Route) -> tuple[str, ...]:
    """Every label name a matcher of the tree reads: all that decides where an alert goes."""
    names = {m.name for m in route.matchers}
    for child in route.routes:
        names.update(route_label_names(child))
    return tuple(sorted(names))
