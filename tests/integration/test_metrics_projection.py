"""Every follower of the log exports how far behind it is, what it applied and how long its batches took,
and its worker's /health says when a follower has stopped hearing from the store.

In-process: the real runner (``plumbing.projection.follow``) over the real store, the metrics served on a
real port. A projection that holds its first batch until the test opens a gate makes "behind" certain
without timing, and a clock the test moves makes "silent for too long" certain without waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from plumbing.eventstore import NewEvent, PostgresEventStore, RecordedEvent
from plumbing.eventstore.postgres import Conn
from plumbing.metrics_server import MetricsSettings, WorkerMetrics, metrics_served
from plumbing.projection import checkpoint, follow
from plumbing.projection_metrics import ProjectionMetrics
from tests.support.deployables import free_port
from tests.support.events import identity_linked
from tests.support.metrics import Scrape, scrape

pytestmark = pytest.mark.integration

STALE_S = 30.0


class Gated:
    """A projection whose batches wait for ``gate``; ``entered`` is set once a batch is being applied."""

    def __init__(self) -> None:
        self.name = f"gated-{uuid.uuid4().hex[:8]}"
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()

    async def apply(self, conn: Conn, events: Sequence[RecordedEvent]) -> None:
        self.entered.set()
        await self.gate.wait()


class Clock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def append_events(pool: AsyncConnectionPool[Conn], count: int) -> list[int]:
    store = PostgresEventStore(pool)
    tag = uuid.uuid4().hex
    stream_id = f"customer-{uuid.uuid5(uuid.NAMESPACE_URL, tag)}"
    result = await store.append(stream_id, [NewEvent(identity_linked(tag, n)) for n in range(count)])
    return list(result.positions)


async def until_scraped(
    client: httpx.AsyncClient, name: str, labels: dict[str, str], wanted: float, deadline_s: float = 20.0
) -> Scrape:
    """Scrape until ``name{labels}`` is ``wanted``; the scrape that showed it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + deadline_s
    while True:
        figures = await scrape(client)
        with contextlib.suppress(KeyError):
            if figures.value(name, **labels) == wanted:
                return figures
        if loop.time() > deadline:
            raise AssertionError(f"{name}{labels} never reached {wanted}: {figures.samples}")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def followed(
    pool: AsyncConnectionPool[Conn], dsn: str, projection: Gated, clock: Clock
) -> AsyncIterator[httpx.AsyncClient]:
    """``projection`` followed with a batch size of 2, its worker's metrics served; a client for them."""
    worker = WorkerMetrics(MetricsSettings(metrics_port=free_port(), health_stale_s=STALE_S), clock=clock)
    observer = ProjectionMetrics(worker, pool)
    stop = asyncio.Event()
    async with (
        metrics_served(worker) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client,
    ):
        task = asyncio.create_task(follow(pool, dsn, projection, stop, batch_size=2, observer=observer))
        try:
            yield client
        finally:
            stop.set()
            projection.gate.set()
            await asyncio.wait_for(task, 30)


async def test_lag_counts_the_positions_behind_while_held_and_drops_to_zero_once_caught_up(
    pool: AsyncConnectionPool[Conn], database: str
) -> None:
    positions = await append_events(pool, 5)
    projection, clock = Gated(), Clock()
    me = {"projection": projection.name}
    async with followed(pool, database, projection, clock) as client:
        await asyncio.wait_for(projection.entered.wait(), 20)
        behind = await scrape(client)
        projection.gate.set()
        caught_up = await until_scraped(client, "hub_projection_events_applied_total", me, 5)

    assert behind.value("hub_projection_lag_positions", **me) == positions[-1] > 0
    assert behind.value("hub_projection_lag_seconds", **me) > 0
    assert behind.value("hub_projection_checkpoint_position", **me) == 0
    assert behind.value("hub_event_log_head_position") == positions[-1]
    assert behind.value("hub_projection_events_applied_total", **me) == 0
    assert caught_up.value("hub_projection_lag_positions", **me) == 0
    assert caught_up.value("hub_projection_lag_seconds", **me) == 0
    assert caught_up.value("hub_projection_checkpoint_position", **me) == positions[-1]
    assert caught_up.value("hub_projection_batch_duration_seconds_count", **me) == 3  # 2 + 2 + 1 events
    assert await checkpoint(pool, projection.name) == positions[-1]


async def test_health_fails_while_a_follower_has_not_heard_from_the_store_for_too_long_and_recovers(
    pool: AsyncConnectionPool[Conn], database: str
) -> None:
    await append_events(pool, 3)
    projection, clock = Gated(), Clock()
    async with followed(pool, database, projection, clock) as client:
        await asyncio.wait_for(projection.entered.wait(), 20)
        fresh = await client.get("/health")
        clock.now += STALE_S + 1  # the batch is still held: nothing heard from the store since it began
        silent = await client.get("/health")
        projection.gate.set()
        await until_scraped(client, "hub_projection_lag_positions", {"projection": projection.name}, 0)
        recovered = await client.get("/health")

    assert fresh.status_code == 200
    assert silent.status_code == 503
    assert silent.json()["silent"] == {projection.name: STALE_S + 1}
    assert recovered.status_code == 200
    assert recovered.json()["heard_from_s"] == {projection.name: 0}


async def test_port_zero_the_default_serves_nothing() -> None:
    worker = WorkerMetrics(MetricsSettings())
    async with metrics_served(worker) as port:
        assert port is None
