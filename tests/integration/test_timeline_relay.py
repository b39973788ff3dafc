"""The timeline relay against real Kafka and PostgreSQL: every appended event reaches the timeline topic,
in store order per customer, keyed by customer, resumably, and the checkpoint never runs ahead of Kafka.

Kafka's refusal is real and deterministic: the test creates the topic with ``max.message.bytes`` smaller
than any record, so the broker answers MESSAGE_TOO_LARGE to every produce request, on any cluster; raising
the limit afterwards is the operator's fix after which the same batch must go through.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaConnectionError
from faststream.kafka import KafkaBroker
from psycopg_pool import AsyncConnectionPool

from contracts import IdentityLinked, customer_stream, event_id_for, normalise_identity
from contracts.identity import IdentityKind
from contracts.personal import ERASED
from hub.stack import Infra
from plumbing.eventstore import NewEvent, PostgresEventStore
from plumbing.eventstore.postgres import Conn
from plumbing.eventstore.sealing import SEALED, destroy_keys, open_sealed
from plumbing.kafka import TopicSpec, ensure_topics, make_broker
from plumbing.projection import apply_next_batch, checkpoint
from plumbing.settings import Topics
from services.relay.relay import RelayPublishFailed, TimelineRelay, relay_name
from services.relay.runner import relay_until_stopped, run_relay
from services.relay.settings import RelaySettings
from tests.support.kafka import topic_end_offsets

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

#: Smaller than any record batch: the broker refuses every produce request to such a topic.
REFUSING = (("max.message.bytes", "64"),)
ONE_MIB = "1048588"  # Kafka's default max.message.bytes


@dataclass(frozen=True)
class Appended:
    """An event the test appended: whose it is, where it landed, what it holds."""

    customer: UUID
    position: int
    event_id: UUID
    stream_version: int
    data: dict[str, Any]


@dataclass
class Log:
    """What the test appended, in append (= position) order."""

    events: list[Appended] = field(default_factory=list)

    @property
    def last_position(self) -> int:
        return self.events[-1].position

    def of(self, customer: UUID) -> list[Appended]:
        return [e for e in self.events if e.customer == customer]


def _identity_linked(customer: UUID, tag: str) -> IdentityLinked:
    now = datetime.now(UTC)
    return IdentityLinked(
        event_id=event_id_for("relay-test", tag),
        occurred_at=now,
        received_at=now,
        correlation_id=tag,
        customer_id=customer,
        identity=normalise_identity(IdentityKind.EMAIL, f"{tag}@example.com"),
        rule="test",
        evidence_event_id=uuid.uuid4(),
    )


async def append_interleaved(
    pool: AsyncConnectionPool[Conn], customers: Sequence[UUID], rounds: int, log: Log
) -> None:
    """One event per customer per round, each its own append, so the customers' positions interleave."""
    store = PostgresEventStore(pool)
    for _ in range(rounds):
        for customer in customers:
            event = _identity_linked(customer, uuid.uuid4().hex)
            result = await store.append(customer_stream(customer), [NewEvent(event)])
            log.events.append(
                Appended(
                    customer,
                    result.last_position,
                    event.event_id,
                    result.stream_version,
                    event.model_dump(mode="json"),
                )
            )


async def wait_until(condition_met: Callable[[], Awaitable[bool]], deadline_s: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    while not await condition_met():
        if loop.time() - started > deadline_s:
            raise AssertionError(f"not within {deadline_s}s: {what}")
        await asyncio.sleep(0.05)


async def wait_for_checkpoint(pool: AsyncConnectionPool[Conn], topic: str, position: int) -> None:
    async def reached() -> bool:
        return await checkpoint(pool, relay_name(topic)) == position

    await wait_until(reached, 30, f"the relay to {topic} checkpointed position {position}")


async def read_topic(bootstrap: str, topic: str) -> dict[int, list[ConsumerRecord[bytes, bytes]]]:
    """Every record on ``topic`` now: partition -> records in offset order."""
    ends = await topic_end_offsets(bootstrap, topic)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in ends]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        records: dict[int, list[ConsumerRecord[bytes, bytes]]] = defaultdict(list)
        async with asyncio.timeout(30):
            while any(len(records[p]) < end for p, end in ends.items()):
                for tp, batch in (await consumer.getmany(timeout_ms=200)).items():
                    records[tp.partition].extend(batch)
        return {p: records[p] for p in ends}
    finally:
        await consumer.stop()


