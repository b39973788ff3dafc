"""The one place Kafka clients are configured, because the libraries' defaults are not safe.

aiokafka's producer defaults to ``acks=1`` without idempotence, and FastStream's subscriber
defaults to auto-commit (at-most-once). Every producer and subscriber in the hub is built here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
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


def bootstrap_servers(bootstrap: str) -> list[str]:
    """``HUB_KAFKA_BOOTSTRAP`` as Kafka writes it (``host:port,host:port``) as the list aiokafka needs: it
    takes a single string for one address only."""
    return [server.strip() for server in bootstrap.split(",") if server.strip()]


def make_broker(bootstrap: str, *, client_id: str, **extra: Any) -> KafkaBroker:
    """A FastStream Kafka broker whose producer is the safe one above."""
    return KafkaBroker(bootstrap_servers(bootstrap), client_id=client_id, **SAFE_PRODUCER, **extra)


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


#: What every topic gets unless its spec says otherwise: an ``acks=all`` write needs two in-sync replicas,
#: and a replica that may have missed acknowledged records never becomes leader.
DURABLE_TOPIC: dict[str, str] = {"min.insync.replicas": "2", "unclean.leader.election.enable": "false"}


@dataclass(frozen=True)
class TopicSpec:
    """A topic the hub creates itself (auto-creation is off on our brokers); the hub's own topics are
    defined once, in :mod:`plumbing.topics`."""

    name: str
    partitions: int = 3
    replication: int = 3
    config: tuple[tuple[str, str], ...] = ()

    def new_topic(self, *, development: bool) -> NewTopic:
        """The creation request. A development node (see :func:`_is_development_node`) gets one replica
        and ``min.insync.replicas=1``; a cluster with fewer live brokers than ``replication`` is refused by
        Kafka itself, loudly, instead of getting weaker topics."""
        config = {**DURABLE_TOPIC, **dict(self.config)}
        if development:
            config["min.insync.replicas"] = "1"
            return NewTopic(self.name, self.partitions, 1, topic_configs=config)
        return NewTopic(self.name, self.partitions, self.replication, topic_configs=config)


async def _is_development_node(admin: AIOKafkaAdminClient) -> bool:
    """A lone broker whose own ``min.insync.replicas`` is 1: the local single node (or a test container).
    A production broker says 2, so a cluster with all but one broker down is never mistaken for it."""
    brokers = (await admin.describe_cluster())["brokers"]
    if len(brokers) != 1:
        return False
    name = "min.insync.replicas"
    wanted = ConfigResource(ConfigResourceType.BROKER, str(brokers[0]["node_id"]), {name: None})
    (response,) = await admin.describe_configs([wanted])
    entries = response.to_object()["resources"][0]["config_entries"]
    return any(entry["config_names"] == name and entry["config_value"] == "1" for entry in entries)


async def ensure_topics(bootstrap: str, specs: Iterable[TopicSpec]) -> None:
    """Create the topics that do not exist yet; existing ones are left as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers(bootstrap), request_timeout_ms=15_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        if missing:
            development = await _is_development_node(admin)
            try:
                await admin.create_topics([spec.new_topic(development=development) for spec in missing])
            except TopicAlreadyExistsError:
                pass  # another instance created it between list and create: the goal is met
    finally:
        await admin.close()
