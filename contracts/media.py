"""Events about media the hub keeps for an interaction (call recordings, files of chat and social
messages), not interactions themselves.

The bytes never travel in an event: it lives in the content-addressed blob store and the event
carries its :class:`~contracts.evidence.BlobRef`, so events stay small and a reader can check the
bytes it fetches against the hash it was given.
"""

from __future__ import annotations

from typing import ClassVar, Literal
from uuid import UUID

from pydantic import Field

from contracts.customer import CustomerEvent
from contracts.evidence import BlobRef


class RecordingStored(CustomerEvent):
    """The recording of the call ``call_event_id`` (a ``CallRecorded``) is now in the blob store.

    Its id is derived from the call's event id, so fetching the same recording again (a restart, a
    replay) appends nothing new. ``duration_s`` is the recording's own length when the provider
    reported it (not the call's).
    """

    EVENT_TYPE: ClassVar[str] = "customer.recording.stored"
    event_type: Literal["customer.recording.stored"] = "customer.recording.stored"
    schema_version: Literal[1] = 1
    call_event_id: UUID
    call_id: str = Field(min_length=1, max_length=200)
    recording_id: str | None = Field(default=None, max_length=200)
    recording: BlobRef
    content_type: str = Field(min_length=1, max_length=200)
    duration_s: int | None = Field(default=None, ge=0)


class RecordingUnavailable(CustomerEvent):
    """The recording of ``call_event_id`` could not be fetched and will not be tried again.

    ``reason`` is a short machine-readable word (``forbidden``, ``gone``, ``too_large``,
    ``not_found``, ``untrusted_url``...); ``http_status`` is the provider's answer when there was one.
    Recorded so that the follower can move past the call and an operator can see why it has no audio.
    """

    EVENT_TYPE: ClassVar[str] = "customer.recording.unavailable"
    event_type: Literal["customer.recording.unavailable"] = "customer.recording.unavailable"
    schema_version: Literal[1] = 1
    call_event_id: UUID
    call_id: str = Field(min_length=1, max_length=200)
    recording_id: str | None = Field(default=None, max_length=200)
    reason: str = Field(min_length=1, max_length=100)
    http_status: int | None = Field(default=None, ge=100, le=599)


class MediaStored(CustomerEvent):
    """File ``media_index`` of the message ``message_event_id`` (its ``media`` tuple) is in the blob store.

    Its id is ``derived_event_id(message_event_id, "media:<index>")``, shared with
    :class:`MediaUnavailable`: one outcome per file, however often it is fetched again.
    ``content_type`` is what the provider declared or served.
    """

    EVENT_TYPE: ClassVar[str] = "customer.media.stored"
    event_type: Literal["customer.media.stored"] = "customer.media.stored"
    schema_version: Literal[1] = 1
    message_event_id: UUID
    provider: str = Field(min_length=1, max_length=64)
    media_index: int = Field(ge=0, le=100)
    kind: str = Field(min_length=1, max_length=32)
    media: BlobRef
    content_type: str = Field(min_length=1, max_length=200)
    filename: str | None = Field(default=None, max_length=300)


class MediaUnavailable(CustomerEvent):
    """File ``media_index`` of ``message_event_id`` could not be fetched and will not be tried again.

    ``reason`` is a short word (``forbidden``, ``gone``, ``not_found``, ``too_large``,
    ``untrusted_url``, ``rejected``...); ``http_status`` is the provider's answer when there was one.
    """

    EVENT_TYPE: ClassVar[str] = "customer.media.unavailable"
    event_type: Literal["customer.media.unavailable"] = "customer.media.unavailable"
    schema_version: Literal[1] = 1
    message_event_id: UUID
    provider: str = Field(min_length=1, max_length=64)
    media_index: int = Field(ge=0, le=100)
    kind: str = Field(min_length=1, max_length=32)
    reason: str = Field(min_length=1, max_length=100)
    http_status: int | None = Field(default=None, ge=100, le=599)


MEDIA_EVENTS: tuple[type[CustomerEvent], ...] = (
    RecordingStored,
    RecordingUnavailable,
    MediaStored,
    MediaUnavailable,
)
