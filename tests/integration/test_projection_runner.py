"""The projection runner writes rows and checkpoint together, resumes after a crash and follows live.

The projection under test is a tiny recorder: it writes (position, event_id) of every event it applies
into a table of the test's own, with no unique constraint, so an event applied twice shows up as two
rows instead of an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from contracts import ChatMessageReceived, Envelope
from plumbing.eventstore import Interest, NewEvent, PostgresEventStore, RecordedEvent
from plumbing.eventstore.listen import NOTIFY_CHANNEL, Conn
from plumbing.projection import apply_next_batch, checkpoint, follow, interest_of
from tests.support.events import chat_event, identity_linked

pytestmark = pytest.mark.integration


class ProjectionBroke(RuntimeError):
    """Raised by the recorder on purpose, halfway through a batch."""


class Recorder:
    """A projection that records what it applied; optionally slow, optionally failing at one event."""

    def __init__(self, name: str, *, fail_at: int | None = None, delay_s: float = 0.0) -> None:
        self.name = name
        self.fail_at = fail_at
        self.delay_s = delay_s

    async def apply(self, conn: Conn, events: Sequence[RecordedEvent]) -> None:
        for index, event in enumerate(events):
            if index == self.fail_at:
                raise ProjectionBroke(f"{self.name} broke at position {event.position}")
            await conn.execute(
                "INSERT INTO recorded (projection, position, event_id) VALUES (%s, %s, %s)",
                (self.name, event.position, event.event_id),
            )
            if self.delay_s:
                await asyncio.sleep(self.delay_s)  # widens the window in which a second runner could cut in


@pytest.fixture
async def recorded(pool: AsyncConnectionPool[Conn]) -> AsyncIterator[None]:
    async with pool.connection() as conn:
        await conn.execute(
            "CREATE TABLE recorded (seq bigserial PRIMARY KEY, projection text NOT NULL,"
            " position bigint NOT NULL, event_id uuid NOT NULL)"
        )
    yield


async def append_events(pool: AsyncConnectionPool[Conn], count: int) -> list[int]:
    """Append ``count`` events, one per batch; their positions."""
    store = PostgresEventStore(pool)
    tag = uuid.uuid4().hex
    stream_id = f"customer-{uuid.uuid5(uuid.NAMESPACE_URL, tag)}"
    positions: list[int] = []
    for n in range(count):
        result = await store.append(stream_id, [NewEvent(identity_linked(tag, n))])
        positions += result.positions
    return positions


async def recorded_positions(pool: AsyncConnectionPool[Conn], name: str) -> list[int]:
    """Positions the projection recorded, in the order it applied them."""
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT position FROM recorded WHERE projection = %s ORDER BY seq", (name,))
        return [int(row[0]) for row in await cur.fetchall()]


async def checkpoint_exists(pool: AsyncConnectionPool[Conn], name: str) -> bool:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT 1 FROM projection_checkpoints WHERE name = %s", (name,))
        return await cur.fetchone() is not None


async def drain(pool: AsyncConnectionPool[Conn], projection: Recorder, batch_size: int) -> int:
    """Apply batches until the projection has caught up; how many events that took."""
    total = 0
    while applied := await apply_next_batch(pool, projection, batch_size):
        total += applied
    return total


async def wait_until(condition_met: Callable[[], Awaitable[bool]], deadline_s: float, what: str) -> float:
    """Poll an async predicate until it holds; the seconds it took. Fails after ``deadline_s``."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while not await condition_met():
        if loop.time() - started > deadline_s:
            raise AssertionError(f"not within {deadline_s}s: {what}")
        await asyncio.sleep(0.02)
    return loop.time() - started


async def wait_until_idle(pool: AsyncConnectionPool[Conn], name: str) -> None:
    """Follow's first (empty) batch commits the checkpoint row; from then on it is listening and idle."""
    await wait_until(lambda: checkpoint_exists(pool, name), 10, f"follow of {name} caught up")


