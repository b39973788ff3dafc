"""PostgreSQL adapter of the event store (psycopg 3, async)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import psycopg
import structlog
from psycopg.types.json import Jsonb, JsonDumpsFunction
from psycopg_pool import AsyncConnectionPool
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from plumbing import fast_json
from plumbing.eventstore.errors import (
    EventStoreError,
    EventStoreUnavailable,
    PartiallyStoredBatch,
    WrongExpectedVersion,
)
from plumbing.eventstore.listen import NOTIFY_CHANNEL as NOTIFY_CHANNEL
from plumbing.eventstore.listen import Conn as Conn
from plumbing.eventstore.listen import open_listener, wait_for_append
from plumbing.eventstore.model import (
    ANY,
    EVERYTHING,
    NO_STREAM,
    AppendResult,
    EventFilter,
    ExpectedVersion,
    Interest,
    NewEvent,
    RecordedEvent,
)
from plumbing.eventstore.sealing import Sealable, open_sealed, seal

MIGRATIONS = Path(__file__).parent / "migrations"
#: Key of the transaction-scoped advisory lock that serialises appends (see package docstring).
_APPEND_LOCK_KEY = 0x4855_4245_5645_4E54  # "HUBEVENT"

_COLUMNS = (
    "position, event_id, stream_id, stream_version, event_type, schema_version, data, metadata, recorded_at"
)

log = structlog.get_logger()
fast_json.install()  # every read of the log parses jsonb with orjson (a visible part of rebuilds)


@contextlib.asynccontextmanager
async def translated_errors() -> AsyncIterator[None]:
    """Turn driver errors into the store's own: transient ones become :class:`EventStoreUnavailable`."""
    try:
        yield
    except (psycopg.OperationalError, psycopg.errors.AdminShutdown) as exc:
        raise EventStoreUnavailable(str(exc)) from exc
    except psycopg.Error as exc:
        raise EventStoreError(f"{type(exc).__name__}: {exc}") from exc


@contextlib.asynccontextmanager
async def autocommitted(conn: Conn) -> AsyncIterator[Conn]:
    """``conn`` (idle, out of any transaction) in autocommit mode for a few single-statement reads, then
    back as it was. Without it psycopg sends BEGIN before the first statement and the pool a ROLLBACK
    when the connection comes back: two more round trips on every API read."""
    await conn.set_autocommit(True)
    try:
        yield conn
    finally:
        await conn.set_autocommit(False)


async def lock_appends(conn: Conn) -> None:
    """Take the append lock for the rest of ``conn``'s transaction.

    Positions are then handed out in commit order, because the lock is released only after the
    transaction is visible. Anything else done in the same transaction (the identity index) is
    serialised with the append.
    """
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_APPEND_LOCK_KEY,))


async def stored_positions(conn: Conn, event_ids: Sequence[UUID]) -> dict[UUID, tuple[int, str, int]]:
    """For the given ids already stored: ``event_id -> (position, stream_id, stream_version)``."""
    cur = await conn.execute(
        "SELECT event_id, position, stream_id, stream_version FROM events WHERE event_id = ANY(%b::uuid[])",
        (list(event_ids),),
    )
    return {row[0]: (row[1], row[2], row[3]) for row in await cur.fetchall()}


async def append_locked(
    conn: Conn, stream_id: str, events: Sequence[NewEvent], expected: ExpectedVersion = ANY
) -> AppendResult:
    """Append inside the caller's transaction, which must already hold :func:`lock_appends`."""
    if not events:
        raise ValueError("an append needs at least one event")
    stored = await stored_positions(conn, [e.event_id for e in events])
    if stored:
        return _repeat_of_stored_batch(events, stored)
    current = await _current_versions(conn, [stream_id])
    _check_expected(stream_id, expected, current.get(stream_id))
    (result,) = await _write_locked(conn, [(stream_id, events)], current)
    return result


