"""The two ways an inbound webhook is refused before it becomes an event.

Messages name the offending field or the failed check, never a value: a refused payload is logged
and dead-lettered, and message bodies and contact details must not leak into logs.
"""

from __future__ import annotations


class InvalidSignature(Exception):
    """The request is not provably from the provider (answer 401; the provider must not retry)."""


class InvalidPayload(ValueError):
    """The body was authentic but cannot be translated into a contract event (answer 400 / dead-letter)."""
