"""Follows the event store's global log like a projection and fetches every call recording once.

Guarantees:

* Exactly one outcome per call with a recording URL: ``RecordingStored`` or ``RecordingUnavailable``,
  appended to the call's customer stream under an id derived from the call's event id. The append and
  the checkpoint commit in one transaction, and the store refuses a second event with that id, so a
  crash or a restart never duplicates an outcome.
* The bytes are in the blob store (fsynced) before the event that references them is appended.
* A final failure (403, 410, too large, untrusted URL, a 404 long after the call) is recorded as
  ``RecordingUnavailable`` and the follower moves on. A transient one (5xx, timeout, 404 shortly after
  the call, 401) is retried within the fetcher's bound; then the batch is rolled back, the checkpoint
  stays where it was, and the whole batch is tried again after a backoff. So the follower stalls on a
  provider outage rather than losing recordings; the blobs stored for the batch's earlier calls are kept
  (content-addressed, so fetching them again stores nothing new).

Downloads run inside the batch's transaction (the checkpoint row stays locked, so two instances never
fetch the same batch); the store's append lock is taken only at the end, for the appends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol
from uuid import UUID

import structlog
from psycopg_pool import AsyncConnectionPool

from contracts import CallRecorded, CustomerEvent
from plumbing.blobs import BlobStore
from plumbing.eventstore import NewEvent, RecordedEvent
from plumbing.eventstore.postgres import Conn, append_locked, lock_appends, stored_positions
from plumbing.projection import checkpoint, follow
from services.recordings.decide import (
    call_to_fetch,
    not_found_is_final,
    outcome_id,
    recording_stored,
    recording_unavailable,
)
from services.recordings.fetch import Media, RecordingNotYetFetched, RecordingUnfetchable

log = structlog.get_logger()

FOLLOWER_NAME = "recordings"


class Fetcher(Protocol):
    """Downloads a recording (see :class:`services.recordings.fetch.RecordingFetcher`)."""

    async def fetch(self, recording_url: str) -> Media: ...


class RecordingDeferred(Exception):
    """A recording could not be fetched yet: the batch is rolled back and retried later."""


class RecordingFollower:
    """The :class:`plumbing.projection.Projection` that turns calls into recording outcomes."""

    name = FOLLOWER_NAME

    def __init__(
        self,
        fetcher: Fetcher,
        blobs: BlobStore,
        *,
        not_found_grace_s: float = 24 * 3600.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._fetcher = fetcher
        self._blobs = blobs
        self._grace_s = not_found_grace_s
        self._clock = clock

    async def apply(self, conn: Conn, events: Sequence[RecordedEvent]) -> None:
        outcomes: list[tuple[str, CustomerEvent]] = []
        for recorded in events:
            outcome = await self._outcome(conn, recorded)
            if outcome is not None:
                outcomes.append((recorded.stream_id, outcome))
        if not outcomes:
            return
        await lock_appends(conn)  # held to commit only: downloads are done by now
        for stream_id, outcome in outcomes:
            await append_locked(
                conn, stream_id, [NewEvent(outcome, {"customer_id": str(outcome.customer_id)})]
            )

    async def _outcome(self, conn: Conn, recorded: RecordedEvent) -> CustomerEvent | None:
        wanted = call_to_fetch(recorded)
        if wanted is None:
            return None
        customer_id, call = wanted
        bound = log.bind(
            call_event_id=str(call.event_id), customer_id=str(customer_id), recording_id=call.recording_id
        )
        if await stored_positions(conn, [outcome_id(call.event_id)]):
            bound.debug("recording_outcome_already_stored")  # a replayed log or a reset checkpoint
            return None
        try:
            media = await self._fetcher.fetch(call.recording_url or "")
        except RecordingUnfetchable as exc:
            bound.warning("recording_unavailable", reason=exc.reason, http_status=exc.http_status)
            return recording_unavailable(call, customer_id, exc.reason, exc.http_status, self._clock())
        except RecordingNotYetFetched as exc:
            return self._not_yet(call, customer_id, exc, bound)
        ref = await self._blobs.put(media.data)
        bound.info("recording_stored", sha256=ref.sha256, size_bytes=ref.size_bytes)
        return recording_stored(call, customer_id, ref, media.content_type, self._clock())

    def _not_yet(
        self,
        call: CallRecorded,
        customer_id: UUID,
        exc: RecordingNotYetFetched,
        bound: structlog.typing.FilteringBoundLogger,
    ) -> CustomerEvent:
        now = self._clock()
        if exc.reason == "not_found" and not_found_is_final(call, now, self._grace_s):
            bound.warning("recording_unavailable", reason="not_found", http_status=exc.http_status)
            return recording_unavailable(call, customer_id, "not_found", exc.http_status, now)
        bound.warning("recording_deferred", reason=exc.reason, http_status=exc.http_status)
        raise RecordingDeferred(f"recording of {call.event_id} deferred: {exc.reason}") from exc


async def _sleep_unless_stopped(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def follow_recordings(
    pool: AsyncConnectionPool[Conn],
    dsn: str,
    follower: RecordingFollower,
    stop: asyncio.Event,
    *,
    batch_size: int = 100,
    idle_timeout: float = 2.0,
    backoff_first_s: float = 1.0,
    backoff_max_s: float = 60.0,
) -> None:
    """Follow the log until ``stop``; a deferred batch is retried after a capped, growing backoff.

    The backoff restarts once the checkpoint has moved (the blocking recording got through). A store
    outage beyond :func:`plumbing.projection.follow`'s limit raises, for the supervisor to restart us.
    """
    attempt = 0
    stuck_at = -1
    while not stop.is_set():
        try:
            await follow(pool, dsn, follower, stop, batch_size=batch_size, idle_timeout=idle_timeout)
        except RecordingDeferred:
            position = await checkpoint(pool, follower.name)
            attempt = attempt + 1 if position == stuck_at else 1
            stuck_at = position
            delay = min(backoff_first_s * 2 ** (attempt - 1), backoff_max_s)
            log.info("recordings_batch_deferred", position=position, retry_in_s=delay)
            await _sleep_unless_stopped(stop, delay)