async def append_streams_locked(
    conn: Conn, appends: Sequence[tuple[str, Sequence[NewEvent]]]
) -> list[AppendResult]:
    """Several appends (any expected version) in a few statements, however many there are.

    For a writer that batches: one upsert that moves the streams' versions and says where each now ends,
    one key lookup (sealing), one INSERT and one notification for the lot. In pipeline mode the upsert and
    the key lookup share a round trip. A stream may come more than once; its appends follow each other
    in the order given. The events must not be stored yet (the caller checked their ids in the same
    locked transaction); a repeat fails on the unique event id.
    """
    if not appends or not all(events for _, events in appends):
        raise ValueError("an append needs at least one event")
    counts: dict[str, int] = {}
    for stream_id, events in appends:
        counts[stream_id] = counts.get(stream_id, 0) + len(events)
    moved = sorted(counts.items())
    cur = await conn.execute(  # before the events: they reference their stream
        "INSERT INTO streams (stream_id, version)"
        " SELECT s, n - 1 FROM unnest(%b::text[], %b::bigint[]) AS moved(s, n)"
        " ON CONFLICT (stream_id) DO UPDATE SET version = streams.version + EXCLUDED.version + 1"
        " RETURNING stream_id, version",
        ([stream for stream, _ in moved], [count for _, count in moved]),
    )
    rows = await _sealed(conn, [(stream_id, new) for stream_id, events in appends for new in events])
    ends: dict[str, int] = {stream: version for stream, version in await cur.fetchall()}
    current = {stream: ends[stream] - count for stream, count in counts.items() if ends[stream] >= count}
    return await _write_numbered(conn, appends, current, rows, dumps=fast_json.dumps)


async def _current_versions(conn: Conn, streams: Sequence[str]) -> dict[str, int]:
    """stream -> its current version, for the streams that exist."""
    cur = await conn.execute(
        "SELECT stream_id, version FROM streams WHERE stream_id = ANY(%s)", (sorted(set(streams)),)
    )
    return {stream: version for stream, version in await cur.fetchall()}


def _numbered(
    appends: Sequence[tuple[str, Sequence[NewEvent]]], current: dict[str, int]
) -> tuple[list[tuple[str, int, NewEvent]], list[int], dict[str, int]]:
    """Each event with its stream version after ``current``; each append's last version; each stream's."""
    numbered: list[tuple[str, int, NewEvent]] = []
    last = dict(current)
    last_versions = []
    for stream_id, events in appends:
        first = last[stream_id] + 1 if stream_id in last else 0
        numbered.extend((stream_id, first + n, new) for n, new in enumerate(events))
        last[stream_id] = first + len(events) - 1
        last_versions.append(last[stream_id])
    return numbered, last_versions, last


async def _write_locked(
    conn: Conn, appends: Sequence[tuple[str, Sequence[NewEvent]]], current: dict[str, int]
) -> list[AppendResult]:
    """Number the events per stream after ``current``, move the streams' versions, insert, notify."""
    _, _, last = _numbered(appends, current)
    moved = sorted((stream, last[stream]) for stream in {s for s, _ in appends})
    await conn.execute(  # before the events: they reference their stream
        "INSERT INTO streams (stream_id, version) SELECT * FROM unnest(%s::text[], %s::bigint[])"
        " ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version",
        ([stream for stream, _ in moved], [version for _, version in moved]),
    )
    rows = await _sealed(conn, [(stream_id, new) for stream_id, events in appends for new in events])
    return await _write_numbered(conn, appends, current, rows)


async def _write_numbered(
    conn: Conn,
    appends: Sequence[tuple[str, Sequence[NewEvent]]],
    current: dict[str, int],
    rows: Sequence[Sealable],
    dumps: JsonDumpsFunction | None = None,
) -> list[AppendResult]:
    """Insert the sealed ``rows`` of ``appends`` numbered after ``current`` (the streams moved already)."""
    numbered, last_versions, _ = _numbered(appends, current)
    positions = await _insert_events(conn, numbered, rows, dumps)
    await conn.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, str(max(positions.values()))))
    return [
        AppendResult(positions=tuple(positions[new.event.event_id] for new in events), stream_version=version)
        for (_, events), version in zip(appends, last_versions, strict=True)
    ]


async def _sealed(conn: Conn, events: Sequence[tuple[str, NewEvent]]) -> list[Sealable]:
    """The rows to insert, personal fields sealed (:mod:`plumbing.eventstore.sealing`), so the hash chain
    the database computes over each row covers their ciphertext."""
    return await seal(
        conn,
        [
            (
                stream,
                Sealable(
                    new.event.event_id, new.event.event_type, new.event.model_dump(mode="json"), new.metadata
                ),
            )
            for stream, new in events
        ],
    )


