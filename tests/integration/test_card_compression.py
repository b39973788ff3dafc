"""Cards are stored LZ4-compressed when the server has LZ4 (migration card_0011: the same values, for
about half the database CPU of pglz when a busy customer's large card is rewritten every batch)."""

from __future__ import annotations

import time

import pytest
from psycopg_pool import AsyncConnectionPool

from plumbing.eventstore.postgres import Conn
from plumbing.projection import apply_next_batch
from projections.customer_card.store import CustomerCardProjection
from services.timeline.store import record_interaction
from tests.support.events import chat_event

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


async def _one(pool: AsyncConnectionPool[Conn], query: str) -> object:
    async with pool.connection() as conn:
        row = await (await conn.execute(query)).fetchone()
    assert row is not None
    return row[0]


async def test_a_large_card_is_stored_lz4_compressed(
    pool: AsyncConnectionPool[Conn],
) -> None:
    has_lz4 = await _one(
        pool, "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
    )
    if not has_lz4:
        pytest.skip("this PostgreSQL was built without LZ4: cards keep the server's compression")
    for n in range(40):  # 20 recent interactions and their identities: a card TOAST compresses
        await record_interaction(pool, chat_event("compressed", n))
    projection = CustomerCardProjection()
    deadline = time.monotonic() + 60
    while await apply_next_batch(pool, projection, 15):
        assert time.monotonic() < deadline, "projection not caught up in 60 s"

    compression = await _one(pool, "SELECT pg_column_compression(card) FROM customer_cards")
    interactions = await _one(pool, "SELECT (card ->> 'interaction_count')::int FROM customer_cards")

    assert (compression, interactions) == ("lz4", 40)