def headers_of(record: ConsumerRecord[bytes, bytes]) -> dict[str, str]:
    return {name: value.decode() for name, value in record.headers}


def first_deliveries(records: Sequence[ConsumerRecord[bytes, bytes]]) -> list[UUID]:
    """Event ids in arrival order, each at its first arrival: what a consumer deduping on event_id sees."""
    seen: dict[UUID, None] = {}
    for record in records:
        seen.setdefault(UUID(headers_of(record)["event_id"]), None)
    return list(seen)


def by_key(partitions: dict[int, list[ConsumerRecord[bytes, bytes]]]) -> dict[bytes, list[int]]:
    """key -> the partitions its records are on (one entry per record)."""
    found: dict[bytes, list[int]] = defaultdict(list)
    for partition, records in partitions.items():
        for record in records:
            assert record.key is not None
            found[record.key].append(partition)
    return found


def records_of(
    partitions: dict[int, list[ConsumerRecord[bytes, bytes]]], customer: UUID
) -> list[ConsumerRecord[bytes, bytes]]:
    return [r for records in partitions.values() for r in records if r.key == str(customer).encode()]


def relay_settings(infra: Infra, dsn: str, topic: str, **overrides: Any) -> RelaySettings:
    values: dict[str, Any] = {
        "pg_dsn": dsn,
        "kafka_bootstrap": infra.kafka_bootstrap,
        "topics": Topics(timeline=topic),
        "relay_idle_timeout_s": 1.0,
        "relay_publish_timeout_s": 5.0,
    }
    return RelaySettings(**(values | overrides))


def fresh_topic() -> str:
    return f"test.{uuid.uuid4().hex[:10]}.timeline"


@contextlib.asynccontextmanager
async def running(relay: Awaitable[None], stop: asyncio.Event) -> AsyncIterator[asyncio.Task[None]]:
    """Run a relay as a task; on exit stop it and surface anything it raised."""
    task = asyncio.ensure_future(relay)
    try:
        yield task
    finally:
        stop.set()
        async with asyncio.timeout(30):
            await task


@contextlib.asynccontextmanager
async def connected_broker(bootstrap: str) -> AsyncIterator[KafkaBroker]:
    broker = make_broker(bootstrap, client_id="relay-test")
    await broker.connect()
    try:
        yield broker
    finally:
        await broker.stop()


