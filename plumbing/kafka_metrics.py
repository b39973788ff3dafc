"""Kafka figures of a consumer deployable (the timeline writer), read from Kafka at scrape time.

``hub_kafka_consumer_lag{group, topic, partition}``: the partition's end offset minus the group's committed
offset (its beginning when the group has committed nothing yet: consumers start at the earliest record),
the same figure KEDA scales the writers by. ``hub_kafka_topic_records{topic}``: records a topic holds now
(end minus beginning offsets, summed); for the dead-letter topic that is its depth, what ``hub dlq list``
would show. FastStream's own middleware adds ``faststream_*`` counts and durations of what was consumed.

:func:`serve_consumer_metrics` wires it all into a FastStream app with its start and stop hooks, so the
writer's entry point needs one call.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AsyncExitStack

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from faststream import FastStream
from faststream.kafka import KafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import Gauge

from plumbing.kafka import bootstrap_servers
from plumbing.metrics_server import MetricsSettings, WorkerMetrics, metrics_served


class KafkaOffsets:
    """One admin client (committed offsets, partitions) and one group-less consumer (end offsets)."""

    def __init__(self, bootstrap: str) -> None:
        self._servers = bootstrap_servers(bootstrap)

    async def start(self) -> None:
        """Make and connect the clients: aiokafka clients must be created inside the running loop."""
        self._admin = AIOKafkaAdminClient(bootstrap_servers=self._servers, client_id="hub-metrics")
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self._servers, group_id=None, enable_auto_commit=False, client_id="hub-metrics"
        )
        await self._admin.start()
        await self._consumer.start()

    async def close(self) -> None:
        await self._consumer.stop()
        await self._admin.close()

    async def partitions(self, topic: str) -> list[TopicPartition]:
        """The topic's partitions; none when it does not exist (yet)."""
        (described,) = await self._admin.describe_topics([topic])
        return [TopicPartition(topic, p["partition"]) for p in sorted(described["partitions"], key=_number)]

    async def group_lag(self, group: str, topic: str) -> dict[int, int]:
        """Records of ``topic`` the group has not committed yet, per partition."""
        partitions = await self.partitions(topic)
        if not partitions:
            return {}
        committed = await self._admin.list_consumer_group_offsets(group, partitions=partitions)
        ends = await self._consumer.end_offsets(partitions)
        starts = await self._consumer.beginning_offsets(partitions)
        lag = {}
        for tp in partitions:
            done = committed.get(tp)
            position = done.offset if done is not None and done.offset >= 0 else starts[tp]
            lag[tp.partition] = max(ends[tp] - position, 0)
        return lag

    async def records(self, topic: str) -> int:
        """Records the topic holds now (what retention has not deleted)."""
        partitions = await self.partitions(topic)
        if not partitions:
            return 0
        ends = await self._consumer.end_offsets(partitions)
        starts = await self._consumer.beginning_offsets(partitions)
        return sum(ends[tp] - starts[tp] for tp in partitions)


def _number(partition: dict[str, int]) -> int:
    return partition["partition"]


class ConsumerMetrics:
    """Consumer lag of one group on its topics and the depth of other topics (dead letters)."""

    def __init__(
        self,
        worker: WorkerMetrics,
        offsets: KafkaOffsets,
        group: str,
        consumed: Sequence[str],
        counted: Sequence[str] = (),
    ) -> None:
        self._offsets = offsets
        self._group = group
        self._consumed = tuple(consumed)
        self._counted = tuple(counted)
        self._lag = Gauge(
            "hub_kafka_consumer_lag",
            "Records the group has not committed: end offset minus committed offset (read at scrape time).",
            ["group", "topic", "partition"],
            registry=worker.registry,
        )
        self._records = Gauge(
            "hub_kafka_topic_records",
            "Records a topic holds now; for the dead-letter topic, its depth (read at scrape time).",
            ["topic"],
            registry=worker.registry,
        )
        worker.refreshers.append(self.refresh)

    async def refresh(self) -> None:
        for topic in self._consumed:
            for partition, lag in (await self._offsets.group_lag(self._group, topic)).items():
                self._lag.labels(self._group, topic, str(partition)).set(lag)
        for topic in self._counted:
            self._records.labels(topic).set(await self._offsets.records(topic))


def serve_consumer_metrics(
    app: FastStream,
    broker: KafkaBroker,
    *,
    bootstrap: str,
    group: str,
    consumed: Sequence[str],
    counted: Sequence[str] = (),
    settings: MetricsSettings | None = None,
) -> WorkerMetrics:
    """Serve ``/metrics`` and ``/health`` of a FastStream consumer while ``app`` runs (nothing when
    ``HUB_METRICS_PORT`` is 0). Call before the app starts.

    ``/health`` is 503 when the broker does not answer FastStream's ``broker.ping`` in time. The store's
    outages are the writer's to retry (and redeliver), not a reason to restart it.
    """
    worker = WorkerMetrics(settings)
    broker.add_middleware(KafkaPrometheusMiddleware(registry=worker.registry))
    offsets = KafkaOffsets(bootstrap)
    ConsumerMetrics(worker, offsets, group, consumed, counted)

    async def ping() -> bool:
        return await broker.ping(timeout=worker.settings.metrics_refresh_timeout_s)

    worker.checks.append(ping)
    stack = AsyncExitStack()

    @app.after_startup
    async def start_metrics() -> None:
        if worker.settings.metrics_port:
            await offsets.start()
            stack.push_async_callback(offsets.close)
            await stack.enter_async_context(metrics_served(worker))

    @app.on_shutdown
    async def stop_metrics() -> None:
        await stack.aclose()

    return worker
