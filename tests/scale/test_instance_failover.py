"""Several instances of the consumers: two timeline writers share a consumer group, two projection
instances share one checkpoint row. Killing one under load leaves the survivor to finish, and nothing is
lost or applied twice. These run on the shared Kafka and PostgreSQL (nothing there is stopped), each test
with its own database, topics and group."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped, unused-ignore]
from aiokafka.admin import AIOKafkaAdminClient  # type: ignore[import-untyped, unused-ignore]
from psycopg_pool import AsyncConnectionPool

from hub.stack import Infra
from plumbing.eventstore import PostgresEventStore, RecordedEvent
from plumbing.eventstore.postgres import Conn
from plumbing.kafka import bootstrap_servers
from plumbing.projection import apply_next_batch, checkpoint
from projections.customer_card.store import CustomerCardProjection
from tests.scale.instances import (
    create_hub_topics,
    stable_members,
    start_instance,
    stop_instances,
    wait_until,
)
from tests.support.deployables import RunningHub
from tests.support.events import new_events, stream_name
from tests.support.rebuild import copy_log
from tests.support.store import interaction_counts, streams_are_contiguous
from tests.support.traffic import chat_events, publish_events

pytestmark = [pytest.mark.scale, pytest.mark.timeout(400)]

INSTANCES = ["timeline", "timeline-a", "timeline-b", "projections-a", "projections-b"]


@pytest.fixture
def hub(infra: Infra, database: str, tmp_path: Path) -> Iterator[RunningHub]:
    running = RunningHub(infra=infra, dsn=database, run_dir=tmp_path)
    yield running
    stop_instances(running, INSTANCES)


async def _lagging_partitions(bootstrap: str, topic: str, group: str) -> int:
    """Partitions whose committed offset is behind the end: where work was left when we looked."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers(bootstrap))
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers(bootstrap), enable_auto_commit=False)
    await admin.start()
    await probe.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        (described,) = await admin.describe_topics([topic])
        partitions = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
        ends = await probe.end_offsets(partitions)
    finally:
        await probe.stop()
        await admin.close()
    done = {tp: meta.offset for tp, meta in committed.items()}
    return sum(1 for tp, end in ends.items() if done.get(tp, 0) < end)


async def test_two_timeline_writers_share_the_partitions_and_the_survivor_of_a_kill_stores_all_once(
    hub: RunningHub,
) -> None:
    bootstrap, total, people = hub.infra.kafka_bootstrap, 3000, 200
    await create_hub_topics(hub)  # six partitions: three for each writer
    small_batches = {"HUB_BATCH_SIZE": "50"}  # many commits, so a kill lands between them
    start_instance(hub, "timeline-a", "timeline", **small_batches)
    start_instance(hub, "timeline-b", "timeline", **small_batches)

    async def both_joined() -> bool:
        return await stable_members(bootstrap, hub.group) == 2

    await wait_until(both_joined, 60, "both writers in the consumer group")
    await publish_events(bootstrap, hub.topics.interactions, chat_events(total, people, uuid.uuid4().hex[:8]))

    async def both_busy() -> bool:
        return interaction_counts(hub.dsn)[0] >= 300 and all(
            "interaction_recorded" in hub.log(name) for name in ("timeline-a", "timeline-b")
        )

    await wait_until(both_busy, 90, "both writers storing events")
    lagging = await _lagging_partitions(bootstrap, hub.topics.interactions, hub.group)
    hub.kill("timeline-a")
    stored_at_kill, _ = interaction_counts(hub.dsn)
    assert stored_at_kill < total, "the writers finished before one could be killed; raise `total`"
    # more partitions with work left than the survivor held: some of them were the killed writer's
    assert lagging > 3, f"only {lagging} partitions had work left; the kill proves no takeover"

    async def everything_stored() -> bool:
        return interaction_counts(hub.dsn)[0] >= total

    await wait_until(everything_stored, 180, "the survivor to store every event")
    await asyncio.sleep(1)  # let a doubled write, if any, land before counting
    assert interaction_counts(hub.dsn) == (total, total)
    assert streams_are_contiguous(hub.dsn)
    with psycopg.connect(hub.dsn) as conn:
        customers = conn.execute("SELECT count(DISTINCT customer_id) FROM identity_index").fetchone()
    assert customers == (people,)


