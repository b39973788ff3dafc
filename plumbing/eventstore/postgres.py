"""PostgreSQL adapter of the event store (psycopg 3, async)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from plumbing.eventstore.errors import (
    EventStoreError,
    EventStoreUnavailable,
    PartiallyStoredBatch,
    WrongExpectedVersion,
)
from plumbing.eventstore.model import ANY, NO_STREAM, AppendResult, ExpectedVersion, NewEvent, RecordedEvent

MIGRATIONS = Path(__file__).parent / "migrations"
#: Channel notified after every append, so tailing readers wake without polling.
NOTIFY_CHANNEL = "hub_events"
#: Key of the transaction-scoped advisory lock that serialises appends (see package docstring).
_APPEND_LOCK_KEY = 0x4855_4245_5645_4E54  # "HUBEVENT"

_COLUMNS = (
    "position, event_id, stream_id, stream_version, event_type, schema_version, data, metadata, recorded_at"
)

Conn = psycopg.AsyncConnection[Any]


@contextlib.asynccontextmanager
async def translated_errors() -> AsyncIterator[None]:
    """Turn driver errors into the store's own: transient ones become :class:`EventStoreUnavailable`."""
    try:
        yield
    except (psycopg.OperationalError, psycopg.errors.AdminShutdown) as exc:
        raise EventStoreUnavailable(str(exc)) from exc
    except psycopg.Error as exc:
        raise EventStoreError(f"{type(exc).__name__}: {exc}") from exc


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
        "SELECT event_id, position, stream_id, stream_version FROM events WHERE event_id = ANY(%s)",
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
    cur = await conn.execute("SELECT version FROM streams WHERE stream_id = %s", (stream_id,))
    row = await cur.fetchone()
    current: int | None = row[0] if row else None
    _check_expected(stream_id, expected, current)
    first = 0 if current is None else current + 1
    positions: list[int] = []
    if current is None:
        await conn.execute("INSERT INTO streams (stream_id, version) VALUES (%s, %s)", (stream_id, first))
    for offset, new in enumerate(events):
        event = new.event
        cur = await conn.execute(
            "INSERT INTO events"
            " (event_id, stream_id, stream_version, event_type, schema_version, data, metadata)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING position",
            (
                event.event_id,
                stream_id,
                first + offset,
                event.event_type,
                event.schema_version,
                Jsonb(event.model_dump(mode="json")),
                Jsonb(new.metadata),
            ),
        )
        inserted = await cur.fetchone()
        assert inserted is not None  # RETURNING always yields the row
        positions.append(inserted[0])
    last_version = first + len(events) - 1
    await conn.execute("UPDATE streams SET version = %s WHERE stream_id = %s", (last_version, stream_id))
    await conn.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, str(positions[-1])))
    return AppendResult(positions=tuple(positions), stream_version=last_version)


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


def _recorded(row: tuple[Any, ...]) -> RecordedEvent:
    return RecordedEvent(*row)


async def read_all(conn: Conn, after_position: int, limit: int) -> list[RecordedEvent]:
    """Events of the global log with ``position > after_position``, in position order."""
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM events WHERE position > %s ORDER BY position LIMIT %s",  # noqa: S608 - constant
        (after_position, limit),
    )
    return [_recorded(row) for row in await cur.fetchall()]


async def read_stream(conn: Conn, stream_id: str, from_version: int = 0) -> list[RecordedEvent]:
    """A stream's events from ``from_version`` on, oldest first."""
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM events WHERE stream_id = %s AND stream_version >= %s"  # noqa: S608 - constant
        " ORDER BY stream_version",
        (stream_id, from_version),
    )
    return [_recorded(row) for row in await cur.fetchall()]


class PostgresEventStore:
    """The event store over a connection pool; each call is its own transaction."""

    def __init__(self, pool: AsyncConnectionPool[Conn]) -> None:
        self._pool = pool

    async def append(
        self, stream_id: str, events: Sequence[NewEvent], expected: ExpectedVersion = ANY
    ) -> AppendResult:
        """Append a batch atomically; an exact repeat returns the original positions."""
        async with translated_errors(), self._pool.connection() as conn, conn.transaction():
            await lock_appends(conn)
            return await append_locked(conn, stream_id, events, expected)

    async def read_stream(self, stream_id: str, from_version: int = 0) -> list[RecordedEvent]:
        async with translated_errors(), self._pool.connection() as conn:
            return await read_stream(conn, stream_id, from_version)

    async def read_all(self, after_position: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        async with translated_errors(), self._pool.connection() as conn:
            return await read_all(conn, after_position, limit)
