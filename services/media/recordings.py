"""Pure decisions of the recordings fetcher: which logged events need a download, and the events
that record the outcome. No I/O, so live following and a replay decide the same way."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from contracts import BlobRef, CallRecorded, derived_event_id, stream_customer
from contracts.media import RecordingStored, RecordingUnavailable
from plumbing.eventstore import RecordedEvent

#: Purpose of the derived id; shared by both outcomes, so a call can only ever get one of them.
OUTCOME_PURPOSE = "recording"


def outcome_id(call_event_id: UUID) -> UUID:
    """The event id of a call's recording outcome (stored or unavailable).

    One id for both outcomes: the store's ``UNIQUE(event_id)`` then guarantees at most one outcome per
    call, and a re-run after a crash appends nothing new.
    """
    return derived_event_id(call_event_id, OUTCOME_PURPOSE)


def call_to_fetch(recorded: RecordedEvent) -> tuple[UUID, CallRecorded] | None:
    """``(customer id, call)`` when ``recorded`` is a call on a customer stream with a recording URL."""
    if (recorded.event_type, recorded.schema_version) != (
        CallRecorded.EVENT_TYPE,
        CallRecorded.SCHEMA_VERSION,
    ):
        return None
    customer_id = stream_customer(recorded.stream_id)
    if customer_id is None:
        return None
    call = CallRecorded.model_validate(recorded.data)
    return (customer_id, call) if call.recording_url else None


def not_found_is_final(call: CallRecorded, now: datetime, grace_s: float) -> bool:
    """A 404 long after the call means the recording was deleted, not that it is still processing."""
    return (now - call.received_at).total_seconds() > grace_s


def _envelope(call: CallRecorded, customer_id: UUID, now: datetime) -> dict[str, object]:
    return {
        "event_id": outcome_id(call.event_id),
        "occurred_at": call.occurred_at,
        "received_at": now,
        "correlation_id": call.correlation_id,
        "customer_id": customer_id,
        "call_event_id": call.event_id,
        "call_id": call.call_id,
        "recording_id": call.recording_id,
    }


def recording_stored(
    call: CallRecorded, customer_id: UUID, ref: BlobRef, content_type: str, now: datetime
) -> RecordingStored:
    """The event saying the call's audio is in the blob store under ``ref``."""
    return RecordingStored(
        **RecordingStored.type_fields(),
        **_envelope(call, customer_id, now),
        recording=ref,
        content_type=content_type,
    )


def recording_unavailable(
    call: CallRecorded, customer_id: UUID, reason: str, http_status: int | None, now: datetime
) -> RecordingUnavailable:
    """The event saying the call's audio will not be fetched, and why."""
    return RecordingUnavailable(
        **RecordingUnavailable.type_fields(),
        **_envelope(call, customer_id, now),
        reason=reason,
        http_status=http_status,
    )