class _Spy:
    """Records which runner applied which position, in the runner's transaction."""

    name = "scale-spy"

    def __init__(self, runner: str) -> None:
        self.runner = runner

    async def apply(self, conn: Conn, events: Sequence[RecordedEvent]) -> None:
        await asyncio.sleep(0.01)  # hold the checkpoint lock a while, so the other runner queues behind
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO spy_applied (position, runner) VALUES (%s, %s)",
                [(event.position, self.runner) for event in events],
            )


async def test_two_projection_runners_on_one_checkpoint_take_turns_and_never_apply_a_batch_twice(
    pool: AsyncConnectionPool[Conn],
) -> None:
    async with pool.connection() as conn:
        await conn.execute("CREATE TABLE spy_applied (position bigint NOT NULL, runner text NOT NULL)")
    store = PostgresEventStore(pool)
    for _ in range(60):
        await store.append(stream_name(), new_events(5))

    async def run(runner: str) -> None:
        spy = _Spy(runner)
        while await apply_next_batch(pool, spy, 7) > 0:
            pass

    await asyncio.gather(run("a"), run("b"))

    async with pool.connection() as conn:
        cur = await conn.execute("SELECT count(*), count(DISTINCT position) FROM spy_applied")
        applied = await cur.fetchone()
        cur = await conn.execute("SELECT runner, count(*) FROM spy_applied GROUP BY runner")
        by_runner = dict(await cur.fetchall())
    assert applied == (300, 300)
    assert set(by_runner) == {"a", "b"}, "one runner did everything: the test shows no turn-taking"
    assert await checkpoint(pool, _Spy.name) == await _max_position(pool)


async def _max_position(pool: AsyncConnectionPool[Conn]) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT coalesce(max(position), 0) FROM events")
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def _rows(pool: AsyncConnectionPool[Conn], query: str) -> list[tuple[Any, ...]]:
    async with pool.connection() as conn:
        cur = await conn.execute(query)  # type: ignore[arg-type]  # literal queries of this module
        return await cur.fetchall()


async def _cards(pool: AsyncConnectionPool[Conn]) -> list[tuple[Any, ...]]:
    return await _rows(pool, "SELECT customer_id, card, last_position FROM customer_cards ORDER BY 1")


async def test_two_card_projections_share_the_work_and_the_survivor_of_a_kill_ends_equal_to_a_rebuild(
    hub: RunningHub, pool: AsyncConnectionPool[Conn], fresh_pool: AsyncConnectionPool[Conn]
) -> None:
    total = 1500
    await create_hub_topics(hub)
    start_instance(hub, "timeline", "timeline")
    small_batches = {"HUB_BATCH_SIZE": "20"}  # many transactions, so a kill lands inside the stream
    start_instance(hub, "projections-a", "projections", **small_batches)
    start_instance(hub, "projections-b", "projections", **small_batches)
    events = chat_events(total, 100, uuid.uuid4().hex[:8])
    await publish_events(hub.infra.kafka_bootstrap, hub.topics.interactions, events)

    async def projecting() -> bool:
        return await checkpoint(pool, CustomerCardProjection.name) >= 200

    await wait_until(projecting, 90, "the projections to apply events")
    hub.kill("projections-a")
    at_kill = await checkpoint(pool, CustomerCardProjection.name)
    assert at_kill < total, "the projections finished before one could be killed; raise `total`"

    async def caught_up() -> bool:
        stored = interaction_counts(hub.dsn)[0] >= total
        return stored and await checkpoint(pool, CustomerCardProjection.name) == await _max_position(pool)

    await wait_until(caught_up, 180, "the surviving projection to reach the end of the log")
    copy_log(pool.conninfo, fresh_pool.conninfo)
    while await apply_next_batch(fresh_pool, CustomerCardProjection(), 1000) > 0:
        pass
    assert await _cards(fresh_pool) == await _cards(pool)
    assert len(await _cards(pool)) == 100