async def _insert_events(
    conn: Conn,
    numbered: Sequence[tuple[str, int, NewEvent]],
    rows: Sequence[Sealable],
    dumps: JsonDumpsFunction | None = None,
) -> dict[UUID, int]:
    """One INSERT for all ``(stream, version, event)`` rows, in the order given; event id -> position.

    The database chains each row to the stream's previous one (hence the order)."""
    cur = await conn.execute(
        "INSERT INTO events"
        " (event_id, stream_id, stream_version, event_type, schema_version, data, metadata)"
        " SELECT e.event_id, e.stream_id, e.stream_version, e.event_type, e.schema_version, e.data, e.meta"
        " FROM unnest(%(ids)b::uuid[], %(streams)b::text[], %(versions)b::bigint[], %(types)b::text[],"
        "   %(schemas)b::int[], %(data)b::jsonb[], %(meta)b::jsonb[])"
        "   WITH ORDINALITY"
        "   AS e(event_id, stream_id, stream_version, event_type, schema_version, data, meta, n)"
        " ORDER BY e.n RETURNING event_id, position",
        {
            "ids": [new.event.event_id for _, _, new in numbered],
            "streams": [stream for stream, _, _ in numbered],
            "versions": [version for _, version, _ in numbered],
            "types": [new.event.event_type for _, _, new in numbered],
            "schemas": [new.event.schema_version for _, _, new in numbered],
            "data": [Jsonb(row.data, dumps) for row in rows],
            "meta": [Jsonb(row.metadata, dumps) for row in rows],
        },
    )
    return {event_id: position for event_id, position in await cur.fetchall()}


def _repeat_of_stored_batch(
    events: Sequence[NewEvent], stored: dict[UUID, tuple[int, str, int]]
) -> AppendResult:
    if len(stored) != len(events):
        raise PartiallyStoredBatch(
            f"{len(stored)} of {len(events)} events of the batch are already stored; append refused"
        )
    found = [stored[e.event_id] for e in events]
    return AppendResult(
        positions=tuple(position for position, _, _ in found),
        stream_version=max(version for _, _, version in found),
        already_stored=True,
    )


def _check_expected(stream_id: str, expected: ExpectedVersion, current: int | None) -> None:
    if expected is ANY:
        return
    actual = -1 if current is None else current
    if expected is NO_STREAM:
        if current is not None:
            raise WrongExpectedVersion(stream_id, "no stream", actual)
    elif expected != current:
        raise WrongExpectedVersion(stream_id, expected, actual)


async def _opened(conn: Conn, rows: Sequence[tuple[Any, ...]]) -> list[RecordedEvent]:
    """Stored rows as events, their sealed personal fields opened (or erased: the key is destroyed)."""
    await open_sealed(conn, [(row[1], row[6], row[7]) for row in rows])
    return [RecordedEvent(*row) for row in rows]


async def read_all(conn: Conn, after_position: int, limit: int) -> list[RecordedEvent]:
    """Events of the global log with ``position > after_position``, in position order."""
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM events WHERE position > %s ORDER BY position LIMIT %s",  # noqa: S608 - constant
        (after_position, limit),
    )
    return await _opened(conn, await cur.fetchall())


#: One round trip: the stretch's size and last position (always one row), joined to the events of it
#: the interest wants (none: their columns are null).
_OF_INTEREST = f"""
WITH stretch AS (
  SELECT position FROM events
   WHERE position > %(after)s AND (%(upto)s::bigint IS NULL OR position <= %(upto)s::bigint)
   ORDER BY position LIMIT %(limit)s
), edge AS (SELECT count(*) AS scanned, max(position) AS scanned_to FROM stretch)
SELECT edge.scanned, edge.scanned_to, {", ".join(f"e.{c.strip()}" for c in _COLUMNS.split(","))}
  FROM edge LEFT JOIN events e
    ON e.position > %(after)s AND e.position <= edge.scanned_to
   AND (split_part(e.stream_id, '-', 1) = ANY(%(categories)s::text[])
        OR e.event_type = ANY(%(types)s::text[]))
   AND (%(providers)s::text[] IS NULL OR e.data->>'provider' = ANY(%(providers)s::text[]))
 ORDER BY e.position
"""  # noqa: S608 - constant


