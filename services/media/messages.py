"""Pure decisions about the files of chat and social messages: which logged messages reference media,
the id of each file's outcome, and the events that record it. No I/O, so live following and a replay
decide the same way."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from contracts import (
    BlobRef,
    ChatMessageReceived,
    MediaRef,
    MediaStored,
    MediaUnavailable,
    SocialMessageReceived,
    derived_event_id,
    stream_customer,
)
from plumbing.eventstore import RecordedEvent
from services.media.download import FALLBACK_TYPE

Message = ChatMessageReceived | SocialMessageReceived
_MESSAGE_TYPES: dict[tuple[str, int], type[Message]] = {
    (cls.EVENT_TYPE, cls.SCHEMA_VERSION): cls for cls in (ChatMessageReceived, SocialMessageReceived)
}
#: The event types of messages that may carry files.
MESSAGE_EVENT_TYPES = frozenset(event_type for event_type, _ in _MESSAGE_TYPES)


def media_outcome_id(message_event_id: UUID, index: int) -> UUID:
    """The event id of the outcome of file ``index`` of a message (stored or unavailable alike), so the
    store's ``UNIQUE(event_id)`` allows one outcome per file however often it is fetched."""
    return derived_event_id(message_event_id, f"media:{index}")


@dataclass(frozen=True)
class MediaJob:
    """File ``index`` of ``message``, which lives on ``stream_id`` (customer ``customer_id``)."""

    customer_id: UUID
    stream_id: str
    message: Message
    index: int

    @property
    def ref(self) -> MediaRef:
        return self.message.media[self.index]

    @property
    def outcome_id(self) -> UUID:
        return media_outcome_id(self.message.event_id, self.index)

    def log_fields(self) -> dict[str, str]:
        return {
            "message_event_id": str(self.message.event_id),
            "customer_id": str(self.customer_id),
            "provider": self.message.provider,
            "media_index": str(self.index),
            "media_kind": self.ref.kind,
        }


def media_jobs(recorded: RecordedEvent, providers: Collection[str]) -> list[MediaJob]:
    """One job per media reference of a chat or social message of ``providers`` on a customer stream."""
    cls = _MESSAGE_TYPES.get((recorded.event_type, recorded.schema_version))
    if cls is None:
        return []
    customer_id = stream_customer(recorded.stream_id)
    if customer_id is None:
        return []
    message = cls.model_validate(recorded.data)
    if message.provider not in providers:
        return []
    return [MediaJob(customer_id, recorded.stream_id, message, index) for index in range(len(message.media))]


def declared_too_large(ref: MediaRef, max_bytes: int) -> bool:
    """The provider declared a size over the limit: refused without downloading a byte."""
    return ref.size_bytes is not None and ref.size_bytes > max_bytes


def not_found_is_final(message: Message, now: datetime, grace_s: float) -> bool:
    """An API's 404 long after the message means the file is gone, not a passing mistake."""
    return (now - message.received_at).total_seconds() > grace_s


def content_type_of(served: str, ref: MediaRef) -> str:
    """The served type, unless the server only said "bytes": then what the provider declared."""
    if served != FALLBACK_TYPE:
        return served
    return ref.content_type or served


def _envelope(job: MediaJob, now: datetime) -> dict[str, object]:
    message = job.message
    return {
        "event_id": job.outcome_id,
        "occurred_at": message.occurred_at,
        "received_at": now,
        "correlation_id": message.correlation_id,
        "customer_id": job.customer_id,
        "message_event_id": message.event_id,
        "provider": message.provider,
        "media_index": job.index,
        "kind": job.ref.kind,
    }


def media_stored(job: MediaJob, blob: BlobRef, served_type: str, now: datetime) -> MediaStored:
    """The event saying the file is in the blob store under ``blob``."""
    return MediaStored(
        **MediaStored.type_fields(),
        **_envelope(job, now),
        media=blob,
        content_type=content_type_of(served_type, job.ref),
        filename=job.ref.filename,
    )


def media_unavailable(job: MediaJob, reason: str, http_status: int | None, now: datetime) -> MediaUnavailable:
    """The event saying the file will not be fetched, and why."""
    return MediaUnavailable(
        **MediaUnavailable.type_fields(),
        **_envelope(job, now),
        reason=reason,
        http_status=http_status,
    )
