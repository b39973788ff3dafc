"""The event store across a PostgreSQL restart: appends retry within their bound, or fail loudly, and
nothing is half-written or doubled either way."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from bench.private_stack import PrivateStack
from plumbing.eventstore import EventStoreUnavailable, PostgresEventStore
from plumbing.eventstore.audit import verify_chains
from plumbing.eventstore.postgres import Conn
from tests.support.events import new_events, stream_name

pytestmark = pytest.mark.faults

APPENDS = 40


@pytest.fixture
async def pool(private_database: str) -> AsyncIterator[AsyncConnectionPool[Conn]]:
    """On the session's private PostgreSQL: restarting it disturbs nobody.

    A connection request gives up after a second (the default waits 30 s), so the store's own retry bound,
    not the pool's wait, decides when an outage is too long.
    """
    async with AsyncConnectionPool[Conn](private_database, min_size=1, max_size=8, timeout=1) as opened:
        yield opened


async def chains_intact(dsn: str) -> bool:
    async with await psycopg.AsyncConnection.connect(dsn) as conn, conn.transaction():
        return (await verify_chains(conn)).intact


async def test_appends_running_through_a_postgres_restart_all_land_exactly_once_in_order(
    pool: AsyncConnectionPool[Conn], private_database: str, private: PrivateStack
) -> None:
    postgres, database = private.postgres, private_database
    store = PostgresEventStore(pool, retry_s=60)
    stream = stream_name()
    batches = [new_events(2) for _ in range(APPENDS)]
    halfway = asyncio.Event()

    async def appender() -> list[int]:
        versions = []
        for n, batch in enumerate(batches):
            versions.append((await store.append(stream, batch)).stream_version)
            if n == APPENDS // 2:
                halfway.set()
        return versions

    task = asyncio.create_task(appender())
    await asyncio.wait_for(halfway.wait(), 30)
    await asyncio.to_thread(postgres.stop)
    await asyncio.to_thread(postgres.start)
    versions = await asyncio.wait_for(task, 90)

    stored = await store.read_stream(stream)
    assert versions == [2 * n + 1 for n in range(APPENDS)]
    assert [event.stream_version for event in stored] == list(range(2 * APPENDS))
    assert [event.event_id for event in stored] == [new.event_id for batch in batches for new in batch]
    assert await chains_intact(database)


async def test_an_append_during_an_outage_longer_than_its_bound_fails_loudly_and_writes_nothing(
    pool: AsyncConnectionPool[Conn], private_database: str, private: PrivateStack
) -> None:
    postgres, database = private.postgres, private_database
    store = PostgresEventStore(pool, retry_s=2)
    stream = stream_name()
    await store.append(stream, new_events(1))

    await asyncio.to_thread(postgres.stop)
    try:
        with pytest.raises(EventStoreUnavailable):
            await store.append(stream, new_events(3))
    finally:
        await asyncio.to_thread(postgres.start)

    assert [event.stream_version for event in await store.read_stream(stream)] == [0]
    assert await chains_intact(database)