@dataclass(frozen=True)
class LogWindow:
    """A stretch of the log read for an :class:`Interest`: the events it wants, the last position of the
    stretch (where its reader's checkpoint moves, wanted events or not) and how many positions it held
    (0: nothing newer)."""

    events: list[RecordedEvent]
    scanned_to: int
    scanned: int


async def read_of_interest(
    conn: Conn, after_position: int, limit: int, interest: Interest, upto: int | None = None
) -> LogWindow:
    """The next ``limit`` positions after ``after_position`` (none beyond ``upto``), and of them the
    events ``interest`` wants, opened as :func:`read_all` opens them. Only those are fetched: the rest of
    the stretch never leaves the store, however many of its events a follower does not use."""
    cur = await conn.execute(
        _OF_INTEREST,
        {
            "after": after_position,
            "upto": upto,
            "limit": limit,
            "categories": sorted(interest.categories),
            "types": sorted(interest.event_types),
            "providers": None if interest.providers is None else sorted(interest.providers),
        },
    )
    rows = await cur.fetchall()
    scanned, scanned_to = int(rows[0][0]), rows[0][1]
    if not scanned:
        return LogWindow([], after_position, 0)
    return LogWindow(
        await _opened(conn, [row[2:] for row in rows if row[2] is not None]), scanned_to, scanned
    )


async def read_all_stored(conn: Conn, after_position: int, limit: int) -> list[RecordedEvent]:
    """Like :func:`read_all`, but as stored: sealed personal fields stay ciphertext and the seal mark
    stays in the metadata. For what leaves the hub (the timeline relay), so a forget reaches it too."""
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM events WHERE position > %s ORDER BY position LIMIT %s",  # noqa: S608 - constant
        (after_position, limit),
    )
    return [RecordedEvent(*row) for row in await cur.fetchall()]


async def read_all_filtered(
    conn: Conn, after_position: int, limit: int, event_filter: EventFilter
) -> tuple[list[RecordedEvent], int]:
    """The events matching ``event_filter`` among the next ``limit`` positions after ``after_position``,
    and the last position scanned (``after_position`` when the log holds nothing newer).

    Scanning a window and filtering inside it lets a subscription move past long stretches of events it
    does not want without shipping them, while still never skipping one (positions are visible in order).
    """
    cur = await conn.execute(
        "SELECT max(position) FROM"
        " (SELECT position FROM events WHERE position > %s ORDER BY position LIMIT %s) AS scanned",
        (after_position, limit),
    )
    row = await cur.fetchone()
    scanned_to = row[0] if row and row[0] is not None else after_position
    if scanned_to == after_position:
        return [], after_position
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM events"  # noqa: S608 - constant
        " WHERE position > %(after)s AND position <= %(upto)s"
        " AND (cardinality(%(categories)s::text[]) = 0"
        "      OR split_part(stream_id, '-', 1) = ANY(%(categories)s::text[]))"
        " AND (cardinality(%(types)s::text[]) = 0 OR event_type = ANY(%(types)s::text[]))"
        " ORDER BY position",
        {
            "after": after_position,
            "upto": scanned_to,
            "categories": sorted(event_filter.categories),
            "types": sorted(event_filter.event_types),
        },
    )
    return await _opened(conn, await cur.fetchall()), scanned_to


async def read_stream(conn: Conn, stream_id: str, from_version: int = 0) -> list[RecordedEvent]:
    """A stream's events from ``from_version`` on, oldest first."""
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM events WHERE stream_id = %s AND stream_version >= %s"  # noqa: S608 - constant
        " ORDER BY stream_version",
        (stream_id, from_version),
    )
    return await _opened(conn, await cur.fetchall())


async def read_stream_until(conn: Conn, stream_id: str, until_position: int) -> list[RecordedEvent]:
    """A stream's events with ``position <= until_position``, oldest first: the stream as it stood then."""
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM events WHERE stream_id = %s AND position <= %s"  # noqa: S608 - constant
        " ORDER BY position",
        (stream_id, until_position),
    )
    return await _opened(conn, await cur.fetchall())


