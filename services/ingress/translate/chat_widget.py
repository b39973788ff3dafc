"""Messages from our own website chat widget -> :class:`ChatMessageReceived`.

The widget sends one JSON message per request and retries with the same ``message_id``, which is
therefore the provider message id. The visitor's email and phone are typed by the visitor, so a
malformed one is dropped; the widget's ``visitor_id`` always identifies them.
"""

from __future__ import annotations

from datetime import datetime

from contracts import ChatMessageReceived, IdentityKind, Sender
from services.ingress.errors import InvalidPayload
from services.ingress.translate._common import (
    IdentityCandidate,
    Node,
    clip,
    contract_errors,
    event_id,
    load_json,
    sender_identities,
    summarise,
)

PROVIDER = "widget"


def translate(
    raw: bytes, *, received_at: datetime, correlation_id: str, default_region: str
) -> list[ChatMessageReceived]:
    """One event per request; raises :class:`InvalidPayload` naming the first missing or bad field."""
    body = load_json(raw)
    message_id = body.required("message_id").ident()
    visitor = body.required("visitor")
    with contract_errors("chat message"):
        event = ChatMessageReceived(
            event_id=event_id(PROVIDER, message_id),
            occurred_at=body.required("sent_at").aware_datetime(),
            received_at=received_at,
            correlation_id=correlation_id,
            provider=PROVIDER,
            provider_message_id=message_id,
            sender=Sender(
                identities=sender_identities(_candidates(visitor), default_region),
                display_name=clip(visitor.child("name").optional_text(), 200),
            ),
            summary=summarise(_text(body.required("text"))),
            conversation_id=body.required("conversation_id").ident(),
        )
    return [event]


def _candidates(visitor: Node) -> list[IdentityCandidate]:
    visitor_id = visitor.required("visitor_id")
    email = visitor.child("email")
    phone = visitor.child("phone")
    return [
        IdentityCandidate(IdentityKind.HANDLE, visitor_id.ident(), visitor_id.path, PROVIDER),
        IdentityCandidate(IdentityKind.EMAIL, email.optional_text(), email.path),
        IdentityCandidate(IdentityKind.PHONE, phone.optional_text(), phone.path),
    ]


def _text(node: Node) -> str:
    """The message text; an empty string is a valid (if odd) message, a non-string is not."""
    if not isinstance(node.value, str):
        raise InvalidPayload(f"field {node.path} must be a string")
    return node.value