async def notify_appended(pool: AsyncConnectionPool[Conn]) -> None:
    """The notification an append sends, without an append: wakes an idle follower."""
    async with pool.connection() as conn:
        await conn.execute("SELECT pg_notify(%s, '')", (NOTIFY_CHANNEL,))


async def stop_follower(follower: asyncio.Task[None], stop: asyncio.Event) -> None:
    stop.set()
    if not follower.done():
        follower.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await follower


async def _recorded_equals(pool: AsyncConnectionPool[Conn], name: str, positions: list[int]) -> bool:
    return await recorded_positions(pool, name) == positions


async def test_a_fresh_runner_resumes_after_the_saved_checkpoint_after_a_crash(
    database: str, pool: AsyncConnectionPool[Conn], recorded: None
) -> None:
    positions = await append_events(pool, 10)
    before_crash = Recorder("cards")
    assert await apply_next_batch(pool, before_crash, 4) == 4
    assert await apply_next_batch(pool, before_crash, 4) == 4
    assert await checkpoint(pool, "cards") == positions[7]

    # the process dies: its pool and projection are gone; a new process starts from the database alone
    async with AsyncConnectionPool[Conn](database, min_size=1, max_size=2) as restarted_pool:
        applied_after_restart = await drain(restarted_pool, Recorder("cards"), 4)

    assert applied_after_restart == 2
    assert await recorded_positions(pool, "cards") == positions
    assert await checkpoint(pool, "cards") == positions[-1]


async def test_a_batch_whose_apply_fails_midway_leaves_neither_rows_nor_an_advanced_checkpoint(
    pool: AsyncConnectionPool[Conn], recorded: None
) -> None:
    positions = await append_events(pool, 6)
    assert await apply_next_batch(pool, Recorder("cards"), 3) == 3

    with pytest.raises(ProjectionBroke):
        await apply_next_batch(pool, Recorder("cards", fail_at=2), 3)  # two rows written, then it breaks

    assert await recorded_positions(pool, "cards") == positions[:3]
    assert await checkpoint(pool, "cards") == positions[2]
    assert await drain(pool, Recorder("cards"), 3) == 3  # the failed batch is applied again, once
    assert await recorded_positions(pool, "cards") == positions


async def test_a_first_batch_that_fails_leaves_the_projection_at_the_start(
    pool: AsyncConnectionPool[Conn], recorded: None
) -> None:
    await append_events(pool, 3)

    with pytest.raises(ProjectionBroke):
        await apply_next_batch(pool, Recorder("cards", fail_at=1), 10)

    assert await recorded_positions(pool, "cards") == []
    assert await checkpoint(pool, "cards") == 0


async def test_follow_wakes_on_notify_and_applies_an_append_made_while_it_idles(
    database: str, pool: AsyncConnectionPool[Conn], recorded: None
) -> None:
    idle_timeout_s = 30.0
    stop = asyncio.Event()
    follower = asyncio.create_task(
        follow(pool, database, Recorder("live"), stop, idle_timeout=idle_timeout_s)
    )
    try:
        await wait_until_idle(pool, "live")
        positions = await append_events(pool, 1)
        took_s = await wait_until(
            lambda: _recorded_equals(pool, "live", positions), 5, "the append was applied by follow"
        )
        stop.set()
        await notify_appended(pool)  # stop is only checked between waits; see the test below
        await asyncio.wait_for(follower, 5)
    finally:
        await stop_follower(follower, stop)

    assert took_s < idle_timeout_s / 3, "applied by the idle timeout's poll, not by the notification"


