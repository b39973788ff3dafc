"""Events cannot be changed, a change made anyway is found, and lost connections are survived.

The attacker is a PostgreSQL superuser (``superuser_dsn``): privileges do not stop one, the trigger does,
and a superuser who also switches triggers off (``session_replication_role = replica``) is caught by
``hub audit verify`` at exactly the event that was changed.
"""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool
from typer.testing import CliRunner

from hub.cli import app
from plumbing.eventstore import AppendResult, PostgresEventStore
from plumbing.eventstore.audit import ChainReport, verify_chains
from plumbing.eventstore.postgres import Conn
from tests.contract.eventstore_contract import subscription, take
from tests.support.events import new_events, stream_name

pytestmark = pytest.mark.integration

CHANGES = {
    "UPDATE": "UPDATE events SET data = data || '{\"summary\": \"forged\"}'::jsonb",
    "DELETE": "DELETE FROM events",
    "TRUNCATE": "TRUNCATE events CASCADE",
}
FORGE = "UPDATE events SET data = data || '{\"summary\": \"forged\"}'::jsonb WHERE position = %s"
RELINK = "UPDATE events e SET hash = event_chain_link(e.prev_hash, e) WHERE position = %s"


async def three_streams(store: PostgresEventStore) -> dict[str, AppendResult]:
    """Three streams of five events each."""
    streams = sorted(stream_name() for _ in "abc")
    return {stream: await store.append(stream, new_events(5)) for stream in streams}


async def verify(dsn: str, stream_id: str | None = None) -> ChainReport:
    async with await psycopg.AsyncConnection.connect(dsn) as conn, conn.transaction():
        return await verify_chains(conn, stream_id)


async def as_attacker(superuser_dsn: str, *statements: tuple[str, tuple[object, ...]]) -> None:
    """Run statements as a superuser with triggers switched off, as a deliberate tamperer would."""
    async with await psycopg.AsyncConnection.connect(superuser_dsn) as conn, conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        for statement, params in statements:
            await conn.execute(statement, params)  # type: ignore[arg-type]


# --- immutability ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", list(CHANGES))
async def test_the_application_role_may_not_update_delete_or_truncate_events(
    pool: AsyncConnectionPool[Conn], operation: str
) -> None:
    store = PostgresEventStore(pool)
    stream = stream_name()
    await store.append(stream, new_events(2))

    async with pool.connection() as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied for table events"):
            await conn.execute(CHANGES[operation])

    assert len(await store.read_stream(stream)) == 2


@pytest.mark.parametrize("operation", list(CHANGES))
async def test_even_a_superuser_is_stopped_by_the_trigger(
    pool: AsyncConnectionPool[Conn], superuser_dsn: str, operation: str
) -> None:
    store = PostgresEventStore(pool)
    stream = stream_name()
    await store.append(stream, new_events(2))

    async with await psycopg.AsyncConnection.connect(superuser_dsn) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="events are immutable"):
            await conn.execute(CHANGES[operation])

    assert len(await store.read_stream(stream)) == 2
    assert (await verify(superuser_dsn)).intact


# --- tamper evidence ------------------------------------------------------------------------------------


async def test_an_untouched_store_verifies_intact_with_every_stream_and_event_counted(
    pool: AsyncConnectionPool[Conn], database: str
) -> None:
    store = PostgresEventStore(pool)
    streams = await three_streams(store)

    report = await verify(database)
    again = await verify(database)

    assert report.intact, report.broken
    assert (report.streams, report.events) == (3, 15)
    assert report.digest == again.digest
    await store.append(next(iter(streams)), new_events(1))
    assert (await verify(database)).digest != report.digest, "the digest must move with the store"


async def test_an_event_edited_by_a_superuser_breaks_the_chain_at_exactly_that_event(
    pool: AsyncConnectionPool[Conn], database: str, superuser_dsn: str
) -> None:
    store = PostgresEventStore(pool)
    streams = await three_streams(store)
    victim_stream = sorted(streams)[1]
    victim = (await store.read_stream(victim_stream))[2]

    await as_attacker(
        superuser_dsn,
        (FORGE, (victim.position,)),
    )
    report = await verify(database)

    assert [(link.stream_id, link.stream_version, link.position) for link in report.broken] == [
        (victim_stream, 2, victim.position)
    ]
    assert "edited" in report.broken[0].reason
    assert report.broken[0].event_id == victim.event_id
    assert (await verify(database, sorted(streams)[0])).intact


