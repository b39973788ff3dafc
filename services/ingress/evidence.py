"""The raw evidence of a verified delivery: its bytes in the blob store, its address on the events.

The blob store is content-addressed, so the address is known before the bytes are written: the
ingress points the events at their evidence first (:func:`point_at_evidence`, pure), then stores the
evidence and publishes the events at the same time, and acknowledges only once both are done, so an
acknowledged webhook always has its evidence. A delivery that fails verification is never stored
(anyone could otherwise fill the disk).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import parse_qsl, urlencode, urlsplit

from contracts import BlobRef, Evidence, InteractionEvent, Verification
from plumbing.blobs import BlobStore, blob_ref
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


_KEPT = frozenset(KEPT_HEADERS)


def evidence_of(
    delivery: Delivery, endpoint_path: str, scheme: str, key_index: int, body: BlobRef, verified_at: datetime
) -> Evidence:
    """What the events of ``delivery`` record about it."""
    present: dict[str, str] = {}
    for key, text in delivery.headers.items():  # one pass; a repeated header counts by its first value
        if key in _KEPT:
            present.setdefault(key, text)
    headers = {
        name: value[:_HEADER_CHARS]
        for name in KEPT_HEADERS
        if (value := present.get(name)) is not None and "\x00" not in value
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
    if "?" not in url:
        return url
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


def point_at_evidence(
    delivery: Delivery,
    events: Sequence[InteractionEvent],
    *,
    endpoint_path: str,
    scheme: str,
    key_index: int,
    attachments: Sequence[bytes],
    verified_at: datetime,
) -> list[InteractionEvent]:
    """``events`` pointing at the raw body and the attachments (not stored yet: see :func:`store_evidence`).

    Raises ``ValueError`` when an event references an attachment the endpoint did not hand over (a
    translator bug, never the sender's).
    """
    missing = missing_attachments(events, {blob_ref(data).sha256 for data in attachments})
    if missing:
        raise ValueError(f"events reference attachments that were not stored: {missing}")
    body = blob_ref(delivery.body)
    return with_evidence(events, evidence_of(delivery, endpoint_path, scheme, key_index, body, verified_at))


async def store_evidence(blobs: BlobStore, data: Sequence[bytes]) -> None:
    """Store every blob durably; :class:`EvidenceUnavailable` when the store fails."""
    try:  # together: a batching store writes them as one batch
        if len(data) == 1:
            await blobs.put(data[0])
        else:
            await asyncio.gather(*(blobs.put(each) for each in data))
    except OSError as exc:
        raise EvidenceUnavailable(f"evidence store failed: {exc.strerror or type(exc).__name__}") from exc
