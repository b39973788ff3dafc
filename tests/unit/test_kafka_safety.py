"""The DESIGN's "test that fails on defaults": every Kafka client the hub builds is the safe one.

aiokafka's producer defaults to ``acks=1`` without idempotence, and a FastStream Kafka subscriber
defaults to ``AckPolicy.ACK_FIRST``, which turns on aiokafka's auto-commit (at-most-once). These
tests look at the objects FastStream 0.7 will hand to aiokafka when the app starts (nothing
connects here), and check that the same inspection does flag a broker built with the defaults.

Where FastStream 0.7 keeps the settings (private attributes, hence read in one place below):
``KafkaBroker._connection_kwargs`` is what ``AIOKafkaProducer(**kwargs)`` gets on connect;
a subscriber's ``ack_policy``, ``group_id`` and ``_connection_args`` go to ``AIOKafkaConsumer``,
with ``enable_auto_commit`` derived from the ack policy (``KafkaSubscriberConfig.__post_init__``).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiokafka
import pytest
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.subscriber.usecase import LogicSubscriber

from contracts import ChatMessageReceived, InteractionEvent
from plumbing.kafka import SAFE_PRODUCER, make_broker, make_producer, subscriber_options
from plumbing.settings import Topics
from services.ingress.app import build_app as build_ingress
from services.ingress.settings import IngressSettings
from services.timeline import app as timeline_app
from services.timeline.app import build_app, raw_body
from services.timeline.settings import TimelineSettings
from services.timeline.store import Recorded
from tests.support.traffic import chat_events

pytestmark = pytest.mark.unit

#: Nothing listens here: building the app must not need a live broker or database.
UNREACHABLE_PG = "postgresql://nobody@127.0.0.1:1/nothing"
UNREACHABLE_KAFKA = "127.0.0.1:1"


def _settings(topics: Topics | None = None, group: str = "timeline-writer") -> TimelineSettings:
    return TimelineSettings(
        pg_dsn=UNREACHABLE_PG,
        kafka_bootstrap=UNREACHABLE_KAFKA,
        topics=topics or Topics(),
        timeline_group=group,
    )


def _fresh_topics() -> Topics:
    tag = uuid.uuid4().hex[:10]
    return Topics(interactions=f"unit.{tag}.interactions", dead_letter=f"unit.{tag}.dlq")


def _producer_kwargs(broker: KafkaBroker) -> dict[str, Any]:
    """What FastStream passes to ``aiokafka.AIOKafkaProducer`` when the broker connects."""
    kwargs: dict[str, Any] = broker._connection_kwargs  # private: no public accessor in FastStream 0.7
    return kwargs


def _consumer_args(subscriber: LogicSubscriber[Any]) -> dict[str, Any]:
    """What FastStream passes to ``aiokafka.AIOKafkaConsumer`` (besides group and client id)."""
    args: dict[str, Any] = subscriber._connection_args  # private: no public accessor in FastStream 0.7
    return args


def _only_subscriber(broker: KafkaBroker) -> LogicSubscriber[Any]:
    (subscriber,) = broker.subscribers
    assert isinstance(subscriber, LogicSubscriber)
    return subscriber


def _producer_is_safe(broker: KafkaBroker) -> bool:
    kwargs = _producer_kwargs(broker)
    return kwargs.get("acks") in ("all", -1) and kwargs.get("enable_idempotence") is True


def _consumer_is_safe(subscriber: LogicSubscriber[Any]) -> bool:
    return (
        subscriber.ack_policy is AckPolicy.NACK_ON_ERROR
        and _consumer_args(subscriber).get("enable_auto_commit") is False
        and bool(subscriber.group_id)
    )


# --- the factory -----------------------------------------------------------------------------------


def test_the_safe_producer_waits_for_all_replicas_and_is_idempotent() -> None:
    assert SAFE_PRODUCER["acks"] == "all"
    assert SAFE_PRODUCER["enable_idempotence"] is True


def test_a_broker_from_the_factory_hands_the_safe_settings_to_its_producer() -> None:
    broker = make_broker(UNREACHABLE_KAFKA, client_id="test")
    assert _producer_kwargs(broker)["acks"] == "all"
    assert _producer_kwargs(broker)["enable_idempotence"] is True
    assert _producer_is_safe(broker)


@pytest.mark.parametrize("group", ["timeline-writer", "g", "another-group"])
def test_subscriber_options_never_give_ack_first_and_always_name_the_group(group: str) -> None:
    options = subscriber_options(group)
    assert options["ack_policy"] is not AckPolicy.ACK_FIRST
    assert options["ack_policy"] is AckPolicy.NACK_ON_ERROR
    assert options["group_id"] == group
    assert options.get("enable_auto_commit", False) is False


def test_a_subscriber_with_the_factory_options_does_not_auto_commit() -> None:
    broker = make_broker(UNREACHABLE_KAFKA, client_id="test")

    @broker.subscriber("some-topic", **subscriber_options("some-group"))  # type: ignore[untyped-decorator]
    async def handler(body: bytes) -> None: ...

    subscriber = _only_subscriber(broker)
    assert _consumer_args(subscriber)["enable_auto_commit"] is False
    assert _consumer_is_safe(subscriber)


# --- the inspection itself fails on the libraries' defaults ---------------------------------------


def test_the_checks_flag_a_broker_and_subscriber_built_with_library_defaults() -> None:
    broker = KafkaBroker(UNREACHABLE_KAFKA)

    @broker.subscriber("some-topic", group_id="some-group")
    async def handler(body: bytes) -> None: ...

    subscriber = _only_subscriber(broker)
    assert subscriber.ack_policy is AckPolicy.ACK_FIRST
    assert _consumer_args(subscriber)["enable_auto_commit"] is True
    assert not _consumer_is_safe(subscriber)
    assert not _producer_is_safe(broker)


async def test_aiokafka_built_from_default_broker_settings_acks_one_leader_without_idempotence() -> None:
    producer = aiokafka.AIOKafkaProducer(**_producer_kwargs(KafkaBroker(UNREACHABLE_KAFKA)))
    try:
        assert producer._sender._acks == 1
        assert producer._txn_manager is None  # no idempotence
    finally:
        await producer.stop()


# --- the bare producer (the ingress's) ----------------------------------------------------------------


def _aiokafka_producer_is_safe(producer: aiokafka.AIOKafkaProducer) -> bool:
    """What aiokafka itself will do: acks from all in-sync replicas (-1), idempotence on."""
    return producer._sender._acks == -1 and producer._txn_manager is not None


async def test_a_producer_from_the_factory_waits_for_all_replicas_and_is_idempotent() -> None:
    producer = make_producer(UNREACHABLE_KAFKA, client_id="test", linger_ms=5)
    try:
        assert _aiokafka_producer_is_safe(producer)
        assert producer._message_accumulator._linger_time == 0.005  # batching may be tuned
    finally:
        await producer.stop()


@pytest.mark.parametrize(
    "loosened", [{"acks": 1}, {"acks": 0}, {"enable_idempotence": False}, {"transactional_id": "t"}]
)
def test_the_producer_factory_refuses_to_loosen_acknowledgement_or_idempotence(
    loosened: dict[str, Any],
) -> None:
    with pytest.raises(ValueError, match="cannot be changed"):
        make_producer(UNREACHABLE_KAFKA, client_id="test", **loosened)


async def test_aiokafka_with_its_defaults_fails_the_producer_check() -> None:
    producer = aiokafka.AIOKafkaProducer(bootstrap_servers=UNREACHABLE_KAFKA)
    try:
        assert not _aiokafka_producer_is_safe(producer)
    finally:
        await producer.stop()


async def test_the_ingress_publishes_through_the_safe_producer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The producer the ingress's lifespan starts (nothing connects: ``start`` is replaced)."""
    started: list[aiokafka.AIOKafkaProducer] = []

    async def start(self: aiokafka.AIOKafkaProducer) -> None:
        started.append(self)

    monkeypatch.setattr(aiokafka.AIOKafkaProducer, "start", start)
    app = build_ingress(IngressSettings(kafka_bootstrap=UNREACHABLE_KAFKA))
    async with app.router.lifespan_context(app):
        producer = app.state.producer
        assert started == [producer]
        assert _aiokafka_producer_is_safe(producer)