async def read_events(conn: Conn, event_ids: Sequence[UUID]) -> list[RecordedEvent]:
    """The stored events among ``event_ids``, in position order (unknown ids are left out)."""
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM events WHERE event_id = ANY(%s) ORDER BY position",  # noqa: S608 - constant
        (list(event_ids),),
    )
    return await _opened(conn, await cur.fetchall())


T = TypeVar("T")


class PostgresEventStore:
    """The event store over a connection pool; each call is its own transaction.

    A lost connection or a restarting server is retried for up to ``retry_s`` seconds (appends are
    idempotent by event id, so a retried append whose first try did commit returns the stored positions),
    then :class:`EventStoreUnavailable` is raised.
    """

    def __init__(self, pool: AsyncConnectionPool[Conn], *, retry_s: float = 30.0) -> None:
        self._pool = pool
        self._retry_s = retry_s

    def _connection(self) -> contextlib.AbstractAsyncContextManager[Conn]:
        """A pooled connection, waited for no longer than the retry budget (the pool's own default is
        30 s, which would make ``retry_s`` no bound at all while the server is down)."""
        return self._pool.connection(timeout=self._retry_s)

    async def _retrying(self, operation: Callable[[], Awaitable[T]]) -> T:
        retrying = AsyncRetrying(
            stop=stop_after_delay(self._retry_s),
            wait=wait_exponential(multiplier=0.1, max=2),
            retry=retry_if_exception_type(EventStoreUnavailable),
            before_sleep=lambda state: log.warning("event_store_retry", attempt=state.attempt_number),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await operation()
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover

    async def append(
        self, stream_id: str, events: Sequence[NewEvent], expected: ExpectedVersion = ANY
    ) -> AppendResult:
        """Append a batch atomically; an exact repeat returns the original positions."""

        async def attempt() -> AppendResult:
            async with translated_errors(), self._connection() as conn, conn.transaction():
                await lock_appends(conn)
                return await append_locked(conn, stream_id, events, expected)

        return await self._retrying(attempt)

    async def read_stream(self, stream_id: str, from_version: int = 0) -> list[RecordedEvent]:
        async def attempt() -> list[RecordedEvent]:
            async with translated_errors(), self._connection() as conn:
                return await read_stream(conn, stream_id, from_version)

        return await self._retrying(attempt)

    async def read_all(self, after_position: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        async def attempt() -> list[RecordedEvent]:
            async with translated_errors(), self._connection() as conn:
                return await read_all(conn, after_position, limit)

        return await self._retrying(attempt)

    async def _read_window(
        self, after_position: int, limit: int, event_filter: EventFilter
    ) -> tuple[list[RecordedEvent], int]:
        async def attempt() -> tuple[list[RecordedEvent], int]:
            async with translated_errors(), self._connection() as conn:
                return await read_all_filtered(conn, after_position, limit, event_filter)

        return await self._retrying(attempt)

    async def subscribe(
        self,
        after_position: int = 0,
        event_filter: EventFilter = EVERYTHING,
        *,
        batch_size: int = 500,
        idle_s: float = 2.0,
    ) -> AsyncIterator[RecordedEvent]:
        """Catch up from ``after_position``, then deliver new events as they commit (woken by NOTIFY).

        The listener is opened before the first read, so no append between the catch-up and going live
        is missed. A broken connection is re-opened (bounded by ``retry_s`` per outage); the reader
        resumes after the last event it delivered.
        """
        conninfo = self._pool.conninfo
        if not isinstance(conninfo, str):
            raise TypeError("a subscription needs a pool opened with a conninfo string")
        scanned_to = after_position
        while True:
            listener = await self._retrying(lambda: open_listener(conninfo))
            try:
                while True:
                    previous = scanned_to
                    events, scanned_to = await self._read_window(previous, batch_size, event_filter)
                    for event in events:
                        yield event
                    if scanned_to == previous:
                        await wait_for_append(listener, idle_s)
            except EventStoreUnavailable as exc:
                log.warning("subscription_reconnecting", position=scanned_to, error=str(exc))
            finally:
                await listener.close()

    async def close(self) -> None:
        """The pool belongs to the caller, who closes it; nothing of the store's own to release."""
