"""The timeline writer as a FastStream Kafka consumer: commit only after the append."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from aiokafka import ConsumerRecord
from faststream import FastStream
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage
from psycopg_pool import AsyncConnectionPool
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from contracts import InteractionEvent
from contracts.identity_rules import load_identity_rules
from plumbing.eventstore import EventStoreError, EventStoreUnavailable
from plumbing.eventstore.postgres import Conn
from plumbing.kafka import ensure_topics, make_broker, subscriber_options
from plumbing.topics import hub_topics
from services.timeline.decode import PoisonMessage, decode_interaction
from services.timeline.dlq import MAX_ATTEMPTS, Attempts, dead_letter_headers
from services.timeline.settings import TimelineSettings
from services.timeline.store import Recorded, migrate, record_interactions

log = structlog.get_logger()


Decoded = tuple[InteractionEvent, bytes, "ConsumerRecord[Any, Any]"]


async def raw_body(message: StreamMessage[object]) -> object:
    """Hand the handler the records' bytes: decoding and validation are ours, so poison is caught."""
    return message.body


def build_app(settings: TimelineSettings) -> tuple[FastStream, KafkaBroker]:
    """Wire broker, pool and handler; nothing connects until the app starts."""
    broker = make_broker(settings.kafka_bootstrap, client_id="timeline-writer")
    dsn = settings.pg_dsn.get_secret_value()
    pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
        dsn, min_size=1, max_size=settings.pool_size, open=False
    )
    dead_letters = broker.publisher(settings.topics.dead_letter)
    rules = load_identity_rules(settings.identity_rules)  # a bad rules file stops the start
    topics = settings.topics

    attempts = Attempts(MAX_ATTEMPTS)

    async def dead_letter(body: bytes, record: ConsumerRecord[Any, Any], reason: str, tries: int = 1) -> None:
        """Park a record that can never succeed, with its reason, so the partition moves on."""
        log.warning("dead_lettered", reason=reason[:500], partition=record.partition, offset=record.offset)
        headers = dead_letter_headers(record.topic, record.partition, record.offset, reason, tries)
        await dead_letters.publish(body, key=record.key, headers=headers)

    retrying = AsyncRetrying(
        stop=stop_after_attempt(settings.store_attempts),
        wait=wait_exponential(multiplier=0.2, max=5),
        retry=retry_if_exception_type(EventStoreUnavailable),
        reraise=True,
    )

    async def store(events: Sequence[InteractionEvent]) -> list[Recorded]:
        """Bounded retries while the store is unreachable; then the error propagates (NACK)."""
        return await retrying.copy()(record_interactions, pool, events, rules)

    async def store_one_by_one(batch: Sequence[Decoded]) -> list[tuple[InteractionEvent, Recorded]]:
        """After a deterministic refusal of a batch: find the culprits, store the rest."""
        stored = []
        for event, body, record in batch:
            try:
                (outcome,) = await store([event])
            except EventStoreUnavailable:
                raise
            except EventStoreError as exc:
                await dead_letter(body, record, f"the store refused the event: {exc}")
            except Exception as exc:  # it failed alone after the batch failed: park it
                await dead_letter(body, record, f"handling failed: {exc!r}", attempts.max_attempts)
            else:
                stored.append((event, outcome))
        return stored

    @broker.subscriber(  # type: ignore[untyped-decorator]  # FastStream overloads lose the type
        topics.interactions,
        decoder=raw_body,
        batch=True,
        max_records=settings.batch_size,
        batch_timeout_ms=settings.batch_timeout_ms,
        fetch_min_bytes=settings.fetch_min_bytes,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        **subscriber_options(settings.timeline_group),
    )
    async def on_batch(bodies: list[bytes], message: KafkaMessage) -> None:
        raw = message.raw_message
        records = raw if isinstance(raw, tuple | list) else (raw,)  # in-memory test broker: one record
        batch: list[Decoded] = []
        for body, record in zip(bodies, records, strict=True):
            try:
                batch.append((decode_interaction(body), body, record))
            except PoisonMessage as exc:
                await dead_letter(body, record, str(exc))
        if not batch:
            return
        events = [event for event, _, _ in batch]
        try:
            stored = list(zip(events, await store(events), strict=True))
        except EventStoreUnavailable:
            raise  # transient: NACK, the batch is redelivered when the store is back
        except EventStoreError:
            stored = await store_one_by_one(batch)
        except Exception:
            first = batch[0][2]
            key = (first.topic, first.partition, first.offset)
            if attempts.failed(key) < attempts.max_attempts:
                raise  # maybe transient after all: NACK and redeliver, a bounded number of times
            attempts.forget(key)
            stored = await store_one_by_one(batch)
        for event, outcome in stored:
            log.info(
                "interaction_duplicate" if outcome.duplicate else "interaction_recorded",
                event_id=str(event.event_id),
                correlation_id=event.correlation_id,
                customer_id=str(outcome.customer_id),
                position=outcome.position,
                merged=[str(m.absorbed) for m in outcome.resolution.merges] if outcome.resolution else [],
            )

    app = FastStream(broker)

    @app.on_startup
    async def prepare() -> None:
        await migrate(dsn)
        await pool.open(wait=True, timeout=30)
        defined = hub_topics(topics)  # partitions, replication and retention are defined once there
        await ensure_topics(settings.kafka_bootstrap, [defined["interactions"], defined["dead_letter"]])

    @app.after_shutdown
    async def close_pool() -> None:
        await pool.close()

    return app, broker
