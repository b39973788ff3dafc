"""A Kafka consumer deployable's metrics (what the timeline writer gets from
``plumbing.kafka_metrics.serve_consumer_metrics``): the group's lag on its topic, from Kafka's own offsets,
and how many records a topic holds (the dead-letter topic's depth), on the real broker."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import psycopg
import pytest
from aiokafka import AIOKafkaProducer
from faststream import FastStream

from hub.stack import Infra
from plumbing.kafka import (
    SAFE_PRODUCER,
    TopicSpec,
    bootstrap_servers,
    ensure_topics,
    make_broker,
    subscriber_options,
)
from plumbing.kafka_metrics import KafkaOffsets, serve_consumer_metrics
from plumbing.metrics_server import MetricsSettings
from plumbing.settings import Topics
from tests.support.deployables import free_port
from tests.support.events import chat_event
from tests.support.metrics import Scrape, scrape
from tests.support.traffic import publish_events

pytestmark = pytest.mark.integration


async def produce(bootstrap: str, topic: str, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers(bootstrap), **SAFE_PRODUCER)
    await producer.start()
    try:
        for n in range(count):
            await producer.send_and_wait(topic, f"record {n}".encode(), key=f"key-{n}".encode())
    finally:
        await producer.stop()


def total_lag(figures: Scrape, group: str, topic: str) -> float:
    return sum(
        value
        for (name, labels), value in figures.samples.items()
        if name == "hub_kafka_consumer_lag" and {("group", group), ("topic", topic)} <= labels
    )


async def test_group_lag_is_every_record_not_committed_and_topic_records_count_what_it_holds(
    infra: Infra,
) -> None:
    tag = uuid.uuid4().hex[:10]
    topic, dead_letters, group = f"test.{tag}.metrics", f"test.{tag}.dlq", f"metrics-{tag}"
    await ensure_topics(infra.kafka_bootstrap, [TopicSpec(topic), TopicSpec(dead_letters)])
    await produce(infra.kafka_bootstrap, topic, 7)
    await produce(infra.kafka_bootstrap, dead_letters, 2)

    offsets = KafkaOffsets(infra.kafka_bootstrap)
    await offsets.start()
    try:
        never_consumed = await offsets.group_lag(group, topic)
        depth = await offsets.records(dead_letters)
        absent = await offsets.group_lag(group, f"test.{tag}.absent")
    finally:
        await offsets.close()

    assert sorted(never_consumed) == [0, 1, 2]
    assert sum(never_consumed.values()) == 7
    assert depth == 2
    assert absent == {}


async def test_a_faststream_consumer_serves_its_lag_until_it_has_committed_everything(infra: Infra) -> None:
    tag = uuid.uuid4().hex[:10]
    topic, dead_letters, group = f"test.{tag}.metrics", f"test.{tag}.dlq", f"metrics-{tag}"
    await ensure_topics(infra.kafka_bootstrap, [TopicSpec(topic), TopicSpec(dead_letters)])
    await produce(infra.kafka_bootstrap, topic, 5)
    broker = make_broker(infra.kafka_bootstrap, client_id="metrics-test")
    received: list[bytes] = []

    @broker.subscriber(topic, **subscriber_options(group))  # type: ignore[untyped-decorator]
    async def handle(body: bytes) -> None:
        received.append(body)

    app = FastStream(broker)
    port = free_port()
    serve_consumer_metrics(
        app,
        broker,
        bootstrap=infra.kafka_bootstrap,
        group=group,
        consumed=[topic],
        counted=[dead_letters],
        settings=MetricsSettings(metrics_port=port),
    )
    await app.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            figures = await _until_lag_is_zero(client, group, topic)
            health = await client.get("/health")
    finally:
        await app.stop()

    assert len(received) == 5
    assert figures.value("hub_kafka_topic_records", topic=dead_letters) == 0
    assert health.status_code == 200
    consumed = [
        value for (name, _), value in figures.samples.items() if name == "faststream_received_messages_total"
    ]
    assert sum(consumed) == 5  # FastStream's own middleware counts what the handler got


async def _until_lag_is_zero(
    client: httpx.AsyncClient, group: str, topic: str, deadline_s: float = 60
) -> Scrape:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + deadline_s
    while True:
        figures = await scrape(client)
        partitions = [n for n, labels in figures.samples if n == "hub_kafka_consumer_lag"]
        if len(partitions) == 3 and total_lag(figures, group, topic) == 0:
            return figures
        if loop.time() > deadline:
            raise AssertionError(f"the group never caught up: {figures.samples}")
        await asyncio.sleep(0.2)


async def test_the_timeline_writer_wired_as_its_entry_point_will_be_serves_its_lag_down_to_zero(
    infra: Infra, database: str
) -> None:
    """The exact call ``services/timeline/__main__.py`` makes after ``build_app``."""
    from services.timeline.app import build_app
    from services.timeline.settings import TimelineSettings

    tag = uuid.uuid4().hex[:10]
    topics = Topics(interactions=f"test.{tag}.interactions", dead_letter=f"test.{tag}.dlq")
    settings = TimelineSettings(
        pg_dsn=database, kafka_bootstrap=infra.kafka_bootstrap, topics=topics, timeline_group=f"tl-{tag}"
    )  # type: ignore[arg-type]  # pg_dsn: a str becomes the SecretStr
    await ensure_topics(
        infra.kafka_bootstrap, [TopicSpec(topics.interactions), TopicSpec(topics.dead_letter)]
    )
    await publish_events(infra.kafka_bootstrap, topics.interactions, [chat_event(tag, n) for n in range(4)])
    port = free_port()
    app, broker = build_app(settings)
    serve_consumer_metrics(
        app,
        broker,
        bootstrap=settings.kafka_bootstrap,
        group=settings.timeline_group,
        consumed=[settings.topics.interactions],
        counted=[settings.topics.dead_letter],
        settings=MetricsSettings(metrics_port=port),
    )
    await app.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            figures = await _until_lag_is_zero(client, settings.timeline_group, topics.interactions)
            health = await client.get("/health")
    finally:
        await app.stop()

    async with await psycopg.AsyncConnection.connect(database) as conn:
        stored = await (await conn.execute("SELECT count(*) FROM events")).fetchone()
    assert stored is not None and stored[0] >= 4  # the chats, with the links of their identities
    assert figures.value("hub_kafka_topic_records", topic=topics.dead_letter) == 0
    assert health.status_code == 200
