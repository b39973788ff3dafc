"""Events for audit and replay tests, written straight to the store as the writers would write them:
interactions with raw evidence in a blob store, merges and unmerges."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from contracts import (
    BlobRef,
    ChatMessageReceived,
    CustomerAbsorbed,
    CustomerMergedInto,
    Evidence,
    Identity,
    IdentityKind,
    Sender,
    customer_stream,
    event_id_for,
    normalise_identity,
)
from contracts.evidence import Verification
from plumbing.blobs import FileBlobStore
from plumbing.eventstore import NewEvent, PostgresEventStore
from plumbing.eventstore.postgres import Conn
from services.timeline.store import record_interaction


def email(tag: str) -> Identity:
    return normalise_identity(IdentityKind.EMAIL, f"{tag}@example.com")


async def chat_with_evidence(
    pool: AsyncConnectionPool[Conn], blobs: FileBlobStore, tag: str, text: str, *identities: Identity
) -> tuple[UUID, ChatMessageReceived]:
    """A verified widget message whose raw body is in ``blobs``, recorded by the timeline writer."""
    raw = f'{{"message_id": "{tag}", "text": "{text}"}}'.encode()
    ref = await blobs.put(raw)
    now = datetime.now(UTC)
    event = ChatMessageReceived(
        **ChatMessageReceived.type_fields(),
        event_id=event_id_for("widget", tag),
        occurred_at=now,
        received_at=now,
        correlation_id=tag,
        provider="widget",
        provider_message_id=tag,
        sender=Sender(identities=identities or (email(tag),)),
        summary=text,
        conversation_id=f"conv-{tag}",
        evidence=Evidence(
            body=BlobRef(sha256=ref.sha256, size_bytes=ref.size_bytes),
            content_type="application/json",
            endpoint="/webhooks/chat/widget",
            verification=Verification(
                scheme="hmac-sha256-hex:x-hub-signature-256", key_index=0, verified_at=now
            ),
        ),
    )
    recorded = await record_interaction(pool, event)
    assert recorded.customer_id is not None
    return recorded.customer_id, event


async def merge(
    pool: AsyncConnectionPool[Conn], survivor: UUID, absorbed: UUID, actor: str | None = None
) -> None:
    """A merge as the timeline writer records it: ``CustomerMergedInto`` on the absorbed customer's
    stream, ``CustomerAbsorbed`` on the survivor's (by a staff member when ``actor`` is given)."""
    now = datetime.now(UTC)
    rule = "staff" if actor else "exact_match"
    common = {"occurred_at": now, "received_at": now, "correlation_id": "merge", "rule": rule, "actor": actor}
    common |= {"evidence_event_id": uuid.uuid4()}
    store = PostgresEventStore(pool)
    merged_into = CustomerMergedInto(
        **CustomerMergedInto.type_fields(),
        **common,
        event_id=uuid.uuid4(),
        customer_id=absorbed,
        survivor_id=survivor,
    )
    await store.append(customer_stream(absorbed), [NewEvent(merged_into, {"customer_id": str(absorbed)})])
    absorbed_event = CustomerAbsorbed(
        **CustomerAbsorbed.type_fields(),
        **common,
        event_id=uuid.uuid4(),
        customer_id=survivor,
        absorbed_id=absorbed,
    )
    meta = {"customer_id": str(survivor), **({"actor": actor} if actor else {})}
    await store.append(customer_stream(survivor), [NewEvent(absorbed_event, meta)])
