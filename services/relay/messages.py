"""Pure: a stored event → the Kafka record other teams read from the timeline topic. No I/O.

The record's value is the event's contract JSON exactly as stored (``RecordedEvent.data``), **sealed**:
its personal fields (:mod:`contracts.personal`) hold the ciphertext the store holds, never the opened
values, so forgetting a customer (destroying their key) makes what other teams keep from the topic
unreadable too. The ``sealed`` header carries the event's seal mark as stored (JSON: the key id and the
sealed paths); a consumer that validates with the contracts replaces those paths (e.g. with
``contracts.personal.ERASED``) first, and one that needs a person's details asks the API for them.

Its key is the customer id for a ``customer-<uuid>`` stream and the stream id for any other stream, so one
customer's events share a partition and keep their store order. Headers describe the event without parsing
the body.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from contracts import stream_customer
from plumbing import fast_json
from plumbing.eventstore import RecordedEvent
from plumbing.eventstore.sealing import SEALED

CONTENT_TYPE = "application/json"


@dataclass(frozen=True)
class TimelineRecord:
    """One Kafka record: ``key`` and ``value`` as bytes, ``headers`` as text."""

    key: bytes
    value: bytes
    headers: dict[str, str]
    correlation_id: str


def customer_of(stream_id: str) -> UUID | None:
    """The customer whose stream this is; None for any other stream (including a malformed customer id)."""
    try:
        return stream_customer(stream_id)
    except ValueError:
        return None


def partition_key(stream_id: str) -> str:
    """The customer id of a customer stream, else the stream id: one stream's events share a partition."""
    customer_id = customer_of(stream_id)
    return str(customer_id) if customer_id is not None else stream_id


def record_headers(event: RecordedEvent) -> dict[str, str]:
    """What a consumer needs to route, dedupe (``event_id``) and order (``stream_version``) an event."""
    headers = {
        "content-type": CONTENT_TYPE,
        "event_id": str(event.event_id),
        "event_type": event.event_type,
        "schema_version": str(event.schema_version),
        "stream_id": event.stream_id,
        "stream_version": str(event.stream_version),
        "position": str(event.position),
        "recorded_at": event.recorded_at.isoformat(),
    }
    customer_id = customer_of(event.stream_id)
    if customer_id is not None:
        headers["customer_id"] = str(customer_id)
    mark = event.metadata.get(SEALED)
    if mark is not None:
        headers["sealed"] = fast_json.dumps_sorted(mark).decode()
    return headers


def _correlation_id(event: RecordedEvent) -> str:
    """The event's own correlation id when it has one (traces across hops), else its event id."""
    given = event.data.get("correlation_id")
    return given if isinstance(given, str) and given else str(event.event_id)


def timeline_record(event: RecordedEvent) -> TimelineRecord:
    """The record for ``event`` as stored (read with ``read_all_stored``, not opened); the value is
    compact JSON of the stored contract event, its personal fields sealed."""
    return TimelineRecord(
        key=partition_key(event.stream_id).encode(),
        value=fast_json.dumps_compact(event.data),
        headers=record_headers(event),
        correlation_id=_correlation_id(event),
    )
