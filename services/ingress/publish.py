"""Publishing contract events to Kafka, acknowledged by all in-sync replicas, within a deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka.errors import KafkaError
from faststream.kafka import KafkaBroker

from contracts import InteractionEvent


class PublishFailed(Exception):
    """Kafka did not confirm in time: the webhook must not be acknowledged."""


def partition_key(event: InteractionEvent) -> bytes:
    """The sender's first identity: one person's messages on one channel keep their order."""
    return event.sender.identities[0].key.encode()


async def publish_all(
    broker: KafkaBroker, topic: str, events: Sequence[InteractionEvent], timeout_s: float
) -> None:
    """Publish every event and wait for every acknowledgement, or raise :class:`PublishFailed`.

    A partial success is safe: the provider retries the whole delivery, and the timeline writer
    drops the events it already has (same deterministic event ids).
    """
    sends = [
        broker.publish(
            event.model_dump_json().encode(),
            topic,
            key=partition_key(event),
            headers={"event_type": event.event_type, "content-type": "application/json"},
            correlation_id=event.correlation_id,
        )
        for event in events
    ]
    try:
        async with asyncio.timeout(timeout_s):
            await asyncio.gather(*sends)
    except (TimeoutError, KafkaError, ConnectionError) as exc:
        raise PublishFailed(f"Kafka did not confirm: {type(exc).__name__}") from exc