async def test_follow_survives_a_connection_loss_that_comes_after_it_ran_longer_than_the_outage_limit(
    database: str, pool: AsyncConnectionPool[Conn], recorded: None
) -> None:
    """The outage limit counts from the store's last answer, not from when following began."""
    stop = asyncio.Event()
    follower = asyncio.create_task(
        follow(pool, database, Recorder("long-lived"), stop, idle_timeout=0.2, outage_limit_s=2.0)
    )
    try:
        await wait_until_idle(pool, "long-lived")
        await asyncio.sleep(3.0)  # deliberately outlive the outage limit while healthy
        async with await psycopg.AsyncConnection.connect(database, autocommit=True) as killer:
            await killer.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        positions = await append_events(pool, 2)
        await wait_until(
            lambda: _recorded_equals(pool, "long-lived", positions), 15, "applied after reconnecting"
        )
        assert not follower.done(), "follow gave up on the first failure after a long healthy run"
    finally:
        await stop_follower(follower, stop)


async def test_follow_returns_promptly_when_stopped_while_idle(
    database: str, pool: AsyncConnectionPool[Conn], recorded: None
) -> None:
    stop = asyncio.Event()
    follower = asyncio.create_task(follow(pool, database, Recorder("live"), stop, idle_timeout=30.0))
    try:
        await wait_until_idle(pool, "live")
        stop.set()
        await asyncio.wait_for(follower, 3)
    finally:
        await stop_follower(follower, stop)


async def test_concurrent_runners_of_one_projection_never_apply_an_event_twice(
    pool: AsyncConnectionPool[Conn], recorded: None
) -> None:
    positions = await append_events(pool, 40)
    projection = Recorder("cards", delay_s=0.005)

    rounds: list[list[int]] = []
    while True:
        applied = await asyncio.gather(*(apply_next_batch(pool, projection, 5) for _ in range(4)))
        if not any(applied):
            break
        rounds.append(list(applied))

    assert rounds[0] == [5, 5, 5, 5], "the runners should overlap, each applying a batch of its own"
    assert sum(map(sum, rounds)) == len(positions)
    assert await recorded_positions(pool, "cards") == positions  # each once, in log order
    assert await checkpoint(pool, "cards") == positions[-1]


class Picky(Recorder):
    """A recorder that uses only deal streams and chat messages (its ``interest``)."""

    interest = Interest(
        categories=frozenset({"deal"}), event_types=frozenset({ChatMessageReceived.EVENT_TYPE})
    )


class Choosy(Recorder):
    """A recorder that uses only chat messages of one provider."""

    interest = Interest(
        event_types=frozenset({ChatMessageReceived.EVENT_TYPE}), providers=frozenset({"store-test"})
    )


async def test_a_projection_with_an_interest_is_handed_only_its_events_and_moves_past_the_rest(
    pool: AsyncConnectionPool[Conn], recorded: None
) -> None:
    store = PostgresEventStore(pool)
    tag = uuid.uuid4().hex
    customer = f"customer-{uuid.uuid5(uuid.NAMESPACE_URL, tag)}"
    deal = f"deal-{uuid.uuid4()}"
    elsewhere = chat_event(f"{tag}-x").model_copy(update={"provider": "elsewhere"})

    async def append(stream: str, *events: Envelope) -> list[int]:
        return list((await store.append(stream, [NewEvent(event) for event in events])).positions)

    # Stretches of unused events longer than a batch, before, between and after the used ones.
    links = [identity_linked(tag, n) for n in range(16)]
    before = [p for link in links[:7] for p in await append(customer, link)]
    chat = await append(customer, chat_event(tag))
    other_chat = await append(customer, elsewhere)
    between = [p for link in links[7:12] for p in await append(customer, link)]
    deals = await append(deal, identity_linked(f"{tag}-deal", 0), identity_linked(f"{tag}-deal", 1))
    after = await append(customer, *links[12:])
    everything = before + chat + other_chat + between + deals + after

    picky, choosy = Picky("picky"), Choosy("choosy")
    assert await drain(pool, picky, 3) == len(everything)  # every position passed, used or not
    assert await drain(pool, choosy, 3) == len(everything)

    assert await recorded_positions(pool, "picky") == chat + other_chat + deals
    assert await recorded_positions(pool, "choosy") == chat
    assert await checkpoint(pool, "picky") == await checkpoint(pool, "choosy") == max(everything)
    assert interest_of(picky) == Picky.interest and interest_of(Recorder("all")) is None
