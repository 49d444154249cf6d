"""Prometheus metrics the service exports; one registry per app so tests stay independent."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from app import __version__

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)
ACK_BUCKETS = (30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400)
RESOLVE_BUCKETS = (60, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400, 259200)


@dataclass
class Metrics:
    """Every series alertmedic exports. Names are part of the public contract (README, dashboards)."""

    registry: CollectorRegistry = field(default_factory=lambda: CollectorRegistry(auto_describe=True))

    def __post_init__(self) -> None:
        r = self.registry
        self.build_info = Gauge(
            "alertmedic_build_info",
            "Constant 1, labelled with the running version.",
            ["version"],
            registry=r,
        )
        self.build_info.labels(version=__version__).set(1)
        self.webhooks = Counter(
            "alertmedic_webhooks_received_total",
            "Alertmanager webhook requests by outcome "
            "(accepted, unauthorized, too_large, bad_json, invalid, store_unavailable).",
            ["outcome"],
            registry=r,
        )
        self.alerts = Counter(
            "alertmedic_alerts_received_total",
            "Alerts inside webhook requests by status (firing, resolved) and outcome (accepted, rejected).",
            ["status", "outcome"],
            registry=r,
        )
        self.notifications = Counter(
            "alertmedic_notifications_total",
            "Notifications by receiver, integration and outcome "
            "(enqueued, duplicate, delivered, dead, unrouted, muted).",
            ["receiver", "integration", "outcome"],
            registry=r,
        )
        self.retries = Counter(
            "alertmedic_delivery_retries_total",
            "Delivery attempts that failed and were scheduled again.",
            ["receiver", "integration", "reason"],
            registry=r,
        )
        self.dead_letters = Counter(
            "alertmedic_dead_letters_total",
            "Deliveries given up (permanent error or retry horizon exceeded).",
            ["receiver", "integration", "reason"],
            registry=r,
        )
        self.delivery_latency = Histogram(
            "alertmedic_delivery_latency_seconds",
            "Time from webhook accepted to provider confirmed, per integration.",
            ["integration"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.outbox_depth = Gauge(
            "alertmedic_outbox_depth",
            "Notifications accepted and not yet delivered or dead-lettered.",
            registry=r,
        )
        self.config_reload_ok = Gauge(
            "alertmedic_config_last_reload_successful",
            "Whether the last configuration reload (SIGHUP, POST /-/reload) succeeded: 1 or 0.",
            registry=r,
        )
        self.config_reload_ok.set(1)
        self.config_reload_time = Gauge(
            "alertmedic_config_last_reload_success_timestamp_seconds",
            "When the configuration was last loaded successfully (start-up or reload), Unix time.",
            registry=r,
        )
        self.workers = Gauge(
            "alertmedic_delivery_lanes",
            "Destinations with a delivery lane currently running.",
            registry=r,
        )
        self.enrichment = Counter(
            "alertmedic_enrichment",
            "Enrichment fetches by source (loki, prometheus) and outcome (ok, empty, timeout, error).",
            ["source", "outcome"],
            registry=r,
        )
        self.enrichment_redactions = Counter(
            "alertmedic_enrichment_redactions",
            "Secrets replaced in log lines, queries and captions before they were shown or stored.",
            registry=r,
        )
        self.enrichment_duration = Histogram(
            "alertmedic_enrichment_duration_seconds",
            "Seconds one enrichment fetch took, per source.",
            ["source"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.remediations = Counter(
            "alertmedic_remediations_total",
            "Self-healing outcomes by action, kind and outcome (succeeded, failed, refused, would, "
            "awaiting_approval, rejected, expired, cancelled).",
            ["action", "kind", "outcome"],
            registry=r,
        )
        self.remediation_refusals = Counter(
            "alertmedic_remediation_refusals_total",
            "Self-healing actions refused, by action and guard.",
            ["action", "guard"],
            registry=r,
        )
        self.remediation_duration = Histogram(
            "alertmedic_remediation_duration_seconds",
            "Time from an action to its verified outcome, by kind.",
            ["kind"],
            buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200),
            registry=r,
        )
        self.chat_actions = Counter(
            "alertmedic_chat_actions",
            "Button taps and commands from chat by source, action and outcome (done, refused, stale, ...).",
            ["source", "action", "outcome"],
            registry=r,
        )
        self.time_to_ack = Histogram(
            "alertmedic_time_to_acknowledge_seconds",
            "Time from an incident's first startsAt to its first acknowledgement; once per incident"
            " episode, whichever replica took the ack.",
            ["severity"],
            buckets=ACK_BUCKETS,
            registry=r,
        )
        self.time_to_resolve = Histogram(
            "alertmedic_time_to_resolve_seconds",
            "Time from an incident's first startsAt to the webhook that resolved it; once per"
            " incident episode, whichever replica accepted that webhook.",
            ["severity"],
            buckets=RESOLVE_BUCKETS,
            registry=r,
        )


SERIES = (
    "alertmedic_build_info",
    "alertmedic_webhooks_received_total",
    "alertmedic_alerts_received_total",
    "alertmedic_notifications_total",
    "alertmedic_delivery_retries_total",
    "alertmedic_dead_letters_total",
    "alertmedic_delivery_latency_seconds",
    "alertmedic_outbox_depth",
    "alertmedic_delivery_lanes",
    "alertmedic_enrichment_total",
    "alertmedic_enrichment_redactions_total",
    "alertmedic_enrichment_duration_seconds",
    "alertmedic_remediations_total",
    "alertmedic_remediation_refusals_total",
    "alertmedic_remediation_duration_seconds",
    "alertmedic_config_last_reload_successful",
    "alertmedic_config_last_reload_success_timestamp_seconds",
    "alertmedic_chat_actions_total",
    "alertmedic_time_to_acknowledge_seconds",
    "alertmedic_time_to_resolve_seconds",
)
"""Metric family names; a histogram adds _bucket, _sum and _count, a counter _total."""
