"""From one webhook message to the notifications it implies: route each alert, group per destination.

Pure: takes the parsed message and the routing tables built from the config, returns plans.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from app.config import Config, RouteConfig
from app.core.matchers import matchers_from_legacy, parse_matchers
from app.core.models import Alert, Group, WebhookMessage
from app.core.routing import Route, match


@dataclass(frozen=True)
class Destination:
    """One configured integration of one receiver: the unit of ordering and dedup."""

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


def build_route(cfg: RouteConfig) -> Route:
    """The pure route tree of a validated route config."""
    matchers = [m for text in cfg.matchers for m in parse_matchers(text)]
    matchers += matchers_from_legacy(cfg.match, cfg.match_re)
    return Route(
        receiver=cfg.receiver,
        matchers=tuple(matchers),
        continue_=cfg.continue_,
        routes=tuple(build_route(c) for c in cfg.routes),
    )


def build_destinations(config: Config) -> dict[str, list[Destination]]:
    """Receiver name -> its destinations, in config order."""
    out: dict[str, list[Destination]] = {}
    for r in config.receivers:
        out[r.name] = [
            Destination(
                destination_id(r.name, kind, i),
                r.name,
                kind,
                cfg.send_resolved,
                getattr(cfg, "max_in_flight", 1),
            )
            for kind, i, cfg in r.integrations()
        ]
    return out


@dataclass(frozen=True)
class Router:
    """Routing tables built once from the config."""

    route: Route
    destinations: Mapping[str, Sequence[Destination]]

    @classmethod
    def from_config(cls, config: Config) -> Router:
        return cls(build_route(config.route), build_destinations(config))

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
