"""The follower's sources: call recordings (Twilio) and the files of chat and social messages.

Each glues pure decisions (:mod:`~services.media.recordings`, :mod:`~services.media.messages`) to a
fetcher; :class:`~services.media.follower.MediaFollower` does the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from contracts import BlobRef, CallRecorded, CustomerEvent
from plumbing.eventstore import Interest, RecordedEvent
from services.media import messages, recordings
from services.media.download import Media, NotYetFetched, Unfetchable
from services.media.providers import MediaFetcher

#: Checkpoint name of the recordings follower (kept from before chat media were fetched).
RECORDINGS = "recordings"


class RecordingFetcher(Protocol):
    """Downloads a call's recording (see :class:`services.media.twilio.RecordingFetcher`)."""

    async def fetch(self, recording_url: str) -> Media: ...


@dataclass(frozen=True)
class RecordingJob:
    """The recording of ``call``, which lives on ``stream_id``."""

    customer_id: UUID
    stream_id: str
    call: CallRecorded

    @property
    def outcome_id(self) -> UUID:
        return recordings.outcome_id(self.call.event_id)

    def log_fields(self) -> dict[str, str]:
        return {
            "call_event_id": str(self.call.event_id),
            "customer_id": str(self.customer_id),
            "recording_id": self.call.recording_id or "",
        }


class RecordingSource:
    """Every call with a recording URL; a 404 is final only ``not_found_grace_s`` after the call."""

    name = RECORDINGS
    interest = Interest(event_types=frozenset({CallRecorded.EVENT_TYPE}))

    def __init__(self, fetcher: RecordingFetcher, *, not_found_grace_s: float = 24 * 3600.0) -> None:
        self._fetcher = fetcher
        self._grace_s = not_found_grace_s

    def jobs(self, recorded: RecordedEvent) -> Sequence[RecordingJob]:
        wanted = recordings.call_to_fetch(recorded)
        if wanted is None:
            return []
        customer_id, call = wanted
        return [RecordingJob(customer_id, recorded.stream_id, call)]

    async def fetch(self, job: RecordingJob) -> Media:
        return await self._fetcher.fetch(job.call.recording_url or "")

    def stored(self, job: RecordingJob, ref: BlobRef, media: Media, now: datetime) -> CustomerEvent:
        return recordings.recording_stored(job.call, job.customer_id, ref, media.content_type, now)

    def unavailable(
        self, job: RecordingJob, reason: str, http_status: int | None, now: datetime
    ) -> CustomerEvent:
        return recordings.recording_unavailable(job.call, job.customer_id, reason, http_status, now)

    def gives_up(self, job: RecordingJob, failure: NotYetFetched, now: datetime) -> bool:
        return failure.reason == "not_found" and recordings.not_found_is_final(job.call, now, self._grace_s)


class MessageMediaSource:
    """The files of messages from ``providers``, fetched by ``fetcher``; checkpoint ``media:<name>``."""

    def __init__(
        self,
        name: str,
        providers: frozenset[str],
        fetcher: MediaFetcher,
        *,
        max_bytes: int,
        not_found_grace_s: float = 24 * 3600.0,
    ) -> None:
        self.name = f"media:{name}"
        self.interest = Interest(event_types=messages.MESSAGE_EVENT_TYPES, providers=providers)
        self._providers = providers
        self._fetcher = fetcher
        self._max_bytes = max_bytes
        self._grace_s = not_found_grace_s

    def jobs(self, recorded: RecordedEvent) -> Sequence[messages.MediaJob]:
        return messages.media_jobs(recorded, self._providers)

    async def fetch(self, job: messages.MediaJob) -> Media:
        if messages.declared_too_large(job.ref, self._max_bytes):
            raise Unfetchable("too_large")
        return await self._fetcher.fetch(job.ref)

    def stored(self, job: messages.MediaJob, ref: BlobRef, media: Media, now: datetime) -> CustomerEvent:
        return messages.media_stored(job, ref, media.content_type, now)

    def unavailable(
        self, job: messages.MediaJob, reason: str, http_status: int | None, now: datetime
    ) -> CustomerEvent:
        return messages.media_unavailable(job, reason, http_status, now)

    def gives_up(self, job: messages.MediaJob, failure: NotYetFetched, now: datetime) -> bool:
        return failure.reason == "not_found" and messages.not_found_is_final(job.message, now, self._grace_s)
