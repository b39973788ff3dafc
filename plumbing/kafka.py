"""The one place Kafka clients are configured, because the libraries' defaults are not safe.

aiokafka's producer defaults to ``acks=1`` without idempotence, and FastStream's subscriber
defaults to auto-commit (at-most-once). Every producer and subscriber in the hub is built here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped, unused-ignore]
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker

log = structlog.get_logger()

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


#: What a caller of :func:`make_producer` may not loosen.
_SAFETY = frozenset({"acks", "enable_idempotence", "transactional_id"})


def make_producer(bootstrap: str, *, client_id: str, **extra: Any) -> AIOKafkaProducer:
    """A bare aiokafka producer with the safe settings, for a hot path that publishes bytes it made
    itself (the ingress: FastStream's publish machinery cost more than the send). ``extra`` may tune
    batching (``linger_ms``, ``max_batch_size``), never the acknowledgement or idempotence."""
    loosened = _SAFETY & set(extra)
    if loosened:
        raise ValueError(f"the safe producer's {sorted(loosened)} cannot be changed")
    options = {**SAFE_PRODUCER, **extra}
    return AIOKafkaProducer(bootstrap_servers=bootstrap_servers(bootstrap), client_id=client_id, **options)


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


#: The settings of an existing topic :func:`ensure_topics` brings back to its spec: how long records live.
RETENTION_KEYS = ("retention.ms", "segment.ms", "cleanup.policy")


async def ensure_topics(bootstrap: str, specs: Iterable[TopicSpec]) -> None:
    """Create the topics that do not exist yet, and bring the retention of existing ones to their spec.

    Retention bounds how long Kafka keeps what a forget cannot reach, so an older setting of a topic is
    not left in place; its partitions and replication are (changing them moves keys or data).
    """
    wanted = list(specs)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers(bootstrap), request_timeout_ms=15_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        development = await _is_development_node(admin)
        missing = [spec for spec in wanted if spec.name not in existing]
        if missing:
            try:
                await admin.create_topics([spec.new_topic(development=development) for spec in missing])
            except TopicAlreadyExistsError:
                pass  # another instance created it between list and create: the goal is met
        # Every topic, not only the listed ones: a topic can exist yet be missing from the broker's metadata
        # (Kafka then answers the create with "already exists" in the response, without raising).
        await _align_retention(admin, wanted, development)
    finally:
        await admin.close()


#: How long a topic's configuration may stay unknown to the broker asked (a topic created a moment ago)
#: before its retention is left for the next start.
_DESCRIBE_WAIT_S = 10.0


async def _align_retention(admin: AIOKafkaAdminClient, specs: list[TopicSpec], development: bool) -> None:
    """Alter the topics whose retention settings differ from their spec (to the spec's whole config: a
    non-incremental alter replaces every dynamic setting of a topic). A broker may not yet know a topic
    created a moment ago (by us, or by someone else between our list and create, which Kafka answers
    without raising): its configuration is waited for, with a bound, rather than skipped."""
    if not specs:
        return
    current = await _retention_settings(admin, [spec.name for spec in specs])
    deadline = time.monotonic() + _DESCRIBE_WAIT_S
    names = {spec.name for spec in specs}
    while names - current.keys() and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        current |= await _retention_settings(admin, sorted(names - current.keys()))
    configs = {spec.name: spec.new_topic(development=development).topic_configs for spec in specs}
    drifted = [
        name
        for name, config in configs.items()
        if name in current and any(current[name].get(key) != config.get(key) for key in RETENTION_KEYS)
    ]
    if not drifted:
        return
    responses = await admin.alter_configs(
        [ConfigResource(ConfigResourceType.TOPIC, name, configs[name]) for name in drifted]
    )
    refused = [
        resource["resource_name"]
        for response in responses
        for resource in response.to_object()["resources"]
        if resource["error_code"] != 0
    ]
    if refused:  # loud, but not fatal: the writer keeps working while an operator fixes an ACL
        log.error("topic_retention_not_aligned", topics=sorted(refused))
    else:
        log.info("topic_retention_aligned", topics=sorted(drifted))


async def _retention_settings(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, dict[str, str]]:
    """The retention settings of the topics among ``names`` that the broker knows (others are absent)."""
    asked = [ConfigResource(ConfigResourceType.TOPIC, name, dict.fromkeys(RETENTION_KEYS)) for name in names]
    found: dict[str, dict[str, str]] = {}
    for response in await admin.describe_configs(asked):
        for resource in response.to_object()["resources"]:
            if resource["error_code"] == 0:
                found[resource["resource_name"]] = {
                    entry["config_names"]: entry["config_value"] for entry in resource["config_entries"]
                }
    return found
