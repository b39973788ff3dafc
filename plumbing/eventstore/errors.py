"""The event store's own exceptions; psycopg errors never leak past the store."""

from __future__ import annotations


class EventStoreError(Exception):
    """Base of every event store error."""


class EventStoreUnavailable(EventStoreError):
    """The database could not be reached or the connection broke: transient, safe to retry."""


class WrongExpectedVersion(EventStoreError):
    """The stream is not at the version the caller expected (optimistic concurrency)."""

    def __init__(self, stream_id: str, expected: object, actual: int) -> None:
        super().__init__(f"stream {stream_id!r} is at version {actual}, expected {expected}")
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


class PartiallyStoredBatch(EventStoreError):
    """Some events of a batch are already stored and some are not: refused, nothing written."""
