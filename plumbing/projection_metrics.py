"""Prometheus figures of every follower of the global log (projections, the relay, media followers).

``hub_projection_lag_positions`` is the log's head position minus the follower's checkpoint: how far
behind it is, in positions (an aborted append leaves a gap in the sequence, so it can overstate the events
left by a few). ``hub_projection_lag_seconds`` is how long ago the oldest event it has not applied was
recorded: 0 when caught up. Both are read from the store at scrape time, so a follower that is stuck
(a store outage, Kafka refusing the relay, a provider holding up media) shows its lag growing rather
than the figure of its last good batch. Labels are checkpoint names: bounded, never customer data.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prometheus_client import Counter, Gauge, Histogram
from psycopg_pool import AsyncConnectionPool

from plumbing.eventstore.postgres import Conn
from plumbing.metrics_server import MetricsSettings, WorkerMetrics, metrics_served

#: Batches of a few ms (caught up, small) to a minute (media downloads in a batch).
BATCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

_LAG = """
SELECT n.name, coalesce(c.position, 0), h.head,
       coalesce(extract(epoch FROM clock_timestamp() - oldest.recorded_at), 0)
FROM unnest(%s::text[]) AS n(name)
LEFT JOIN projection_checkpoints c ON c.name = n.name
CROSS JOIN (SELECT coalesce(max(position), 0) AS head FROM events) AS h
LEFT JOIN LATERAL (
    SELECT e.recorded_at FROM events e WHERE e.position > coalesce(c.position, 0) ORDER BY e.position LIMIT 1
) AS oldest ON true
"""


class ProjectionMetrics:
    """A :class:`plumbing.projection.BatchObserver` that counts, times, and measures lag at scrape time."""

    def __init__(self, worker: WorkerMetrics, pool: AsyncConnectionPool[Conn]) -> None:
        self._worker = worker
        self._pool = pool
        self._names: list[str] = []
        registry = worker.registry
        self._applied = Counter(
            "hub_projection_events_applied", "Events applied, by follower.", ["projection"], registry=registry
        )
        self._batches = Histogram(
            "hub_projection_batch_duration_seconds",
            "Duration of batches that applied events: read, apply and commit with the checkpoint.",
            ["projection"],
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self._lag = Gauge(
            "hub_projection_lag_positions",
            "The log's head position minus the follower's checkpoint (read at scrape time).",
            ["projection"],
            registry=registry,
        )
        self._lag_s = Gauge(
            "hub_projection_lag_seconds",
            "Age of the oldest event the follower has not applied; 0 when caught up (read at scrape time).",
            ["projection"],
            registry=registry,
        )
        self._checkpoint = Gauge(
            "hub_projection_checkpoint_position",
            "The follower's checkpoint.",
            ["projection"],
            registry=registry,
        )
        self._head = Gauge(
            "hub_event_log_head_position", "The last position of the store's global log.", registry=registry
        )
        worker.refreshers.append(self.refresh_lag)

    def following(self, name: str) -> None:
        """Export ``name`` from now on, and make its silence unhealthy."""
        if name not in self._names:
            self._names.append(name)
            self._applied.labels(name)  # zero, not absent, before the first batch
            self._batches.labels(name)
        self._worker.heartbeats.register(name)

    def batch_applied(self, name: str, events: int, seconds: float) -> None:
        self._worker.heartbeats.beat(name)
        if events:
            self._applied.labels(name).inc(events)
            self._batches.labels(name).observe(seconds)

    async def refresh_lag(self) -> None:
        """One query for every follower of this process: checkpoints, the head, the oldest unapplied."""
        if not self._names:
            return
        async with self._pool.connection() as conn:
            cur = await conn.execute(_LAG, (self._names,))
            rows = await cur.fetchall()
        for name, position, head, seconds in rows:
            self._checkpoint.labels(name).set(position)
            self._lag.labels(name).set(max(int(head) - int(position), 0))
            self._lag_s.labels(name).set(max(float(seconds), 0.0))
            self._head.set(head)


@asynccontextmanager
async def projection_metrics_served(
    pool: AsyncConnectionPool[Conn], settings: MetricsSettings | None = None
) -> AsyncIterator[ProjectionMetrics]:
    """The observer to pass to :func:`plumbing.projection.follow`, with /metrics and /health served
    meanwhile on ``HUB_METRICS_PORT`` (nothing served when it is 0)."""
    worker = WorkerMetrics(settings)
    observer = ProjectionMetrics(worker, pool)
    async with metrics_served(worker):
        yield observer
