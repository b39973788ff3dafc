"""The ways an inbound webhook is refused (or acknowledged without an event) before it becomes one.

Messages name the offending field or the failed check, never a value: a refused payload is logged
and dead-lettered, and message bodies and contact details must not leak into logs.
"""

from __future__ import annotations


class InvalidSignature(Exception):
    """The request is not provably from the provider (answer 401; the provider must not retry)."""

    code = "invalid_signature"


class StaleTimestamp(InvalidSignature):
    """Signed, but the signed timestamp is outside the accepted window: a replay or a skewed clock (401)."""

    code = "stale_timestamp"


class InvalidPayload(ValueError):
    """The body was authentic but cannot be translated into a contract event (answer 422)."""

    code = "invalid_payload"


class UnsupportedEventType(InvalidPayload):
    """Authentic, well formed, but of an event type this endpoint does not know at all (answer 422)."""

    code = "unsupported_event_type"


class IgnoredDelivery(Exception):
    """Authentic and understood, but nothing the hub records (delivery receipts, typing indicators…).

    Answered 2xx, logged and counted with its reason, so the provider does not retry it forever.
    """
