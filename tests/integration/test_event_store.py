"""What only the PostgreSQL adapter has to prove: its lock, its error translation and atomicity.

The guarantees every adapter shares run from tests/contract/ (test_postgres_event_store_contract.py).
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

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from contracts import ChatMessageReceived
from plumbing.eventstore import (
    NO_STREAM,
    EventStoreError,
    EventStoreUnavailable,
    NewEvent,
    PostgresEventStore,
    RecordedEvent,
)
from plumbing.eventstore.postgres import Conn, append_locked, lock_appends, read_all, translated_errors
from tests.support.events import chat_event, new_events, stream_name

pytestmark = pytest.mark.integration

UNREACHABLE_DSN = "postgresql://hub@127.0.0.1:1/hub?connect_timeout=2"


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
        store = PostgresEventStore(unreachable, retry_s=1)
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
