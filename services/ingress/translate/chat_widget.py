"""Messages from our own website chat widget -> :class:`ChatMessageReceived`.

The widget backend posts one JSON message per request, signed with the widget secret, and retries
with the same ``message_id``, which is therefore the provider message id::

    {"message_id", "conversation_id", "sent_at", "text",
     "visitor": {"visitor_id", "email"?, "phone"?, "name"?},
     "author"?: {"type": "visitor" | "agent", "agent_id"?}}

``visitor`` is always the customer of the conversation: the backend vouches for ``visitor_id`` (the
body is HMAC-signed, so nobody can post as another visitor). The visitor's email and phone are typed
by the visitor, so a malformed one is dropped; ``visitor_id`` always identifies them.

``author`` says who wrote the message. Absent (as in every payload before it existed) or ``visitor``:
the visitor wrote it, an inbound interaction. ``agent``: one of our agents replied in the widget, an
**outbound** interaction to the visitor, whose ``agent_id`` (when given) is the event's ``agent_id``:
staff effectiveness counts the reply for the staff member ``deploy/staff.toml`` links it to.
"""

from __future__ import annotations

from datetime import datetime

from contracts import ChatMessageReceived, Direction, IdentityKind, Sender
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
#: ``author.type`` -> the direction of the message.
AUTHORS = {"visitor": Direction.INBOUND, "agent": Direction.OUTBOUND}


def translate(
    raw: bytes, *, received_at: datetime, correlation_id: str, default_region: str
) -> list[ChatMessageReceived]:
    """One event per request; raises :class:`InvalidPayload` naming the first missing or bad field."""
    body = load_json(raw)
    message_id = body.required("message_id").ident()
    visitor = body.required("visitor")
    author = body.child("author")
    direction = _direction(author)
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
            direction=direction,
            agent_id=_agent(author) if direction is Direction.OUTBOUND else None,
        )
    return [event]


def _direction(author: Node) -> Direction:
    if author.is_missing():
        return Direction.INBOUND
    kind = author.required("type")
    direction = AUTHORS.get(kind.text())
    if direction is None:
        raise InvalidPayload(f"field {kind.path} must be one of {', '.join(AUTHORS)}")
    return direction


def _agent(author: Node) -> str | None:
    """The replying agent's id, as the widget backend names them (cut to the contract's limit)."""
    agent = author.child("agent_id")
    blank = isinstance(agent.value, str) and not agent.value.strip()
    return None if blank else clip(agent.optional_ident(), 200)


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
