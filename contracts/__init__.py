"""Versioned event contracts: the one language every Interaction Hub service speaks.

Rules: models are frozen and forbid unknown fields; every event carries a ``schema_version``;
changes are additive only, and a breaking change is a new event type. No I/O lives here.
"""

from contracts.base import Contract, Envelope
from contracts.customer import (
    CUSTOMER_EVENTS,
    CustomerAbsorbed,
    CustomerEvent,
    CustomerMergedInto,
    IdentityLinked,
    customer_stream,
    stream_customer,
)
from contracts.identity import Identity, IdentityKind, InvalidIdentity, normalise_identity
from contracts.ids import derived_event_id, event_id_for
from contracts.interactions import (
    INTERACTION_EVENTS,
    Attachment,
    CallDirection,
    CallRecorded,
    Channel,
    ChatMessageReceived,
    EmailReceived,
    InteractionEvent,
    Money,
    Payment,
    PurchaseLine,
    PurchaseRecorded,
    RefundRecorded,
    Sender,
    SocialMessageReceived,
)
from contracts.registry import UnknownEventType, event_class, parse_event

__all__ = [
    "CUSTOMER_EVENTS",
    "INTERACTION_EVENTS",
    "Attachment",
    "CallDirection",
    "CallRecorded",
    "Channel",
    "ChatMessageReceived",
    "Contract",
    "CustomerAbsorbed",
    "CustomerEvent",
    "CustomerMergedInto",
    "EmailReceived",
    "Envelope",
    "Identity",
    "IdentityKind",
    "IdentityLinked",
    "InteractionEvent",
    "InvalidIdentity",
    "Money",
    "Payment",
    "PurchaseLine",
    "PurchaseRecorded",
    "RefundRecorded",
    "Sender",
    "SocialMessageReceived",
    "UnknownEventType",
    "customer_stream",
    "derived_event_id",
    "event_class",
    "event_id_for",
    "normalise_identity",
    "parse_event",
    "stream_customer",
]
