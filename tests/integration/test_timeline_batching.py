"""The timeline writer's batched recording writes exactly what recording one event at a time writes.

Seeded multichannel traffic (new customers, known ones, merges proved by purchases) is recorded twice
into two empty stores: one event per transaction, and in batches with repeats inside a batch and a
whole batch delivered again. Outcomes, stored rows (positions included) and the identity index must
be the same (hashes aside: sealing uses random nonces), and the batched store's hash chains intact,
so batching is only a saving of round trips.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool

from contracts import InteractionEvent
from hub.local_secrets import LocalSecrets
from plumbing.eventstore.audit import verify_chains
from plumbing.eventstore.postgres import Conn
from services.timeline.store import Recorded, record_interactions
from tests.support.traffic import TrafficPlan, stored_events

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

BATCH = 37


def _deliveries() -> list[InteractionEvent]:
    """Zipf traffic with every tenth event delivered again three events later (so often in one batch)."""
    events = list(stored_events(TrafficPlan(seed=5, customers=80, deliveries=500), LocalSecrets.generate()))
    delivered: list[InteractionEvent] = []
    for n, event in enumerate(events):
        delivered.append(event)
        if n >= 3 and n % 10 == 0:
            delivered.append(events[n - 3])
    return delivered


async def _rows(pool: AsyncConnectionPool[Conn], query: str) -> list[tuple[Any, ...]]:
    async with pool.connection() as conn:
        cur = await conn.execute(query)
        return await cur.fetchall()


async def _store_state(pool: AsyncConnectionPool[Conn]) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "events": await _rows(
            pool,
            "SELECT position, event_id, stream_id, stream_version, event_type FROM events ORDER BY position",
        ),
        "streams": await _rows(pool, "SELECT stream_id, version FROM streams ORDER BY stream_id"),
        "index": await _rows(
            pool,
            "SELECT identity_key, customer_id, evidence_event_id FROM identity_index"
            " ORDER BY identity_key, customer_id",
        ),
    }


def _outcomes(recorded: Sequence[Recorded]) -> list[tuple[Any, ...]]:
    return [(r.customer_id, r.position, r.duplicate) for r in recorded]


async def test_batches_record_what_one_at_a_time_records(
    pool: AsyncConnectionPool[Conn], fresh_pool: AsyncConnectionPool[Conn]
) -> None:
    delivered = _deliveries()

    one_by_one = [outcome for event in delivered for outcome in await record_interactions(pool, [event])]

    batched: list[Recorded] = []
    for start in range(0, len(delivered), BATCH):
        batched += await record_interactions(fresh_pool, delivered[start : start + BATCH])
    again = await record_interactions(fresh_pool, delivered[BATCH : 2 * BATCH])

    assert _outcomes(batched) == _outcomes(one_by_one)
    assert all(r.duplicate for r in again)
    assert [r.position for r in again] == [r.position for r in batched[BATCH : 2 * BATCH]]
    one_state, batched_state = await _store_state(pool), await _store_state(fresh_pool)
    assert batched_state == one_state
    async with fresh_pool.connection() as conn, conn.transaction():
        assert (await verify_chains(conn)).intact

    types = [row[4] for row in one_state["events"]]
    assert types.count("customer.absorbed") > 0, "the traffic must exercise merges (the slow path)"
    assert sum(r.duplicate for r in batched) == len(delivered) - len({e.event_id for e in delivered})
    assert sum(r.duplicate for r in batched) > 0
