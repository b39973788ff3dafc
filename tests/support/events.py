"""Contract events for store tests: valid, with ids of their own, deterministic in their tag."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from contracts import (
    ChatMessageReceived,
    IdentityKind,
    IdentityLinked,
    Sender,
    event_id_for,
    normalise_identity,
)
from plumbing.eventstore import NewEvent


def chat_event(tag: str, n: int = 0) -> ChatMessageReceived:
    """An inbound chat message (event type ``interaction.chat.received``)."""
    now = datetime.now(UTC)
    message_id = f"{tag}-{n}"
    return ChatMessageReceived(
        event_id=event_id_for("store-test", message_id),
        occurred_at=now,
        received_at=now,
        correlation_id=message_id,
        provider="store-test",
        provider_message_id=message_id,
        sender=Sender(
            identities=(
                normalise_identity(IdentityKind.EMAIL, f"{tag}@example.com"),
                normalise_identity(IdentityKind.HANDLE, tag, provider="store-test"),
            ),
            display_name="Test Person",
        ),
        summary=f"message {n}",
        conversation_id=tag,
    )


def identity_linked(tag: str, n: int = 0) -> IdentityLinked:
    """A ``customer.identity.linked`` event: a second event type for filters."""
    now = datetime.now(UTC)
    return IdentityLinked(
        event_id=event_id_for("store-test-link", f"{tag}-{n}"),
        occurred_at=now,
        received_at=now,
        correlation_id=f"{tag}-{n}",
        customer_id=uuid.uuid5(uuid.NAMESPACE_URL, tag),
        identity=normalise_identity(IdentityKind.EMAIL, f"{tag}-{n}@example.com"),
        rule="test",
        evidence_event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"{tag}-{n}"),
    )


def new_events(count: int, tag: str | None = None) -> list[NewEvent]:
    """``count`` chat events with metadata, under a fresh tag unless one is given."""
    tag = tag or uuid.uuid4().hex
    return [NewEvent(chat_event(tag, n), metadata={"actor": "test", "n": n}) for n in range(count)]


def stream_name(category: str = "customer") -> str:
    return f"{category}-{uuid.uuid4()}"
