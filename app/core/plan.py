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
        the destination sends resolved), in the message's alert order."""
        per_dest: dict[str, tuple[Destination, list[Alert]]] = {}
        for alert in msg.alerts:
            for receiver in dict.fromkeys(self.receivers_for(alert.labels)):
                for dest in self.destinations.get(receiver, ()):
                    if alert.status == "resolved" and not dest.send_resolved:
                        continue
                    per_dest.setdefault(dest.id, (dest, []))[1].append(alert)
        plans = []
        for dest, alerts in per_dest.values():
            status = "firing" if any(a.status == "firing" for a in alerts) else "resolved"
            group = Group(
                groupKey=msg.groupKey,
                status=status,
                receiver=dest.receiver,
                groupLabels=msg.groupLabels,
                commonLabels=msg.commonLabels,
                commonAnnotations=msg.commonAnnotations,
                externalURL=msg.externalURL,
                truncatedAlerts=msg.truncatedAlerts,
                alerts=alerts,
            )
            plans.append(Planned(dest, group))
        return plans
