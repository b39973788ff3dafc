"""Runs a projection over the event store's global log: catch up, then follow it live.

Guarantee: the read model's rows and the projection's checkpoint are written in ONE transaction,
and the checkpoint row is locked for that transaction, so a crash never leaves rows without their
checkpoint (or the reverse) and two instances never apply the same batch. The log is read from the
store, never from Kafka, so a rebuild replays exactly what the live projection saw.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Protocol

import structlog
from psycopg_pool import AsyncConnectionPool
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from plumbing.eventstore import EventStoreUnavailable, Interest, RecordedEvent
from plumbing.eventstore.listen import open_listener, wait_for_append
from plumbing.eventstore.postgres import Conn, LogWindow, read_all, read_of_interest, translated_errors

MIGRATIONS = Path(__file__).parent / "projection_migrations"
#: Reads the log after a position, at most a number of events: :func:`read_all` (opened), or
#: :func:`plumbing.eventstore.postgres.read_all_stored` for a follower that publishes events as stored.
LogReader = Callable[[Conn, int, int], Awaitable[list[RecordedEvent]]]
log = structlog.get_logger()


class Projection(Protocol):
    """A read model fed by the global log.

    One that uses only some events says which with an ``interest`` attribute (an :class:`Interest`; see
    :func:`interest_of`): it is then handed only those, and the rest of the log is not even fetched.
    """

    name: str

    async def apply(self, conn: Conn, events: Sequence[RecordedEvent]) -> None:
        """Write the effect of ``events`` (in position order) inside the caller's transaction."""


class BatchObserver(Protocol):
    """Watches a follower's batches (metrics and health: :mod:`plumbing.projection_metrics`)."""

    def following(self, name: str) -> None:
        """``name`` starts following the log."""

    def batch_applied(self, name: str, events: int, seconds: float) -> None:
        """The store answered a read of the log: ``events`` applied in ``seconds`` (0: caught up)."""


async def _locked_checkpoint(conn: Conn, name: str) -> int:
    """The checkpoint's position, its row locked for the transaction (created at 0 the first time: a
    follower wakes for every append, so the usual case is one statement)."""
    select = "SELECT position FROM projection_checkpoints WHERE name = %s FOR UPDATE"
    row = await (await conn.execute(select, (name,))).fetchone()
    if row is None:
        await conn.execute(
            "INSERT INTO projection_checkpoints (name, position) VALUES (%s, 0)"
            " ON CONFLICT (name) DO NOTHING",
            (name,),
        )
        row = await (await conn.execute(select, (name,))).fetchone()
    assert row is not None  # inserted just above
    return int(row[0])


async def checkpoint(pool: AsyncConnectionPool[Conn], name: str) -> int:
    """The last position a projection has applied (0 before its first batch)."""
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT position FROM projection_checkpoints WHERE name = %s", (name,))
        row = await cur.fetchone()
    return int(row[0]) if row else 0


def interest_of(projection: object) -> Interest | None:
    """The events ``projection`` uses (its ``interest``), or None when it reads every event."""
    interest = getattr(projection, "interest", None)
    return interest if isinstance(interest, Interest) else None


async def read_window(
    conn: Conn, projection: Projection, after: int, limit: int, read: LogReader, upto: int | None = None
) -> LogWindow:
    """The next ``limit`` positions of the log for ``projection`` (none beyond ``upto``): all of their
    events through ``read``, or only those of its :func:`interest_of` (always opened: ``read`` is for
    projections reading every event)."""
    interest = interest_of(projection)
    if interest is not None:
        return await read_of_interest(conn, after, limit, interest, upto)
    events = [event for event in await read(conn, after, limit) if upto is None or event.position <= upto]
    return LogWindow(events, events[-1].position if events else after, len(events))