async def test_an_edit_whose_hash_was_recomputed_breaks_the_link_to_the_next_event(
    pool: AsyncConnectionPool[Conn], database: str, superuser_dsn: str
) -> None:
    store = PostgresEventStore(pool)
    stream = stream_name()
    await store.append(stream, new_events(4))
    victim = (await store.read_stream(stream))[1]

    await as_attacker(
        superuser_dsn,
        (FORGE, (victim.position,)),
        (RELINK, (victim.position,)),
    )
    report = await verify(database, stream)

    assert [(link.stream_version, link.reason) for link in report.broken] == [
        (2, "prev_hash does not match the previous event's hash")
    ]


async def test_deleted_events_are_reported_as_missing_versions(
    pool: AsyncConnectionPool[Conn], database: str, superuser_dsn: str
) -> None:
    store = PostgresEventStore(pool)
    middle, tail = stream_name(), stream_name()
    await store.append(middle, new_events(4))
    await store.append(tail, new_events(4))

    await as_attacker(
        superuser_dsn,
        ("DELETE FROM events WHERE stream_id = %s AND stream_version = 1", (middle,)),
        ("DELETE FROM events WHERE stream_id = %s AND stream_version = 3", (tail,)),
    )
    report = {link.stream_id: link for link in (await verify(database)).broken}

    assert report[middle].stream_version == 2
    assert report[middle].reason == "version 1 is missing (found 2 next)"
    assert report[tail].stream_version == 3 and report[tail].position is None
    assert "records version 3" in report[tail].reason


async def test_hub_audit_verify_exits_non_zero_and_names_the_broken_link(
    pool: AsyncConnectionPool[Conn], database: str, superuser_dsn: str
) -> None:
    store = PostgresEventStore(pool)
    streams = sorted(await three_streams(store))
    victim = (await store.read_stream(streams[0]))[4]
    runner = CliRunner()
    env = {"HUB_PG_DSN": database}

    intact = await asyncio.to_thread(runner.invoke, app, ["audit", "verify"], env=env)
    await as_attacker(
        superuser_dsn,
        ("UPDATE events SET metadata = '{}'::jsonb WHERE position = %s", (victim.position,)),
    )
    broken = await asyncio.to_thread(runner.invoke, app, ["audit", "verify"], env=env)
    other = await asyncio.to_thread(runner.invoke, app, ["audit", "verify", "--stream", streams[1]], env=env)

    assert intact.exit_code == 0, intact.output
    assert "streams: 3  events: 15" in intact.output and "intact" in intact.output
    assert broken.exit_code == 1, broken.output
    assert f"BROKEN {streams[0]} at version 4 (position {victim.position}" in broken.output
    assert other.exit_code == 0, other.output


# --- connection loss ---------------------------------------------------------------------------------


async def terminate_other_backends(dsn: str) -> int:
    """Kill every other connection to the test's database, as a failover or restart would."""
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def test_an_append_after_its_connections_were_killed_is_retried_and_stored_once(
    pool: AsyncConnectionPool[Conn], database: str
) -> None:
    store = PostgresEventStore(pool, retry_s=20)
    stream = stream_name()
    await store.append(stream, new_events(2))

    assert await terminate_other_backends(database) >= 1
    result = await store.append(stream, new_events(2))

    assert result.stream_version == 3
    assert [event.stream_version for event in await store.read_stream(stream)] == [0, 1, 2, 3]


async def test_a_live_subscription_is_woken_by_notify_not_by_polling(pool: AsyncConnectionPool[Conn]) -> None:
    store = PostgresEventStore(pool)
    stream = stream_name()
    first = await store.append(stream, new_events(1))
    events = store.subscribe(first.last_position - 1, idle_s=300)  # a poll would come after 5 minutes
    try:
        await take(events, 1)
        appended = await store.append(stream, new_events(1))
        woken = await take(events, 1, deadline_s=20)
    finally:
        await events.aclose()

    assert woken[0].position == appended.last_position


async def test_a_subscription_whose_connections_were_killed_reconnects_and_misses_nothing(
    pool: AsyncConnectionPool[Conn], database: str
) -> None:
    store = PostgresEventStore(pool, retry_s=20)
    stream = stream_name()
    first = await store.append(stream, new_events(2))
    async with subscription(store, first.positions[0] - 1) as events:
        before = await take(events, 2)
        assert await terminate_other_backends(database) >= 2  # the pool's and the listener's
        second = await store.append(stream, new_events(3))
        after = await take(events, 3)

    assert [event.position for event in before + after] == [*first.positions, *second.positions]