async def allow_normal_records(bootstrap: str, topic: str) -> None:
    """The operator's fix: raise the topic's record size limit back to Kafka's default."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        resource = ConfigResource(ConfigResourceType.TOPIC, topic, configs={"max.message.bytes": ONE_MIB})
        await admin.alter_configs([resource])
    finally:
        await admin.close()


def assert_nothing_on(partitions: dict[int, int]) -> None:
    assert sum(partitions.values()) == 0, f"records reached the topic: {partitions}"


async def test_interleaved_events_of_two_customers_arrive_in_store_order_keyed_by_customer_with_headers(
    infra: Infra, database: str, pool: AsyncConnectionPool[Conn]
) -> None:
    topic, ada, bob, log = fresh_topic(), uuid.uuid4(), uuid.uuid4(), Log()
    settings = relay_settings(infra, database, topic)
    stop = asyncio.Event()

    async with running(run_relay(settings, stop), stop):
        await append_interleaved(pool, [ada, bob], 4, log)
        await wait_for_checkpoint(pool, topic, log.last_position)
    partitions = await read_topic(infra.kafka_bootstrap, topic)

    assert len(partitions) == settings.timeline_partitions
    keys = by_key(partitions)
    assert set(keys) == {str(ada).encode(), str(bob).encode()}
    assert all(len(set(on)) == 1 for on in keys.values()), "one customer's records span partitions"
    for customer in (ada, bob):
        records = records_of(partitions, customer)
        expected = log.of(customer)
        assert [UUID(headers_of(r)["event_id"]) for r in records] == [e.event_id for e in expected]
        for record, event in zip(records, expected, strict=True):
            assert record.value is not None
            value, sealed_as_stored = json.loads(record.value), json.loads(headers_of(record)["sealed"])
            assert sealed_as_stored["data"] == ["identity.value"]
            assert value["identity"]["value"] != event.data["identity"]["value"]  # ciphertext, as stored
            assert without_identity_value(value) == without_identity_value(event.data)
            headers = headers_of(record)
            assert headers["customer_id"] == str(customer)
            assert headers["stream_id"] == customer_stream(customer)
            assert headers["event_type"] == "customer.identity.linked"
            assert headers["schema_version"] == "1"
            assert int(headers["stream_version"]) == event.stream_version
            assert int(headers["position"]) == event.position
            assert headers["content-type"] == "application/json"
            assert headers["correlation_id"] == event.data["correlation_id"]
            assert datetime.fromisoformat(headers["recorded_at"]).tzinfo is not None


def without_identity_value(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "identity": {**data["identity"], "value": None}}


async def test_the_topic_carries_personal_fields_sealed_so_forgetting_the_customer_reaches_its_records(
    infra: Infra, database: str, pool: AsyncConnectionPool[Conn]
) -> None:
    """What other teams keep from the topic opens with the customer's key while it exists, and reads as
    erased once a forget destroyed it: the plaintext address is never on the topic."""
    topic, ada, log = fresh_topic(), uuid.uuid4(), Log()
    settings = relay_settings(infra, database, topic)
    stop = asyncio.Event()
    async with running(run_relay(settings, stop), stop):
        await append_interleaved(pool, [ada], 2, log)
        await wait_for_checkpoint(pool, topic, log.last_position)
    records = records_of(await read_topic(infra.kafka_bootstrap, topic), ada)
    addresses = [event.data["identity"]["value"] for event in log.events]
    assert len(records) == 2
    assert not any(address in (record.value or b"").decode() for record in records for address in addresses)

    async def opened() -> list[str]:
        rows = [
            (
                UUID(headers_of(r)["event_id"]),
                json.loads(r.value or b""),
                {SEALED: json.loads(headers_of(r)["sealed"])},
            )
            for r in records
        ]
        async with pool.connection() as conn:
            await open_sealed(conn, rows)
        return [data["identity"]["value"] for _, data, _ in rows]

    assert await opened() == addresses
    async with pool.connection() as conn, conn.transaction():
        await destroy_keys(conn, [ada])
    assert await opened() == [ERASED, ERASED]


async def test_a_new_relay_instance_resumes_after_the_checkpoint_and_loses_nothing(
    infra: Infra, database: str, pool: AsyncConnectionPool[Conn]
) -> None:
    topic, ada, bob, log = fresh_topic(), uuid.uuid4(), uuid.uuid4(), Log()
    settings = relay_settings(infra, database, topic)

    first_stop = asyncio.Event()
    async with running(run_relay(settings, first_stop), first_stop):
        await append_interleaved(pool, [ada, bob], 2, log)
        await wait_for_checkpoint(pool, topic, log.last_position)
    relayed_by_first = log.last_position

    await append_interleaved(pool, [bob, ada], 3, log)  # while no relay runs
    assert sum((await topic_end_offsets(infra.kafka_bootstrap, topic)).values()) == 4
    assert await checkpoint(pool, relay_name(topic)) == relayed_by_first

    second_stop = asyncio.Event()
    async with running(run_relay(settings, second_stop), second_stop):
        await wait_for_checkpoint(pool, topic, log.last_position)
    partitions = await read_topic(infra.kafka_bootstrap, topic)

    assert sum(len(records) for records in partitions.values()) == len(log.events) == 10  # no loss, no repeat
    for customer in (ada, bob):
        arrived = [UUID(headers_of(r)["event_id"]) for r in records_of(partitions, customer)]
        assert arrived == [e.event_id for e in log.of(customer)]
    assert await checkpoint(pool, relay_name(topic)) == log.last_position


async def test_a_batch_kafka_refuses_leaves_the_checkpoint_unmoved_and_is_sent_again_later(
    infra: Infra, pool: AsyncConnectionPool[Conn]
) -> None:
    topic, ada, bob, log = fresh_topic(), uuid.uuid4(), uuid.uuid4(), Log()
    await ensure_topics(infra.kafka_bootstrap, [TopicSpec(topic, config=REFUSING)])
    await append_interleaved(pool, [ada, bob], 2, log)

    async with connected_broker(infra.kafka_bootstrap) as broker:
        relay = TimelineRelay(broker, topic, publish_timeout_s=5.0)
        with pytest.raises(RelayPublishFailed):
            await apply_next_batch(pool, relay, 100)

        assert await checkpoint(pool, relay.name) == 0
        assert_nothing_on(await topic_end_offsets(infra.kafka_bootstrap, topic))

        await allow_normal_records(infra.kafka_bootstrap, topic)

        async def batch_went_through() -> bool:
            try:
                return await apply_next_batch(pool, relay, 100) == len(log.events)
            except RelayPublishFailed:
                return False  # the broker has not applied the new limit yet

        await wait_until(batch_went_through, 30, "Kafka took the batch after the limit was raised")

    assert await checkpoint(pool, relay.name) == log.last_position
    partitions = await read_topic(infra.kafka_bootstrap, topic)
    for customer in (ada, bob):
        assert first_deliveries(records_of(partitions, customer)) == [e.event_id for e in log.of(customer)]


async def test_the_running_relay_keeps_retrying_a_refused_batch_until_kafka_takes_it(
    infra: Infra, database: str, pool: AsyncConnectionPool[Conn]
) -> None:
    topic, ada, bob, log = fresh_topic(), uuid.uuid4(), uuid.uuid4(), Log()
    await ensure_topics(infra.kafka_bootstrap, [TopicSpec(topic, config=REFUSING)])
    settings = relay_settings(infra, database, topic)
    await append_interleaved(pool, [ada, bob], 3, log)

    async with connected_broker(infra.kafka_bootstrap) as broker:
        relay = TimelineRelay(broker, topic, publish_timeout_s=settings.relay_publish_timeout_s)
        stop = asyncio.Event()
        async with running(relay_until_stopped(pool, database, relay, stop, settings), stop) as task:

            async def refused_twice() -> bool:
                assert not task.done(), "the relay stopped instead of retrying"
                return relay.refused_batches >= 2

            await wait_until(refused_twice, 30, "the relay retried the refused batch")
            assert await checkpoint(pool, relay.name) == 0
            assert_nothing_on(await topic_end_offsets(infra.kafka_bootstrap, topic))

            await allow_normal_records(infra.kafka_bootstrap, topic)
            await append_interleaved(pool, [bob], 1, log)  # appended during the outage: comes after the rest
            await wait_for_checkpoint(pool, topic, log.last_position)

    partitions = await read_topic(infra.kafka_bootstrap, topic)
    for customer in (ada, bob):
        assert first_deliveries(records_of(partitions, customer)) == [e.event_id for e in log.of(customer)]


async def test_the_relay_gives_up_loudly_when_kafka_refuses_for_longer_than_the_outage_limit(
    infra: Infra, database: str, pool: AsyncConnectionPool[Conn]
) -> None:
    topic, log = fresh_topic(), Log()
    await ensure_topics(infra.kafka_bootstrap, [TopicSpec(topic, config=REFUSING)])
    settings = relay_settings(infra, database, topic, relay_outage_limit_s=1.0)
    await append_interleaved(pool, [uuid.uuid4()], 1, log)

    async with connected_broker(infra.kafka_bootstrap) as broker:
        relay = TimelineRelay(broker, topic, publish_timeout_s=settings.relay_publish_timeout_s)
        with pytest.raises(RelayPublishFailed):
            async with asyncio.timeout(30):
                await relay_until_stopped(pool, database, relay, asyncio.Event(), settings)

    assert relay.refused_batches >= 2
    assert await checkpoint(pool, relay.name) == 0


async def test_the_relay_does_not_start_without_kafka_and_checkpoints_nothing(
    infra: Infra, database: str, pool: AsyncConnectionPool[Conn]
) -> None:
    topic = fresh_topic()
    await append_interleaved(pool, [uuid.uuid4()], 1, Log())
    settings = relay_settings(infra, database, topic, kafka_bootstrap="127.0.0.1:1")  # nothing listens

    with pytest.raises(KafkaConnectionError):
        async with asyncio.timeout(60):  # a hang would end in TimeoutError instead
            await run_relay(settings, asyncio.Event())

    assert await checkpoint(pool, relay_name(topic)) == 0
