"""Follows the event store's global log like a projection and fetches every file a :class:`Source`
asks for, once. One follower (one checkpoint) per source, so one provider's outage stalls only its own
files.

Guarantees:

* Exactly one outcome per job (a call's recording, one file of a message): stored or unavailable,
  appended to the job's customer stream under the job's derived id. The append and the checkpoint
  commit in one transaction, and the store refuses a second event with that id, so a crash or a
  restart never duplicates an outcome; an outcome already stored is not even downloaded again.
* The bytes are in the blob store (fsynced) before the event that references them is appended.
* A final failure (403, 410, too large, untrusted URL…) is recorded as unavailable and the follower
  moves on. A transient one is retried within the downloader's bound; then the batch is rolled back,
  the checkpoint stays where it was, and the whole batch is tried again after a backoff. So the
  follower stalls on a provider outage rather than losing files; blobs stored for the batch's earlier
  jobs are kept (content-addressed, so fetching them again stores nothing new).

Downloads run inside the batch's transaction (the checkpoint row stays locked, so two instances never
fetch the same batch); the store's append lock is taken only at the end, for the appends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Generic, Protocol, TypeVar
from uuid import UUID

import structlog
from psycopg_pool import AsyncConnectionPool

from contracts import BlobRef, CustomerEvent
from plumbing.blobs import BlobStore
from plumbing.eventstore import Interest, NewEvent, RecordedEvent
from plumbing.eventstore.postgres import Conn, append_locked, lock_appends, stored_positions
from plumbing.projection import BatchObserver, checkpoint, follow
from services.media.download import Media, NotYetFetched, Unfetchable

log = structlog.get_logger()


class Job(Protocol):
    """One file to fetch, and where its outcome goes."""

    @property
    def outcome_id(self) -> UUID: ...

    @property
    def stream_id(self) -> str: ...

    def log_fields(self) -> dict[str, str]:
        """Ids to bind to log lines (never URLs: they may hold tokens)."""
        ...


J = TypeVar("J", bound=Job)


class Source(Protocol[J]):
    """What to fetch from the log, how, and the events that record the outcome."""

    @property
    def name(self) -> str:
        """The follower's checkpoint name."""
        ...

    @property
    def interest(self) -> Interest:
        """The events that may ask for files (the follower is handed no others)."""
        ...

    def jobs(self, recorded: RecordedEvent) -> Sequence[J]:
        """The files ``recorded`` asks for (pure: a replay decides the same way)."""
        ...

    async def fetch(self, job: J) -> Media:
        """The bytes; raises :class:`Unfetchable` or :class:`NotYetFetched`."""
        ...

    def stored(self, job: J, ref: BlobRef, media: Media, now: datetime) -> CustomerEvent: ...

    def unavailable(self, job: J, reason: str, http_status: int | None, now: datetime) -> CustomerEvent: ...

    def gives_up(self, job: J, failure: NotYetFetched, now: datetime) -> bool:
        """Whether a transient failure has lasted long enough to be final (a 404 long after the fact)."""
        ...


class FetchDeferred(Exception):
    """A file could not be fetched yet: the batch is rolled back and retried later."""


class MediaFollower(Generic[J]):
    """The :class:`plumbing.projection.Projection` that turns a source's jobs into outcomes."""

    def __init__(
        self,
        source: Source[J],
        blobs: BlobStore,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.source = source
        self.name = source.name
        self.interest = source.interest
        self._blobs = blobs
        self._clock = clock

    async def apply(self, conn: Conn, events: Sequence[RecordedEvent]) -> None:
        outcomes: list[tuple[str, CustomerEvent]] = []
        for recorded in events:
            for job in self.source.jobs(recorded):
                outcome = await self._outcome(conn, job)
                if outcome is not None:
                    outcomes.append((job.stream_id, outcome))
        if not outcomes:
            return
        await lock_appends(conn)  # held to commit only: downloads are done by now
        for stream_id, outcome in outcomes:
            await append_locked(
                conn, stream_id, [NewEvent(outcome, {"customer_id": str(outcome.customer_id)})]
            )

    async def _outcome(self, conn: Conn, job: J) -> CustomerEvent | None:
        bound = log.bind(follower=self.name, **job.log_fields())
        if await stored_positions(conn, [job.outcome_id]):
            bound.debug("media_outcome_already_stored")  # a replayed log or a reset checkpoint
            return None
        try:
            media = await self.source.fetch(job)
        except Unfetchable as exc:
            bound.warning("media_unavailable", reason=exc.reason, http_status=exc.http_status)
            return self.source.unavailable(job, exc.reason, exc.http_status, self._clock())
        except NotYetFetched as exc:
            now = self._clock()
            if self.source.gives_up(job, exc, now):
                bound.warning("media_unavailable", reason=exc.reason, http_status=exc.http_status)
                return self.source.unavailable(job, exc.reason, exc.http_status, now)
            bound.warning("media_deferred", reason=exc.reason, http_status=exc.http_status)
            raise FetchDeferred(f"{job.outcome_id} deferred: {exc.reason}") from exc
        ref = await self._blobs.put(media.data)
        bound.info("media_stored", sha256=ref.sha256, size_bytes=ref.size_bytes)
        return self.source.stored(job, ref, media, self._clock())


async def _sleep_unless_stopped(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def follow_media(
    pool: AsyncConnectionPool[Conn],
    dsn: str,
    follower: MediaFollower[J],
    stop: asyncio.Event,
    *,
    batch_size: int = 100,
    idle_timeout: float = 2.0,
    backoff_first_s: float = 1.0,
    backoff_max_s: float = 60.0,
    observer: BatchObserver | None = None,
) -> None:
    """Follow the log until ``stop``; a deferred batch is retried after a capped, growing backoff.

    The backoff restarts once the checkpoint has moved (the blocking file got through). A store
    outage beyond :func:`plumbing.projection.follow`'s limit raises, for the supervisor to restart us.
    """
    attempt = 0
    stuck_at = -1
    while not stop.is_set():
        try:
            await follow(
                pool, dsn, follower, stop, batch_size=batch_size, idle_timeout=idle_timeout, observer=observer
            )
        except FetchDeferred:
            position = await checkpoint(pool, follower.name)
            if observer is not None:  # the store answered; the provider is what holds us up
                observer.batch_applied(follower.name, 0, 0.0)
            attempt = attempt + 1 if position == stuck_at else 1
            stuck_at = position
            delay = min(backoff_first_s * 2 ** (attempt - 1), backoff_max_s)
            log.info("media_batch_deferred", follower=follower.name, position=position, retry_in_s=delay)
            await _sleep_unless_stopped(stop, delay)
