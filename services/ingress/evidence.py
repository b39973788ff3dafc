"""The raw evidence of a verified delivery: its bytes in the blob store, its address on the events.

Stored before Kafka is asked, so an acknowledged webhook always has its evidence; a delivery that
fails verification is never stored (anyone could otherwise fill the disk).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import parse_qsl, urlencode, urlsplit

from contracts import BlobRef, Evidence, InteractionEvent, Verification
from plumbing.blobs import BlobStore
from services.ingress.delivery import Delivery

#: Headers worth keeping: they identify, date or sign a delivery. Secret-bearing ones
#: (``Authorization``, Telegram's secret token) are deliberately absent.
KEPT_HEADERS = (
    "content-type",
    "user-agent",
    "x-request-id",
    "x-hub-signature-256",
    "x-shopify-topic",
    "x-shopify-hmac-sha256",
    "x-shopify-webhook-id",
    "x-shopify-shop-domain",
    "x-shopify-api-version",
    "x-shopify-triggered-at",
    "x-shopify-event-id",
    "x-square-hmacsha256-signature",
    "square-version",
    "x-twilio-signature",
    "i-twilio-idempotency-token",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
)
_HEADER_CHARS = 1000
#: Query parameters that may carry a secret (SendGrid's ``key``): dropped from the recorded URL.
_SECRET_PARAMETERS = frozenset({"key", "token", "secret", "password", "signature", "sig", "access_token"})


def evidence_of(
    delivery: Delivery, endpoint_path: str, scheme: str, key_index: int, body: BlobRef, verified_at: datetime
) -> Evidence:
    """What the events of ``delivery`` record about it."""
    headers = {
        name: value[:_HEADER_CHARS]
        for name in KEPT_HEADERS
        if (value := delivery.headers.get(name)) is not None and "\x00" not in value
    }
    return Evidence(
        body=body,
        content_type=(delivery.headers.get("content-type") or "")[:300] or None,
        endpoint=endpoint_path[:300],
        url=public_url_without_secrets(delivery.url)[:2000],
        headers=headers,
        verification=Verification(scheme=scheme, key_index=key_index, verified_at=verified_at),
    )


def public_url_without_secrets(url: str) -> str:
    """``url`` with secret-bearing query parameters removed (the rest stays: Twilio signs it)."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    kept = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in _SECRET_PARAMETERS
    ]
    return parts._replace(query=urlencode(kept)).geturl()


def with_evidence(events: Sequence[InteractionEvent], evidence: Evidence) -> list[InteractionEvent]:
    """The same events, each pointing at the delivery they came from."""
    return [event.model_copy(update={"evidence": evidence}) for event in events]


def missing_attachments(events: Sequence[InteractionEvent], stored: set[str]) -> list[str]:
    """Attachment hashes the events reference but the endpoint did not hand over for storage."""
    referenced = {
        attachment.sha256
        for event in events
        for attachment in getattr(event, "attachments", ())
        if attachment.sha256 is not None
    }
    return sorted(referenced - stored)


class EvidenceUnavailable(RuntimeError):
    """The blob store could not keep the evidence: the delivery must not be acknowledged."""


async def keep_evidence(
    blobs: BlobStore,
    delivery: Delivery,
    events: Sequence[InteractionEvent],
    *,
    endpoint_path: str,
    scheme: str,
    key_index: int,
    attachments: Sequence[bytes],
    verified_at: datetime,
) -> list[InteractionEvent]:
    """Store the raw body and the attachments, then return ``events`` pointing at them.

    Raises :class:`EvidenceUnavailable` when the store fails, and ``ValueError`` when an event
    references an attachment the endpoint did not hand over (a translator bug, never the sender's).
    """
    try:  # together: a batching store writes them as one batch
        body, *kept = await asyncio.gather(*(blobs.put(data) for data in (delivery.body, *attachments)))
    except OSError as exc:
        raise EvidenceUnavailable(f"evidence store failed: {exc.strerror or type(exc).__name__}") from exc
    missing = missing_attachments(events, {ref.sha256 for ref in kept})
    if missing:
        raise ValueError(f"events reference attachments that were not stored: {missing}")
    return with_evidence(events, evidence_of(delivery, endpoint_path, scheme, key_index, body, verified_at))
