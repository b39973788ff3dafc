"""Contract events published straight to Kafka, for tests of the consumers behind it."""

from __future__ import annotations

from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer

from contracts import ChatMessageReceived, IdentityKind, Sender, event_id_for, normalise_identity
from hub import samples


def chat_events(count: int, people: int, tag: str) -> list[ChatMessageReceived]:
    """``count`` chat messages spread over ``people`` senders (so identities repeat and resolve)."""
    now = datetime.now(UTC)
    events = []
    for n in range(count):
        person = samples.sample_person(f"{tag}-{n % people}")
        message_id = f"{tag}-{n}"
        events.append(
            ChatMessageReceived(
                event_id=event_id_for("widget", message_id),
                occurred_at=now,
                received_at=now,
                correlation_id=message_id,
                provider="widget",
                provider_message_id=message_id,
                sender=Sender(
                    identities=(
                        normalise_identity(IdentityKind.EMAIL, person.email),
                        normalise_identity(IdentityKind.HANDLE, person.visitor_id, provider="widget"),
                    ),
                    display_name=person.name,
                ),
                summary=f"message {n}",
                conversation_id=person.visitor_id,
            )
        )
    return events


async def publish_events(bootstrap: str, topic: str, events: list[ChatMessageReceived]) -> None:
    """Publish with the hub's own safety settings and wait for every acknowledgement."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
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
