"""The one place Kafka clients are configured, because the libraries' defaults are not safe.

aiokafka's producer defaults to ``acks=1`` without idempotence, and FastStream's subscriber
defaults to auto-commit (at-most-once). Every producer and subscriber in the hub is built here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker

#: Producer settings for "a 2xx means Kafka has it": all in-sync replicas, no duplicates on retry.
SAFE_PRODUCER: dict[str, Any] = {
    "acks": "all",
    "enable_idempotence": True,
    "request_timeout_ms": 10_000,
    "retry_backoff_ms": 100,
    "linger_ms": 1,
}


def make_broker(bootstrap: str, *, client_id: str, **extra: Any) -> KafkaBroker:
    """A FastStream Kafka broker whose producer is the safe one above."""
    return KafkaBroker(bootstrap, client_id=client_id, **SAFE_PRODUCER, **extra)


def subscriber_options(group_id: str) -> dict[str, Any]:
    """Options for every consumer: explicit group, commit only after the handler succeeded.

    ``NACK_ON_ERROR`` seeks back to the failed record, so an exception means redelivery, and a
    success commits the offset after the work (at-least-once; idempotence makes it exactly-once).
    """
    return {
        "group_id": group_id,
        "ack_policy": AckPolicy.NACK_ON_ERROR,
        "auto_offset_reset": "earliest",
        "max_poll_interval_ms": 300_000,
        "session_timeout_ms": 10_000,
        "heartbeat_interval_ms": 3_000,
        "isolation_level": "read_committed",
    }


@dataclass(frozen=True)
class TopicSpec:
    """A topic the hub creates itself (auto-creation is off on our brokers)."""

    name: str
    partitions: int = 3
    replication: int = 1
    config: tuple[tuple[str, str], ...] = ()


async def ensure_topics(bootstrap: str, specs: Iterable[TopicSpec]) -> None:
    """Create the topics that do not exist yet; existing ones are left as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(s.name, s.partitions, s.replication, topic_configs=dict(s.config))
            for s in specs
            if s.name not in existing
        ]
        if wanted:
            try:
                await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass  # another instance created it between list and create: the goal is met
    finally:
        await admin.close()
