"""Pure folds of the card's detail parts: what each interaction kind adds, files and documents, and
the lines, payments and refunds of purchases. Each takes the card being built and one event."""

from __future__ import annotations

from contracts import (
    CallRecorded,
    ChatMessageReceived,
    DocumentAttached,
    EmailReceived,
    InteractionEvent,
    PurchaseRecorded,
    RecordingStored,
    RefundRecorded,
    SocialMessageReceived,
)
from contracts.media import MediaStored
from contracts.read.card_parts import (
    RECENT_DOCUMENTS,
    RECENT_REFUNDS,
    DocumentView,
    InteractionDetails,
    RecordingView,
    RefundView,
)
from contracts.read.customer_card import CustomerCard, PurchaseView

_UNKNOWN_TYPE = "application/octet-stream"


def interaction_details(event: InteractionEvent) -> InteractionDetails | None:
    """The kind-specific facts of a letter, chat, social message or call; None for other kinds."""
    if isinstance(event, EmailReceived):
        return InteractionDetails(
            subject=event.subject or None,
            message_id=event.message_id,
            in_reply_to=event.in_reply_to,
            attachment_count=len(event.attachments),
        )
    if isinstance(event, ChatMessageReceived):
        return InteractionDetails(conversation_id=event.conversation_id)
    if isinstance(event, SocialMessageReceived):
        return InteractionDetails(conversation_id=event.conversation_id, network=event.network)
    if isinstance(event, CallRecorded):
        return InteractionDetails(
            call_id=event.call_id, duration_s=event.duration_s, call_status=event.status, agent=event.agent
        )
    return None


def add_attachments(card: CustomerCard, position: int, event: EmailReceived) -> None:
    """An email's attachments become documents (content-addressed when their bytes were kept)."""
    for attachment in event.attachments:
        _add_document(
            card,
            DocumentView(
                kind="attachment",
                sha256=attachment.sha256,
                size_bytes=attachment.size_bytes,
                content_type=attachment.content_type or _UNKNOWN_TYPE,
                filename=attachment.filename or None,
                event_id=event.event_id,
                position=position,
                occurred_at=event.occurred_at,
            ),
        )


def add_recording(card: CustomerCard, position: int, event: RecordingStored) -> None:
    """A stored call recording: listed with the documents, and referenced from its call."""
    recording = RecordingView(
        sha256=event.recording.sha256,
        size_bytes=event.recording.size_bytes,
        content_type=event.content_type,
        duration_s=event.duration_s,
        event_id=event.event_id,
    )
    for view in card.recent_interactions:
        if view.event_id == event.call_event_id and view.details is not None:
            view.details.recording = recording
    _add_document(
        card,
        DocumentView(
            kind="recording",
            sha256=recording.sha256,
            size_bytes=recording.size_bytes,
            content_type=recording.content_type,
            filename=f"call-{event.call_id}",
            event_id=event.event_id,
            position=position,
            occurred_at=event.occurred_at,
        ),
    )


def add_media(card: CustomerCard, position: int, event: MediaStored) -> None:
    """A stored file of a chat or social message."""
    _add_document(
        card,
        DocumentView(
            kind="media",
            sha256=event.media.sha256,
            size_bytes=event.media.size_bytes,
            content_type=event.content_type,
            filename=event.filename,
            title=event.kind,
            event_id=event.event_id,
            position=position,
            occurred_at=event.occurred_at,
        ),
    )


def add_upload(card: CustomerCard, position: int, event: DocumentAttached) -> None:
    """A document a staff member uploaded."""
    _add_document(
        card,
        DocumentView(
            kind="upload",
            sha256=event.document.sha256,
            size_bytes=event.document.size_bytes,
            content_type=event.content_type,
            filename=event.filename,
            title=event.title,
            event_id=event.event_id,
            position=position,
            occurred_at=event.occurred_at,
            actor=event.actor,
        ),
    )


def _add_document(card: CustomerCard, view: DocumentView) -> None:
    """Newest first by log position (files of one event in their order); the count goes past the cap."""
    card.document_count += 1
    documents = sorted([*card.documents, view], key=lambda d: d.position, reverse=True)  # stable
    card.documents = documents[:RECENT_DOCUMENTS]


def purchase_details(card: CustomerCard, view: PurchaseView, event: PurchaseRecorded) -> None:
    """Lines, payments, per-currency counts, first and last purchase, payment methods."""
    view.lines = list(event.lines)
    view.payments = list(event.payments)
    currency = event.total.currency
    card.purchase_counts[currency] = card.purchase_counts.get(currency, 0) + 1
    at = event.occurred_at
    card.first_purchase_at = at if card.first_purchase_at is None else min(card.first_purchase_at, at)
    card.last_purchase_at = at if card.last_purchase_at is None else max(card.last_purchase_at, at)
    for payment in event.payments:
        method = payment.method or "unknown"
        card.payment_methods[method] = card.payment_methods.get(method, 0) + 1


def refund_details(card: CustomerCard, position: int, event: RefundRecorded) -> None:
    """The refund in the card's recent refunds, and against its order when that is still recent."""
    view = RefundView(
        position=position,
        order_id=event.order_id,
        refund_id=event.refund_id,
        provider=event.provider,
        occurred_at=event.occurred_at,
        amount=event.amount.amount,
        currency=event.amount.currency,
        reason=event.reason,
    )
    card.recent_refunds = [view, *card.recent_refunds][:RECENT_REFUNDS]
    for purchase in card.recent_purchases:
        same_order = purchase.order_id == event.order_id and purchase.provider == event.provider
        if same_order and purchase.currency == event.amount.currency:
            purchase.refunded += event.amount.amount
