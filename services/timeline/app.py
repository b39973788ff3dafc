"""The timeline writer as a FastStream Kafka consumer: commit only after the append."""

from __future__ import annotations

import structlog
from faststream import FastStream
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage
from psycopg_pool import AsyncConnectionPool
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from plumbing.eventstore import EventStoreError, EventStoreUnavailable
from plumbing.eventstore.postgres import Conn
from plumbing.kafka import TopicSpec, ensure_topics, make_broker, subscriber_options
from services.timeline.decode import PoisonMessage, decode_interaction
from services.timeline.settings import TimelineSettings
from services.timeline.store import migrate, record_interaction

log = structlog.get_logger()


async def raw_body(message: StreamMessage[object]) -> bytes:
    """Hand the handler the record's bytes: decoding and validation are ours, so poison is caught."""
    return message.body


def build_app(settings: TimelineSettings) -> tuple[FastStream, KafkaBroker]:
    """Wire broker, pool and handler; nothing connects until the app starts."""
    broker = make_broker(settings.kafka_bootstrap, client_id="timeline-writer")
    dsn = settings.pg_dsn.get_secret_value()
    pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
        dsn, min_size=1, max_size=settings.pool_size, open=False
    )
    dead_letters = broker.publisher(settings.topics.dead_letter)
    topics = settings.topics

    async def dead_letter(body: bytes, message: KafkaMessage, reason: str) -> None:
        """Park a record that can never succeed, with its reason, so the partition moves on."""
        record = message.raw_message
        assert not isinstance(record, tuple)  # a non-batch subscriber gets one record per call
        log.warning("dead_lettered", reason=reason[:500], partition=record.partition, offset=record.offset)
        await dead_letters.publish(body, key=record.key, headers={"x-dead-letter-reason": reason[:1000]})

    @broker.subscriber(  # type: ignore[untyped-decorator]  # FastStream overloads lose the type
        topics.interactions, decoder=raw_body, **subscriber_options(settings.timeline_group)
    )
    async def on_interaction(body: bytes, message: KafkaMessage) -> None:
        try:
            event = decode_interaction(body)
        except PoisonMessage as exc:
            await dead_letter(body, message, str(exc))
            return
        bound = log.bind(event_id=str(event.event_id), correlation_id=event.correlation_id)
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(settings.store_attempts),
                wait=wait_exponential(multiplier=0.2, max=5),
                retry=retry_if_exception_type(EventStoreUnavailable),
                reraise=True,
            ):
                with attempt:
                    outcome = await record_interaction(pool, event)
        except EventStoreUnavailable:
            raise  # transient: NACK, the record is redelivered when the store is back
        except EventStoreError as exc:
            await dead_letter(body, message, f"the store refused the event: {exc}")
            return
        bound.info(
            "interaction_duplicate" if outcome.duplicate else "interaction_recorded",
            customer_id=str(outcome.customer_id),
            position=outcome.position,
            merged=[str(m.absorbed) for m in outcome.resolution.merges] if outcome.resolution else [],
        )

    app = FastStream(broker)

    @app.on_startup
    async def prepare() -> None:
        await migrate(dsn)
        await pool.open(wait=True, timeout=30)
        await ensure_topics(
            settings.kafka_bootstrap, [TopicSpec(topics.interactions), TopicSpec(topics.dead_letter)]
        )

    @app.after_shutdown
    async def close_pool() -> None:
        await pool.close()

    return app, broker