async def apply_next_batch(
    pool: AsyncConnectionPool[Conn], projection: Projection, batch_size: int, read: LogReader = read_all
) -> int:
    """Apply the next batch after the checkpoint; returns how many positions of the log it moved past
    (the events applied, or for a projection with an interest, those and the ones it does not use)."""
    async with translated_errors(), pool.connection() as conn, conn.transaction():
        position = await _locked_checkpoint(conn, projection.name)
        window = await read_window(conn, projection, position, batch_size, read)
        if not window.scanned:
            return 0
        if window.events:
            await projection.apply(conn, window.events)
        await conn.execute(
            "UPDATE projection_checkpoints SET position = %s, updated_at = now() WHERE name = %s",
            (window.scanned_to, projection.name),
        )
    log.debug(
        "projection_batch",
        projection=projection.name,
        events=len(window.events),
        scanned=window.scanned,
        position=window.scanned_to,
    )
    return window.scanned


def next_batch_size(current: int, applied: int, batch_size: int, catch_up_batch_size: int) -> int:
    """The size of the next batch: doubled (up to ``catch_up_batch_size``) while batches come back full,
    so a follower that is catching up pays its per-batch costs (the checkpoint, each touched card written
    once per batch) over more events; back to ``batch_size`` as soon as it has caught up."""
    if applied < current:
        return batch_size
    return max(batch_size, min(current * 2, catch_up_batch_size))


class _Health:
    """When the store last answered: an outage is measured from there, not from when following began."""

    def __init__(self) -> None:
        self.answered_at = time.monotonic()

    def answered(self) -> None:
        self.answered_at = time.monotonic()

    def silent_for(self) -> float:
        return time.monotonic() - self.answered_at


async def _follow_once(
    pool: AsyncConnectionPool[Conn],
    dsn: str,
    projection: Projection,
    stop: asyncio.Event,
    batch_size: int,
    catch_up_batch_size: int,
    idle_timeout: float,
    health: _Health,
    observer: BatchObserver | None,
    read: LogReader,
) -> None:
    listener = await open_listener(dsn)
    size = batch_size
    try:
        while not stop.is_set():
            started = time.monotonic()
            applied = await apply_next_batch(pool, projection, size, read)
            health.answered()
            if observer is not None:
                observer.batch_applied(projection.name, applied, time.monotonic() - started)
            size = next_batch_size(size, applied, batch_size, catch_up_batch_size)
            if applied == 0:
                await wait_for_append(listener, idle_timeout, stop)
    finally:
        await listener.close()


async def follow(
    pool: AsyncConnectionPool[Conn],
    dsn: str,
    projection: Projection,
    stop: asyncio.Event,
    *,
    batch_size: int = 500,
    catch_up_batch_size: int | None = None,
    idle_timeout: float = 2.0,
    outage_limit_s: float = 60.0,
    observer: BatchObserver | None = None,
    read: LogReader = read_all,
) -> None:
    """Catch up, then stay live (woken by LISTEN/NOTIFY) until ``stop`` is set.

    A lost database connection is retried with backoff; once the store has not answered for longer than
    ``outage_limit_s``, :class:`EventStoreUnavailable` is raised, so the process fails loudly and its
    supervisor restarts it. Nothing is half-applied meanwhile: each batch commits with its checkpoint or
    not at all. ``observer`` hears of every batch (metrics, health); ``read`` reads the log (opened).
    While batches come back full (catching up) they grow to ``catch_up_batch_size`` events (None: they
    stay ``batch_size``).
    """
    health = _Health()
    if observer is not None:
        observer.following(projection.name)
    retrying = AsyncRetrying(
        stop=lambda _state: health.silent_for() > outage_limit_s,
        wait=wait_exponential(multiplier=0.2, max=5),
        retry=retry_if_exception_type(EventStoreUnavailable),
        before_sleep=lambda state: log.warning(
            "projection_store_unavailable", projection=projection.name, attempt=state.attempt_number
        ),
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            try:
                await _follow_once(
                    pool,
                    dsn,
                    projection,
                    stop,
                    batch_size,
                    max(batch_size, catch_up_batch_size or batch_size),
                    idle_timeout,
                    health,
                    observer,
                    read,
                )
            except EventStoreUnavailable:
                await pool.check()  # drop the idle connections the outage broke, not one per retry
                raise
