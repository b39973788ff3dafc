"""Prometheus counters of what the ingress did with each delivery, served at ``GET /metrics``.

One registry per app (not the process-wide default), so two apps in one process, as in tests, never
share counts. Labels are bounded: provider names and the hub's own error codes, never payload text.
"""

from __future__ import annotations

from enum import StrEnum

from prometheus_client import CollectorRegistry, Counter


class Outcome(StrEnum):
    """What became of a delivery."""

    ACCEPTED = "accepted"  # Kafka has its events
    IGNORED = "ignored"  # authentic, but nothing the hub records (typing indicators, receipts...)
    HANDSHAKE = "handshake"  # a subscription check answered in-band (VK confirmation)
    REJECTED = "rejected"  # a 4xx: bad signature, stale timestamp, malformed payload, too large...
    UNAVAILABLE = "unavailable"  # a 503: Kafka or the evidence store failed; the provider retries


class IngressMetrics:
    """``hub_webhook_deliveries_total{provider, outcome, reason}`` and events published per provider."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._deliveries = Counter(
            "hub_webhook_deliveries",
            "Webhook deliveries by provider, outcome and reason (the error code of a refusal).",
            ["provider", "outcome", "reason"],
            registry=self.registry,
        )
        self._events = Counter(
            "hub_webhook_events_published",
            "Events published to Kafka, by provider (a delivery can carry several).",
            ["provider"],
            registry=self.registry,
        )

    def delivery(self, provider: str, outcome: Outcome, reason: str = "", events: int = 0) -> None:
        """Count one delivery (and the events it published)."""
        self._deliveries.labels(provider, outcome.value, reason).inc()
        if events:
            self._events.labels(provider).inc(events)
