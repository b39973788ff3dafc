"""Contract events published straight to Kafka, for tests of the consumers behind it."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer

from contracts import ChatMessageReceived
from hub.samples import chat_events
from plumbing.kafka import SAFE_PRODUCER

__all__ = ["chat_events", "publish_events"]


async def publish_events(bootstrap: str, topic: str, events: list[ChatMessageReceived]) -> None:
    """Publish with the hub's own safety settings and wait for every acknowledgement."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **SAFE_PRODUCER)
    await producer.start()
    try:
        futures = [
            await producer.send(
                topic, event.model_dump_json().encode(), key=event.sender.identities[0].key.encode()
            )
            for event in events
        ]
        for future in futures:
            await future
    finally:
        await producer.stop()