# --- the timeline writer as built --------------------------------------------------------------------


def test_the_timeline_subscriber_acks_only_after_the_handler_and_never_auto_commits() -> None:
    _, broker = build_app(_settings(group="my-group"))
    subscriber = _only_subscriber(broker)
    assert subscriber.ack_policy is AckPolicy.NACK_ON_ERROR
    assert _consumer_args(subscriber)["enable_auto_commit"] is False
    assert subscriber.group_id == "my-group"
    assert _consumer_is_safe(subscriber)


def test_the_timeline_broker_producer_waits_for_all_replicas_and_is_idempotent() -> None:
    _, broker = build_app(_settings())
    kwargs = _producer_kwargs(broker)
    assert kwargs["acks"] in ("all", -1)
    assert kwargs["enable_idempotence"] is True
    assert _producer_is_safe(broker)


async def test_aiokafka_clients_built_from_the_timeline_app_are_the_safe_ones() -> None:
    """What aiokafka itself ends up with, not only what FastStream was told."""
    _, broker = build_app(_settings(group="my-group"))
    subscriber = _only_subscriber(broker)
    consumer = subscriber.builder(
        group_id=subscriber.group_id, client_id=subscriber.client_id, **_consumer_args(subscriber)
    )
    producer = aiokafka.AIOKafkaProducer(**_producer_kwargs(broker))
    try:
        assert consumer._enable_auto_commit is False
        assert consumer._group_id == "my-group"
        assert producer._sender._acks == -1
        assert producer._txn_manager is not None  # idempotence on
    finally:
        await producer.stop()
        await consumer.stop()


