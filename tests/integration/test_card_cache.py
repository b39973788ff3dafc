"""The card projection's in-process card cache never decides a result: whatever happens to a stored card
behind its back (a batch rolled back, another writer), the next batch starts from the stored row."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool

from contracts import ChatMessageReceived, Sender
from plumbing.eventstore import RecordedEvent
from plumbing.eventstore.postgres import Conn
from plumbing.projection import apply_next_batch
from projections.customer_card.store import CustomerCardProjection
from services.timeline.store import record_interaction
from tests.support.events import chat_event
from tests.support.rebuild import copy_log

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


class _BatchFails(RuntimeError):
    pass


class _FailsAfterApplying:
    """The projection's whole apply runs, then the batch fails (so its transaction rolls back)."""

    def __init__(self, projection: CustomerCardProjection) -> None:
        self.name = projection.name
        self.projection = projection

    async def apply(self, conn: Conn, events: Sequence[RecordedEvent]) -> None:
        await self.projection.apply(conn, events)
        raise _BatchFails("after apply, before commit")


async def _drain(pool: AsyncConnectionPool[Conn], projection: CustomerCardProjection, batch: int) -> None:
    deadline = time.monotonic() + 60
    while await apply_next_batch(pool, projection, batch):
        assert time.monotonic() < deadline, "projection not caught up in 60 s"


async def _cards(pool: AsyncConnectionPool[Conn]) -> list[tuple[Any, ...]]:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT customer_id, card, last_position FROM customer_cards ORDER BY 1")
        return list(await cur.fetchall())


async def _interaction_count(pool: AsyncConnectionPool[Conn]) -> int:
    ((card, _last),) = [row[1:] for row in await _cards(pool)]
    return int(card["interaction_count"])


async def test_a_batch_rolled_back_after_changing_cards_leaves_no_trace_in_the_next_batch(
    pool: AsyncConnectionPool[Conn],
) -> None:
    projection = CustomerCardProjection()
    for n in range(3):
        await record_interaction(pool, chat_event("rolled", n))
    await _drain(pool, projection, 500)
    for n in range(3, 6):
        await record_interaction(pool, chat_event("rolled", n))

    with pytest.raises(_BatchFails):
        await apply_next_batch(pool, _FailsAfterApplying(projection), 500)  # type: ignore[arg-type]
    assert await _interaction_count(pool) == 3
    await _drain(pool, projection, 500)

    assert await _interaction_count(pool) == 6


async def test_a_card_row_rewritten_by_another_writer_is_read_again_before_the_next_event(
    pool: AsyncConnectionPool[Conn],
) -> None:
    projection = CustomerCardProjection()
    await record_interaction(pool, chat_event("rewritten", 0))
    await _drain(pool, projection, 500)
    async with pool.connection() as conn:  # same last_position, other content
        await conn.execute("UPDATE customer_cards SET card = jsonb_set(card, '{interaction_count}', '100')")

    await record_interaction(pool, chat_event("rewritten", 1))
    await _drain(pool, projection, 500)

    assert await _interaction_count(pool) == 101


def _history() -> list[ChatMessageReceived]:
    """Three people in turn, then one message that carries two of them (a merge), then more."""
    events = [chat_event(tag, n) for n in range(8) for tag in ("amy", "bob", "cy")]
    amy, bob = chat_event("amy", 99), chat_event("bob", 99)
    both = Sender(identities=(*amy.sender.identities, *bob.sender.identities), display_name="Amy")
    return [*events, amy.model_copy(update={"sender": both}), *(chat_event("bob", n) for n in range(9, 14))]


async def test_a_projection_whose_cache_evicts_all_the_time_builds_the_same_cards_as_one_without_cache(
    pool: AsyncConnectionPool[Conn], fresh_pool: AsyncConnectionPool[Conn]
) -> None:
    for event in _history():
        await record_interaction(pool, event)
    copy_log(pool.conninfo, fresh_pool.conninfo)

    await _drain(pool, CustomerCardProjection(cache_bytes=3_000), 4)  # a card or two fit
    await _drain(fresh_pool, CustomerCardProjection(cache_bytes=0), 4)

    cached, uncached = await _cards(pool), await _cards(fresh_pool)
    assert any(card["merged_from"] for _, card, _ in cached), "the history has a merge"
    assert cached == uncached
