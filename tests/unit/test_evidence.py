"""The blob store keeps bytes by their hash; evidence records what proves a delivery, no secrets."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.datastructures import Headers

from contracts import Attachment, BlobRef, ChatMessageReceived, EmailReceived, Identity, IdentityKind, Sender
from contracts.ids import event_id_for
from plumbing.blobs import BlobCorrupted, BlobNotFound, FileBlobStore, blob_ref
from services.ingress.delivery import Delivery
from services.ingress.endpoints import ENDPOINTS
from services.ingress.evidence import (
    EvidenceUnavailable,
    evidence_of,
    missing_attachments,
    point_at_evidence,
    public_url_without_secrets,
    store_evidence,
)

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


async def test_a_blob_is_stored_once_under_its_hash_and_read_back_checked(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    data = b"raw webhook body \x00\xff"

    first = await store.put(data)
    again = await store.put(data)

    assert first == again == BlobRef(sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data))
    assert await store.get(first.sha256) == data
    assert await store.exists(first.sha256)
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [first.sha256]


async def test_reading_a_blob_that_was_changed_on_disk_raises_corrupted(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    ref = await store.put(b"original")
    store.path_of(ref.sha256).write_bytes(b"tampered")

    with pytest.raises(BlobCorrupted):
        await store.get(ref.sha256)


async def test_an_unknown_or_malformed_blob_name_is_refused(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    with pytest.raises(BlobNotFound):
        await store.get("0" * 64)
    with pytest.raises(ValueError, match="64 lowercase"):
        await store.get("../../etc/passwd")
    assert not await store.exists(blob_ref(b"never stored").sha256)


def test_evidence_keeps_identifying_headers_and_drops_secrets() -> None:
    delivery = Delivery(
        b"{}",
        Headers(
            {
                "content-type": "application/json",
                "x-shopify-topic": "orders/paid",
                "x-shopify-webhook-id": "b54557e4",
                "authorization": "Basic c2VuZGdyaWQ6c2VjcmV0",
                "x-telegram-bot-api-secret-token": "the-secret",
                "cookie": "session=1",
            }
        ),
        "https://hooks.example.com/webhooks/email/sendgrid?key=the-secret&source=inbound",
    )
    evidence = evidence_of(delivery, "/webhooks/pos/shopify", "scheme-x", 1, blob_ref(b"{}"), AT)

    assert evidence.headers == {
        "content-type": "application/json",
        "x-shopify-topic": "orders/paid",
        "x-shopify-webhook-id": "b54557e4",
    }
    assert evidence.url == "https://hooks.example.com/webhooks/email/sendgrid?source=inbound"
    assert "the-secret" not in evidence.model_dump_json()
    assert (evidence.verification.scheme, evidence.verification.key_index) == ("scheme-x", 1)


def test_a_url_without_a_query_is_kept_as_it_is() -> None:
    url = "https://hooks.example.com:8443/webhooks/voice/twilio"
    assert public_url_without_secrets(url) == url


def _chat() -> ChatMessageReceived:
    return ChatMessageReceived(
        event_id=event_id_for("widget", "m-1"),
        occurred_at=AT,
        received_at=AT,
        correlation_id="c",
        provider="widget",
        provider_message_id="m-1",
        sender=Sender(identities=(Identity(kind=IdentityKind.EMAIL, value="a@example.com"),)),
        conversation_id="conv",
    )


async def test_keeping_evidence_stores_body_and_attachments_and_points_every_event_at_them(
    tmp_path: Path,
) -> None:
    store = FileBlobStore(tmp_path)
    delivery = Delivery(
        b'{"m": 1}', Headers({"content-type": "application/json"}), "http://x/webhooks/chat/widget"
    )
    events = [_chat(), _chat()]

    kept = point_at_evidence(
        delivery,
        events,
        endpoint_path="/webhooks/chat/widget",
        scheme="hmac",
        key_index=0,
        attachments=[b"file one"],
        verified_at=AT,
    )
    await store_evidence(store, (delivery.body, b"file one"))

    assert [event.evidence for event in events] == [None, None]  # the originals are untouched
    assert kept[0].evidence == kept[1].evidence
    assert kept[0].evidence is not None
    assert await store.get(kept[0].evidence.body.sha256) == delivery.body
    assert await store.get(blob_ref(b"file one").sha256) == b"file one"


async def test_a_failing_blob_store_makes_the_evidence_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store's folder should be")
    delivery = Delivery(b"{}", Headers({}), "http://x/")

    with pytest.raises(EvidenceUnavailable):
        await store_evidence(FileBlobStore(blocker), (delivery.body,))


def test_an_attachment_the_endpoint_did_not_hand_over_is_reported_missing() -> None:
    digest = blob_ref(b"pdf").sha256
    email = EmailReceived(
        event_id=event_id_for("mta", "<a@b>"),
        occurred_at=AT,
        received_at=AT,
        correlation_id="c",
        provider="mta",
        provider_message_id="<a@b>",
        sender=Sender(identities=(Identity(kind=IdentityKind.EMAIL, value="a@example.com"),)),
        attachments=(
            Attachment(filename="a.pdf", content_type="application/pdf", size_bytes=3, sha256=digest),
        ),
    )
    assert missing_attachments([email], set()) == [digest]
    assert missing_attachments([email], {digest}) == []


def test_every_endpoint_names_its_verification_scheme() -> None:
    assert all(endpoint.scheme for endpoint in ENDPOINTS)
    assert len({endpoint.path for endpoint in ENDPOINTS}) == len(ENDPOINTS)