# --- the poison path, in memory ------------------------------------------------------------------------


@dataclass
class FakeStore:
    """Stands in for ``record_interactions``: it records calls and never reaches PostgreSQL."""

    calls: list[InteractionEvent] = field(default_factory=list)

    async def record_interactions(
        self, pool: object, events: Sequence[InteractionEvent], rules: object = None
    ) -> list[Recorded]:
        recorded = []
        for event in events:
            self.calls.append(event)
            recorded.append(Recorded(customer_id=uuid.uuid4(), position=len(self.calls), duplicate=False))
        return recorded


@dataclass
class DeadLetters:
    records: list[tuple[bytes, dict[str, Any], bytes | None]] = field(default_factory=list)


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> FakeStore:
    fake = FakeStore()
    monkeypatch.setattr(timeline_app, "record_interactions", fake.record_interactions)
    return fake


@pytest.fixture
async def in_memory_timeline() -> AsyncIterator[tuple[KafkaBroker, Topics, DeadLetters]]:
    """The timeline writer's broker under ``TestKafkaBroker``; a probe listens on the dead-letter topic.

    Only the broker starts, not the FastStream app, so the app's startup hooks (migrations, pool,
    topic creation) never run, and the pool stays closed: nothing can reach PostgreSQL.
    """
    topics = _fresh_topics()
    _, broker = build_app(_settings(topics))
    dead = DeadLetters()

    @broker.subscriber(topics.dead_letter, decoder=raw_body)
    async def probe(body: bytes, message: KafkaMessage) -> None:
        record = message.raw_message
        assert not isinstance(record, tuple)
        dead.records.append((body, dict(message.headers), record.key))

    async with TestKafkaBroker(broker) as test_broker:
        yield test_broker, topics, dead


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\x00\x01 not json at all", "not JSON"),
        (b"[1, 2, 3]", "not a JSON object"),
        (b'{"event_type": "interaction.fax.received", "schema_version": 1}', "unknown event type"),
    ],
)
async def test_a_poison_record_goes_to_the_dead_letter_topic_with_its_reason_and_never_to_the_store(
    in_memory_timeline: tuple[KafkaBroker, Topics, DeadLetters], store: FakeStore, body: bytes, reason: str
) -> None:
    broker, topics, dead = in_memory_timeline
    await broker.publish(body, topics.interactions, key=b"email:ada@example.com")
    assert len(dead.records) == 1
    dead_body, headers, key = dead.records[0]
    assert dead_body == body
    assert reason in headers["x-dead-letter-reason"]
    assert key == b"email:ada@example.com"
    assert store.calls == []


async def test_a_valid_record_goes_to_the_store_and_not_to_the_dead_letter_topic(
    in_memory_timeline: tuple[KafkaBroker, Topics, DeadLetters], store: FakeStore
) -> None:
    broker, topics, dead = in_memory_timeline
    (event,) = chat_events(1, 1, f"unit-{uuid.uuid4().hex[:8]}")
    await broker.publish(event.model_dump_json().encode(), topics.interactions)
    assert dead.records == []
    assert len(store.calls) == 1
    assert isinstance(store.calls[0], ChatMessageReceived)
    assert store.calls[0] == event


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000, b'{"event_type": "interaction.chat.received", "schema_version": 1e999}'],
    ids=["json-too-deep", "infinite-version"],
)
async def test_a_record_that_breaks_the_parser_is_dead_lettered_instead_of_redelivered_forever(
    in_memory_timeline: tuple[KafkaBroker, Topics, DeadLetters], store: FakeStore, body: bytes
) -> None:
    """With NACK_ON_ERROR an exception from the handler means redelivery of the same record: a
    body that always raises would block its partition, so it must take the dead-letter path."""
    broker, topics, dead = in_memory_timeline
    await broker.publish(body, topics.interactions)
    assert len(dead.records) == 1
    assert dead.records[0][1]["x-dead-letter-reason"]
    assert store.calls == []
