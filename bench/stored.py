"""Figures over a big stored history: seeding, rebuilds of the projections, and the read API."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Iterable
from urllib.parse import quote

from psycopg_pool import AsyncConnectionPool

from bench.load import Outcome, Request, drive
from contracts import InteractionEvent
from plumbing.eventstore.postgres import Conn, read_all
from plumbing.projection import Projection, apply_next_batch
from projections.customer_card.store import CustomerCardProjection
from projections.pipeline.store import PipelineProjection
from services.timeline.store import record_interactions
from tests.support.deployables import RunningHub

BATCH = 500


async def seed(dsn: str, events: Iterable[InteractionEvent]) -> tuple[int, float]:
    """Store ``events`` with the timeline writer's own code, in its batch size; (count, events/s)."""
    stored = 0
    async with AsyncConnectionPool[Conn](dsn, min_size=1, max_size=2) as pool:
        started = time.perf_counter()
        iterator = iter(events)
        while batch := list(itertools.islice(iterator, BATCH)):
            await record_interactions(pool, batch)
            stored += len(batch)
        return stored, stored / (time.perf_counter() - started)


async def read_log(dsn: str) -> float:
    """The rebuild's ceiling: events/s of reading the whole global log in the projections' batch size."""
    read, after = 0, 0
    async with AsyncConnectionPool[Conn](dsn, min_size=1, max_size=1) as pool, pool.connection() as conn:
        started = time.perf_counter()
        while page := await read_all(conn, after, BATCH):
            read += len(page)
            after = page[-1].position
        return read / (time.perf_counter() - started)


async def rebuild(dsn: str, projection: Projection) -> tuple[int, float]:
    """Replay the whole log into ``projection`` from position 0 (fresh tables); (events, events/s)."""
    applied = 0
    async with AsyncConnectionPool[Conn](dsn, min_size=1, max_size=1) as pool:
        started = time.perf_counter()
        while done := await apply_next_batch(pool, projection, BATCH):
            applied += done
        return applied, applied / (time.perf_counter() - started)


def card_rebuild(dsn: str) -> tuple[int, float]:
    return asyncio.run(rebuild(dsn, CustomerCardProjection()))


def pipeline_rebuild(dsn: str) -> tuple[int, float]:
    return asyncio.run(rebuild(dsn, PipelineProjection()))


async def _targets(dsn: str) -> tuple[list[str], list[str]]:
    async with AsyncConnectionPool[Conn](dsn, min_size=1, max_size=1) as pool, pool.connection() as conn:
        cards = await (await conn.execute("SELECT customer_id::text FROM customer_cards")).fetchall()
        keys = await (await conn.execute("SELECT identity_key FROM card_identities")).fetchall()
    return [row[0] for row in cards], [row[0] for row in keys]


def read_api(hub: RunningHub, seconds: float, connections: int) -> dict[str, Outcome]:
    """Unpaced per route over random customers (the generator, as the no-op ceiling is measured): card,
    lookup by identity, timeline."""
    customers, identities = asyncio.run(_targets(hub.dsn))
    rng = random.Random(7)
    headers = hub.api_headers
    paths = {
        "card": lambda: f"/v1/customers/{rng.choice(customers)}",
        "lookup": lambda: f"/v1/customers?identity={quote(rng.choice(identities), safe='')}",
        "timeline": lambda: f"/v1/customers/{rng.choice(customers)}/timeline",
    }
    return {
        name: drive(
            hub.ports.api_url,
            [Request("GET", path(), headers, label=name) for _ in range(5_000)],
            rate=0,
            seconds=seconds,
            connections=connections,
            cycle=True,  # reads change nothing: the same requests may be sent again
        )
        for name, path in paths.items()
    }
