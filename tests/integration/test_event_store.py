"""The event store keeps the requirements in its package docstring, against a real PostgreSQL.

Every test gets a fresh migrated database (the ``database`` / ``pool`` fixtures), so counts of rows are
the test's own. The concurrency tests give each writer its own connection, because that is where
commit order and position order can part.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from contracts import ChatMessageReceived, IdentityKind, Sender, event_id_for, normalise_identity, parse_event
from plumbing.eventstore import (
    ANY,
    NO_STREAM,
    EventStoreError,
    EventStoreUnavailable,
    NewEvent,
    PartiallyStoredBatch,
    PostgresEventStore,
    RecordedEvent,
    WrongExpectedVersion,
)
from plumbing.eventstore.postgres import Conn, append_locked, lock_appends, read_all, translated_errors

pytestmark = pytest.mark.integration

UNREACHABLE_DSN = "postgresql://hub@127.0.0.1:1/hub?connect_timeout=2"


def chat_event(tag: str, n: int = 0) -> ChatMessageReceived:
    """A valid inbound chat message with an id of its own (deterministic in ``tag`` and ``n``)."""
    now = datetime.now(UTC)
    message_id = f"{tag}-{n}"
    return ChatMessageReceived(
        event_id=event_id_for("store-test", message_id),
        occurred_at=now,
        received_at=now,
        correlation_id=message_id,
        provider="store-test",
        provider_message_id=message_id,
        sender=Sender(
            identities=(
                normalise_identity(IdentityKind.EMAIL, f"{tag}@example.com"),
                normalise_identity(IdentityKind.HANDLE, tag, provider="store-test"),
            ),
            display_name="Test Person",
        ),
        summary=f"message {n}",
        conversation_id=tag,
    )


def new_events(count: int, tag: str | None = None) -> list[NewEvent]:
    tag = tag or uuid.uuid4().hex
    return [NewEvent(chat_event(tag, n), metadata={"actor": "test", "n": n}) for n in range(count)]


def stream_name() -> str:
    return f"customer-{uuid.uuid4()}"


async def count_rows(pool: AsyncConnectionPool[Conn], table: str) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def full_log(pool: AsyncConnectionPool[Conn]) -> list[int]:
    """Every position in the global log, as the database holds it at the end of a test."""
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT position FROM events ORDER BY position")
        return [int(row[0]) for row in await cur.fetchall()]


async def stream_version(pool: AsyncConnectionPool[Conn], stream_id: str) -> int | None:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT version FROM streams WHERE stream_id = %s", (stream_id,))
        row = await cur.fetchone()
    return None if row is None else int(row[0])


async def insert_raw(conn: Conn, stream_id: str, event: ChatMessageReceived) -> int:
    """The append's two INSERTs, without its lock: the hazard the lock exists for."""
    await conn.execute("INSERT INTO streams (stream_id, version) VALUES (%s, 0)", (stream_id,))
    cur = await conn.execute(
        "INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version, data)"
        " VALUES (%s, %s, 0, %s, %s, %s) RETURNING position",
        (
            event.event_id,
            stream_id,
            event.event_type,
            event.schema_version,
            Jsonb(event.model_dump(mode="json")),
        ),
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def wait_until_blocked_on_advisory_lock(
    observer: Conn, backend_pid: int, deadline_s: float = 5
) -> None:
    """Return once ``backend_pid`` waits for an advisory lock (so "it waits" is observed, not assumed)."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + deadline_s
    while loop.time() < give_up:
        cur = await observer.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND pid = %s",
            (backend_pid,),
        )
        row = await cur.fetchone()
        if row is not None and row[0] > 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"backend {backend_pid} never waited for the append lock")


def positions_of(events: Sequence[RecordedEvent]) -> list[int]:
    return [event.position for event in events]


# --- appending and reading ----------------------------------------------------------------------------


async def test_appending_to_a_new_stream_returns_increasing_positions_and_versions_from_zero(
    pool: AsyncConnectionPool[Conn],
) -> None:
    store = PostgresEventStore(pool)
    stream_id = stream_name()

    result = await store.append(stream_id, new_events(4), NO_STREAM)

    assert len(result.positions) == 4
    assert list(result.positions) == sorted(set(result.positions))
    assert result.stream_version == 3
    assert not result.already_stored
    stored = await store.read_stream(stream_id)
    assert [event.stream_version for event in stored] == [0, 1, 2, 3]
    assert positions_of(stored) == list(result.positions)


async def test_reads_return_events_in_order_with_their_contract_and_metadata_intact(
    pool: AsyncConnectionPool[Conn],
) -> None:
    store = PostgresEventStore(pool)
    first, second = stream_name(), stream_name()
    batches = [(first, new_events(2)), (second, new_events(3)), (first, new_events(1))]
    for stream_id, batch in batches:
        await store.append(stream_id, batch)

    log = await store.read_all()
    first_stream = await store.read_stream(first)
    from_version_one = await store.read_stream(first, from_version=1)

    appended = [(stream_id, new) for stream_id, batch in batches for new in batch]
    assert positions_of(log) == sorted(positions_of(log))
    assert [(event.stream_id, event.event_id) for event in log] == [(s, n.event_id) for s, n in appended]
    for recorded, (_, new) in zip(log, appended, strict=True):
        assert parse_event(recorded.data) == new.event
        assert (recorded.event_type, recorded.schema_version) == (
            new.event.event_type,
            new.event.schema_version,
        )
        assert recorded.metadata == new.metadata
    assert [event.stream_version for event in first_stream] == [0, 1, 2]
    assert [event.event_id for event in first_stream] == [n.event_id for s, n in appended if s == first]
    assert from_version_one == first_stream[1:]
    assert await store.read_all(after_position=log[1].position, limit=2) == log[2:4]


# --- idempotence ----------------------------------------------------------------------------------------


async def test_appending_the_same_batch_again_returns_the_original_positions_and_writes_nothing(
    pool: AsyncConnectionPool[Conn],
) -> None:
    store = PostgresEventStore(pool)
    stream_id = stream_name()
    batch = new_events(3)
    original = await store.append(stream_id, batch, NO_STREAM)

    repeat = await store.append(stream_id, batch, NO_STREAM)

    assert repeat.already_stored
    assert repeat.positions == original.positions
    assert repeat.stream_version == original.stream_version == 2
    assert await count_rows(pool, "events") == 3
    assert await stream_version(pool, stream_id) == 2


async def test_a_batch_mixing_stored_and_new_events_is_refused_and_writes_nothing(
    pool: AsyncConnectionPool[Conn],
) -> None:
    store = PostgresEventStore(pool)
    stream_id = stream_name()
    batch = new_events(4)
    await store.append(stream_id, batch[:2])

    with pytest.raises(PartiallyStoredBatch):
        await store.append(stream_id, batch[1:])

    assert await count_rows(pool, "events") == 2
    assert await stream_version(pool, stream_id) == 1


# --- optimistic concurrency ----------------------------------------------------------------------------


async def test_an_expected_version_that_matches_the_stream_appends(pool: AsyncConnectionPool[Conn]) -> None:
    store = PostgresEventStore(pool)
    stream_id = stream_name()
    await store.append(stream_id, new_events(3), NO_STREAM)

    result = await store.append(stream_id, new_events(2), expected=2)

    assert result.stream_version == 4
    assert [event.stream_version for event in await store.read_stream(stream_id)] == [0, 1, 2, 3, 4]


async def test_a_wrong_expected_version_is_refused_and_writes_nothing(
    pool: AsyncConnectionPool[Conn],
) -> None:
    store = PostgresEventStore(pool)
    stream_id = stream_name()
    await store.append(stream_id, new_events(3), NO_STREAM)

    for wrong in (0, 1, 3):
        with pytest.raises(WrongExpectedVersion) as refused:
            await store.append(stream_id, new_events(1), expected=wrong)
        assert (refused.value.stream_id, refused.value.actual) == (stream_id, 2)
    with pytest.raises(WrongExpectedVersion) as missing:
        await store.append(stream_name(), new_events(1), expected=0)

    assert missing.value.actual == -1
    assert await count_rows(pool, "events") == 3
    assert await count_rows(pool, "streams") == 1
    assert await stream_version(pool, stream_id) == 2


async def test_no_stream_appends_to_a_new_stream_and_is_refused_on_an_existing_one(
    pool: AsyncConnectionPool[Conn],
) -> None:
    store = PostgresEventStore(pool)
    stream_id = stream_name()

    created = await store.append(stream_id, new_events(1), NO_STREAM)
    with pytest.raises(WrongExpectedVersion) as refused:
        await store.append(stream_id, new_events(1), NO_STREAM)

    assert created.stream_version == 0
    assert refused.value.actual == 0
    assert await count_rows(pool, "events") == 1


async def test_any_appends_whatever_the_stream_version_is(pool: AsyncConnectionPool[Conn]) -> None:
    store = PostgresEventStore(pool)
    stream_id = stream_name()

    versions = [(await store.append(stream_id, new_events(2), ANY)).stream_version for _ in range(3)]

    assert versions == [1, 3, 5]
    assert await count_rows(pool, "events") == 6


async def test_concurrent_appends_expecting_the_same_version_let_exactly_one_win(
    pool: AsyncConnectionPool[Conn],
) -> None:
    store = PostgresEventStore(pool)
    stream_id = stream_name()
    await store.append(stream_id, new_events(1), NO_STREAM)

    outcomes = await asyncio.gather(
        *(store.append(stream_id, new_events(1), expected=0) for _ in range(6)), return_exceptions=True
    )

    assert sum(not isinstance(outcome, BaseException) for outcome in outcomes) == 1
    assert sum(isinstance(outcome, WrongExpectedVersion) for outcome in outcomes) == 5
    assert await stream_version(pool, stream_id) == 1
    assert await count_rows(pool, "events") == 2


# --- atomicity and error translation -------------------------------------------------------------------


async def test_a_batch_violating_a_constraint_stores_nothing_and_raises_a_store_error(
    pool: AsyncConnectionPool[Conn],
) -> None:
    store = PostgresEventStore(pool)
    existing, fresh = stream_name(), stream_name()
    await store.append(existing, new_events(1))
    first, second = new_events(2)
    duplicated = [first, second, NewEvent(second.event, metadata={"copy": True})]

    for stream_id in (existing, fresh):
        with pytest.raises(EventStoreError) as refused:
            await store.append(stream_id, duplicated)
        assert not isinstance(refused.value, psycopg.Error)
        assert not isinstance(refused.value, EventStoreUnavailable)  # deterministic, retrying cannot help
        assert isinstance(refused.value.__cause__, psycopg.errors.UniqueViolation)

    assert await count_rows(pool, "events") == 1
    assert await count_rows(pool, "streams") == 1
    assert await stream_version(pool, existing) == 0
    assert await store.read_stream(fresh) == []


async def test_an_unreachable_database_surfaces_as_event_store_unavailable() -> None:
    unreachable = AsyncConnectionPool[Conn](UNREACHABLE_DSN, min_size=1, max_size=1, open=False, timeout=3)
    await unreachable.open(wait=False)
    try:
        store = PostgresEventStore(unreachable)
        with pytest.raises(EventStoreUnavailable):
            await store.append(stream_name(), new_events(1))
    finally:
        await unreachable.close(timeout=1)


async def test_a_refused_connection_is_translated_into_event_store_unavailable() -> None:
    with pytest.raises(EventStoreUnavailable) as refused:
        async with translated_errors():
            await psycopg.AsyncConnection.connect(UNREACHABLE_DSN)

    assert isinstance(refused.value.__cause__, psycopg.OperationalError)


# --- a tailing reader never skips an event that commits late --------------------------------------------

LOCKED_WRITERS = 8
APPENDS_PER_WRITER = 50
STORE_WRITERS = 4
STORE_APPENDS_PER_WRITER = 25


async def locked_writer(dsn: str, writer: int, tag: str) -> list[uuid.UUID]:
    """Appends on its own connection, pausing after the INSERTs and before the commit.

    That pause is where, without the lock, a position taken early would commit late.
    """
    rng = random.Random(writer)
    appended: list[uuid.UUID] = []
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        for n in range(APPENDS_PER_WRITER):
            batch = [NewEvent(chat_event(f"{tag}-w{writer}", n))]
            async with conn.transaction():
                await lock_appends(conn)
                await append_locked(conn, f"customer-{tag}-w{writer}", batch)
                await asyncio.sleep(0 if n % 2 else rng.uniform(0, 0.003))
            appended += [new.event_id for new in batch]
    return appended


async def store_writer(store: PostgresEventStore, writer: int, tag: str) -> list[uuid.UUID]:
    """Appends batches of two through the store's own API, each to a new stream."""
    appended: list[uuid.UUID] = []
    for n in range(STORE_APPENDS_PER_WRITER):
        batch = new_events(2, tag=f"{tag}-s{writer}-{n}")
        await store.append(stream_name(), batch, NO_STREAM)
        appended += [new.event_id for new in batch]
    return appended


async def tail(dsn: str, writers_done: asyncio.Event) -> tuple[list[RecordedEvent], int]:
    """Read the log as a projection does, checkpointing at the last position seen.

    Returns what it saw and how many non-empty reads happened while writers were still running.
    """
    seen: list[RecordedEvent] = []
    reads_during_writes = 0
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        while True:
            finished = writers_done.is_set()  # checked BEFORE reading, so the last read follows every commit
            batch = await read_all(conn, seen[-1].position if seen else 0, 50)
            if batch:
                seen += batch
                reads_during_writes += not finished
            elif finished:
                return seen, reads_during_writes


async def test_a_tailing_reader_sees_every_event_of_concurrent_writers_exactly_once_in_order(
    database: str, pool: AsyncConnectionPool[Conn]
) -> None:
    tag = uuid.uuid4().hex[:12]
    store = PostgresEventStore(pool)
    writers_done = asyncio.Event()
    reader = asyncio.create_task(tail(database, writers_done))

    try:
        written = await asyncio.gather(
            *(locked_writer(database, writer, tag) for writer in range(LOCKED_WRITERS)),
            *(store_writer(store, writer, tag) for writer in range(STORE_WRITERS)),
        )
    finally:
        writers_done.set()
    seen, reads_during_writes = await asyncio.wait_for(reader, 60)

    expected_count = LOCKED_WRITERS * APPENDS_PER_WRITER + STORE_WRITERS * STORE_APPENDS_PER_WRITER * 2
    seen_positions = positions_of(seen)
    assert reads_during_writes > 1, "the reader never overlapped the writers; the test proved nothing"
    assert all(a < b for a, b in itertools.pairwise(seen_positions))
    log = await full_log(pool)
    skipped = sorted(set(log) - set(seen_positions))
    assert seen_positions == log, f"the reader skipped positions {skipped[:20]} that committed late"
    assert len(seen) == expected_count
    assert {event.event_id for event in seen} == {event_id for ids in written for event_id in ids}


async def test_without_the_append_lock_a_reader_skips_an_event_that_commits_late(database: str) -> None:
    """Negative control: the hazard is real, so the test above could fail."""
    tag = uuid.uuid4().hex[:12]
    connect = psycopg.AsyncConnection.connect
    async with (
        await connect(database) as a,
        await connect(database) as b,
        await connect(database, autocommit=True) as reader,
    ):
        async with a.transaction():
            position_a = await insert_raw(a, f"customer-{tag}-a", chat_event(tag, 1))
            async with b.transaction():
                position_b = await insert_raw(b, f"customer-{tag}-b", chat_event(tag, 2))
            seen = await read_all(reader, 0, 100)  # B committed, A still open
            checkpoint = seen[-1].position
        seen += await read_all(reader, checkpoint, 100)  # A committed after the reader moved past it
        cur = await reader.execute("SELECT position FROM events ORDER BY position")
        log = [int(row[0]) for row in await cur.fetchall()]

    assert position_a < position_b
    assert log == [position_a, position_b]
    assert positions_of(seen) == [position_b], "expected the unlocked path to skip the late commit"


async def test_with_the_append_lock_a_second_writer_waits_so_the_reader_never_skips(database: str) -> None:
    tag = uuid.uuid4().hex[:12]
    connect = psycopg.AsyncConnection.connect
    b_inserted, b_may_commit = asyncio.Event(), asyncio.Event()

    async def append_b(b: Conn) -> int:
        async with b.transaction():
            await lock_appends(b)
            position = await insert_raw(b, f"customer-{tag}-b", chat_event(tag, 2))
            b_inserted.set()
            await b_may_commit.wait()
        return position

    async with (
        await connect(database) as a,
        await connect(database) as b,
        await connect(database, autocommit=True) as reader,
    ):
        task_b: asyncio.Task[int] | None = None
        try:
            async with a.transaction():
                await lock_appends(a)
                position_a = await insert_raw(a, f"customer-{tag}-a", chat_event(tag, 1))
                task_b = asyncio.create_task(append_b(b))  # only now, so A surely holds the lock first
                await wait_until_blocked_on_advisory_lock(reader, b.info.backend_pid)
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(b_inserted.wait(), 0.5)  # B is blocked while A is open
                seen = await read_all(reader, 0, 100)
            await asyncio.wait_for(b_inserted.wait(), 5)  # A committed: B takes the lock and inserts
            seen += await read_all(reader, seen[-1].position if seen else 0, 100)  # B not committed yet
            b_may_commit.set()
            position_b = await asyncio.wait_for(task_b, 5)
            seen += await read_all(reader, seen[-1].position if seen else 0, 100)
        finally:
            b_may_commit.set()
            if task_b is not None and not task_b.done():
                task_b.cancel()

    assert position_a < position_b
    assert positions_of(seen) == [position_a, position_b]
