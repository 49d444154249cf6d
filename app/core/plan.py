"""From one webhook message to the notifications it implies: route each alert, group per destination.

Pure: takes the parsed message, the routing tables (core objects only) and the instant at which
time intervals are evaluated (the caller's clock), returns plans and, apart, what was muted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from app.core.models import Alert, Group, WebhookMessage
from app.core.routing import Muted, Route, match, match_at
from app.core.timeintervals import TimeTable


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


@dataclass(frozen=True)
class MutedNotification:
    """A notification a time interval withheld: the route result muted (receiver, route path,
    reason, interval names), its alerts, and the destinations that would have sent it."""

    muted: Muted
    alerts: tuple[Alert, ...]
    destinations: tuple[Destination, ...]


@dataclass(frozen=True)
class Plan:
    """What one message implies at one instant: notifications to make, and muted ones."""

    planned: list[Planned]
    muted: list[MutedNotification]


def destination_id(receiver: str, integration: str, index: int) -> str:
    return f"{receiver}/{integration}[{index}]"


@dataclass(frozen=True)
class Router:
    """The route tree and each receiver's destinations (app.sinks.registry builds both)."""

    route: Route
    destinations: Mapping[str, Sequence[Destination]]
    intervals: TimeTable = field(default_factory=dict)
    """The named time intervals the tree's `mute_time_intervals` / `active_time_intervals` use."""

    def receivers_for(self, labels: Mapping[str, str]) -> list[str]:
        return match(self.route, labels)

    def plan(self, msg: WebhookMessage, *, at: datetime) -> Plan:
        """Each destination with the alerts of `msg` that reach it at the aware instant `at`
        (resolved ones only where the destination sends resolved), in the message's alert order;
        and, apart, each route result that a time interval mutes at `at` (unless the same
        receiver gets those alerts through another route).

        Linear in the alerts, whatever the group's size: the tree is walked once per distinct
        combination of the label values its matchers read (not once per alert); the interval
        verdicts depend on `at` only, so they are cached with the walk. The destinations of a
        receiver that take the same alerts share one Group, which the store then serialises once.
        """
        names = route_label_names(self.route)
        walked: dict[tuple[str, ...], tuple[tuple[tuple[str, bool], ...], tuple[Muted, ...]]] = {}
        per_receiver: dict[tuple[str, bool], list[Alert]] = {}
        per_muted: dict[Muted, list[Alert]] = {}
        for alert in msg.alerts:
            key = tuple(alert.labels.get(n, "") for n in names)
            found = walked.get(key)
            if found is None:
                found = walked[key] = self._walk(alert.labels, at)
            targets, muted = found
            for receiver, with_resolved in targets:
                if with_resolved or alert.status == "firing":
                    per_receiver.setdefault((receiver, with_resolved), []).append(alert)
            for m in muted:
                if alert.status == "firing" or True in self._takes_resolved(m.receiver):
                    per_muted.setdefault(m, []).append(alert)
        plans = []
        for (receiver, with_resolved), alerts in per_receiver.items():
            group = self._group(msg, receiver, alerts)
            plans += [
                Planned(dest, group)
                for dest in self.destinations.get(receiver, ())
                if dest.send_resolved == with_resolved
            ]
        return Plan(plans, [self._muted(m, alerts) for m, alerts in per_muted.items()])

    def _walk(
        self, labels: Mapping[str, str], at: datetime
    ) -> tuple[tuple[tuple[str, bool], ...], tuple[Muted, ...]]:
        """(receiver, takes resolved) pairs to notify, and the muted results of other receivers."""
        routed = match_at(self.route, labels, intervals=self.intervals, at=at)
        receivers = dict.fromkeys(routed.receivers)
        targets = tuple((r, with_resolved) for r in receivers for with_resolved in self._takes_resolved(r))
        return targets, tuple(dict.fromkeys(m for m in routed.muted if m.receiver not in receivers))

    def _muted(self, muted: Muted, alerts: list[Alert]) -> MutedNotification:
        firing = any(a.status == "firing" for a in alerts)
        destinations = tuple(
            d for d in self.destinations.get(muted.receiver, ()) if firing or d.send_resolved
        )
        return MutedNotification(muted, tuple(alerts), destinations)

    @staticmethod
    def _group(msg: WebhookMessage, receiver: str, alerts: list[Alert]) -> Group:
        return Group(
            groupKey=msg.groupKey,
            status="firing" if any(a.status == "firing" for a in alerts) else "resolved",
            receiver=receiver,
            groupLabels=msg.groupLabels,
            commonLabels=msg.commonLabels,
            commonAnnotations=msg.commonAnnotations,
            externalURL=msg.externalURL,
            truncatedAlerts=msg.truncatedAlerts,
            alerts=alerts,
        )

    def _takes_resolved(self, receiver: str) -> tuple[bool, ...]:
        """The distinct `send_resolved` of the receiver's destinations, in config order."""
        return tuple(dict.fromkeys(d.send_resolved for d in self.destinations.get(receiver, ())))


def route_label_names(route: Route) -> tuple[str, ...]:
    """Every label name a matcher of the tree reads: all that decides where an alert goes."""
    names = {m.name for m in route.matchers}
    for child in route.routes:
        names.update(route_label_names(child))
    return tuple(sorted(names))
