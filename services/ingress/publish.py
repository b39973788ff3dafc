"""Publishing contract events to Kafka, acknowledged by all in-sync replicas, within a deadline.

The ingress publishes through a bare aiokafka producer made by :func:`plumbing.kafka.make_producer`
(``acks=all``, idempotent): FastStream's publish path cost more per webhook than the send itself. The
producer batches what the webhooks being handled at the same moment publish (``linger_ms``), and
:func:`publish_all` returns only once every record of the delivery is acknowledged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped, unused-ignore]
from aiokafka.errors import KafkaError

from contracts import InteractionEvent

_JSON = b"application/json"


class PublishFailed(Exception):
    """Kafka did not confirm in time: the webhook must not be acknowledged."""


def partition_key(event: InteractionEvent) -> bytes:
    """The sender's first identity: one person's messages on one channel keep their order."""
    return event.sender.identities[0].key.encode()


def record_headers(event: InteractionEvent) -> list[tuple[str, bytes]]:
    """What consumers may read without decoding the value (as the FastStream publisher set them)."""
    return [
        ("event_type", event.event_type.encode()),
        ("content-type", _JSON),
        ("correlation_id", event.correlation_id.encode()),
    ]


class Publication:
    """The records of one delivery, handed to the producer, which sends them in the background."""

    def __init__(self, acknowledgements: list[asyncio.Future[Any]], deadline: float) -> None:
        self._acknowledgements = acknowledgements
        self._deadline = deadline

    async def confirmed(self) -> None:
        """Return once Kafka acknowledged every record (all in-sync replicas), or raise
        :class:`PublishFailed` when one failed or the deadline passed."""
        try:
            async with asyncio.timeout_at(self._deadline):
                for acknowledgement in self._acknowledgements:
                    await acknowledgement
        except (TimeoutError, KafkaError, ConnectionError) as exc:
            raise PublishFailed(f"Kafka did not confirm: {type(exc).__name__}") from exc


async def start_publishing(
    producer: AIOKafkaProducer, topic: str, events: Sequence[InteractionEvent], timeout_s: float
) -> Publication:
    """Hand every event to the producer and return without waiting for Kafka, so the caller can do other
    work (store the evidence) meanwhile; :meth:`Publication.confirmed` waits. Raises
    :class:`PublishFailed` when the producer cannot take them within ``timeout_s`` (which also bounds
    the wait for the acknowledgements)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    try:
        async with asyncio.timeout_at(deadline):
            acknowledgements = [
                await producer.send(
                    topic,
                    event.model_dump_json().encode(),
                    key=partition_key(event),
                    headers=record_headers(event),
                )
                for event in events
            ]
    except (TimeoutError, KafkaError, ConnectionError) as exc:
        raise PublishFailed(f"Kafka did not take the records: {type(exc).__name__}") from exc
    return Publication(acknowledgements, deadline)


async def publish_all(
    producer: AIOKafkaProducer, topic: str, events: Sequence[InteractionEvent], timeout_s: float
) -> None:
    """Publish every event and wait for every acknowledgement, or raise :class:`PublishFailed`.

    A partial success is safe: the provider retries the whole delivery, and the timeline writer drops
    the events it already has (same deterministic event ids).
    """
    await (await start_publishing(producer, topic, events, timeout_s)).confirmed()
