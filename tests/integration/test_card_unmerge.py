"""Merges and unmerges in the card projection over the real event store.

The streams are written by hand here (the writer and the staff commands have tests of their own), so
each scenario pins down exactly which events the log holds: the projection must then give back, after
an unmerge, the cards the two customers would have without the merge, find every identity at the right
customer, and equal a rebuild of the same log whatever the batch boundaries.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from psycopg_pool import AsyncConnectionPool

from contracts import (
    CustomerAbsorbed,
    CustomerMergedInto,
    CustomerRestored,
    CustomerUnmerged,
    Envelope,
    Identity,
    IdentityLinked,
    InteractionEvent,
    customer_stream,
)
from contracts.read.customer_card import CustomerCard
from plumbing.eventstore import ANY, NewEvent
from plumbing.eventstore.postgres import Conn, append_locked, lock_appends
from plumbing.export_replay import resolve_as_of
from plumbing.projection import apply_next_batch
from projections.customer_card.as_of import card_as_of
from projections.customer_card.evolve import Fact, evolve
from tests.integration.test_card_projection import (
    PROJECTION,
    T0,
    _card,
    _chat,
    _copy_log,
    _drain,
    _email,
    _handle,
    _mail,
    _order,
    _phone,
    _read_model,
    _timeline,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

#: Fields that say where and when a card was last written, not what it says about the customer.
_BOOKKEEPING = {"last_position", "updated_at", "merge_history"}


class Log:
    """Appends events to customer streams the way the writer and the staff commands do."""

    def __init__(self, pool: AsyncConnectionPool[Conn]) -> None:
        self.pool = pool

    async def append(self, customer: UUID, *events: Envelope) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            await lock_appends(conn)
            batch = [NewEvent(event, {"customer_id": str(customer)}) for event in events]
            await append_locked(conn, customer_stream(customer), batch, ANY)

    async def interaction(self, customer: UUID, event: InteractionEvent, *new: Identity) -> list[UUID]:
        """The interaction with the links of its new identities (as the writer appends them)."""
        links = [_link(customer, identity, event.event_id) for identity in new]
        await self.append(customer, *links, event)
        return [link.event_id for link in links]


def _at(minute: int) -> dict[str, Any]:
    at = T0 + timedelta(minutes=minute)
    return {"event_id": uuid4(), "occurred_at": at, "received_at": at, "correlation_id": "test"}


def _link(customer: UUID, identity: Identity, evidence: UUID) -> IdentityLinked:
    fields = _at(0)
    return IdentityLinked(
        **IdentityLinked.type_fields(),
        **fields,
        customer_id=customer,
        identity=identity,
        rule="exact_match",
        evidence_event_id=evidence,
    )


async def _merge(log: Log, survivor: UUID, absorbed: UUID, evidence: UUID, minute: int) -> UUID:
    shared = (_phone(2),)
    common = {"rule": "auto:email", "evidence_event_id": evidence, "shared_identities": shared}
    await log.append(
        absorbed, CustomerMergedInto(**_at(minute), customer_id=absorbed, survivor_id=survivor, **common)
    )
    absorbed_event = CustomerAbsorbed(**_at(minute), customer_id=survivor, absorbed_id=absorbed, **common)
    await log.append(survivor, absorbed_event)
    return absorbed_event.event_id


async def _unmerge(
    log: Log,
    survivor: UUID,
    restored: UUID,
    merge_id: UUID,
    returned: Sequence[Identity],
    moved: Sequence[UUID],
) -> None:
    common = {
        "merge_event_id": merge_id,
        "returned_identities": tuple(returned),
        "moved_event_ids": tuple(moved),
        "actor": "staff:kim",
        "reason": "two people",
    }
    unmerged = CustomerUnmerged(**_at(500), customer_id=survivor, restored_id=restored, **common)
    await log.append(survivor, unmerged)
    await log.append(
        restored,
        CustomerRestored(
            **_at(500),
            customer_id=restored,
            survivor_id=survivor,
            unmerge_event_id=unmerged.event_id,
            **common,
        ),
    )


def _essence(card: CustomerCard) -> dict[str, Any]:
    return card.model_dump(mode="json", exclude=_BOOKKEEPING)


async def _lookups(pool: AsyncConnectionPool[Conn], identity: Identity) -> set[UUID]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT customer_id FROM card_identities WHERE identity_key = %s", (identity.key,)
        )
        return {row[0] for row in await cur.fetchall()}


A, B = uuid4(), uuid4()
A_MAIL, B_PHONE, B_HANDLE = _email("ann"), _phone(2), _handle("ben")


async def _two_customers(log: Log) -> None:
    await log.interaction(A, _mail("a-1", A_MAIL, minute=1), A_MAIL)
    await log.interaction(B, _chat("b-1", B_PHONE, minute=2), B_PHONE)
    await log.interaction(A, _order("a-2", "30.00", "EUR", A_MAIL, minute=3))
    await log.interaction(B, _order("b-2", "12.50", "EUR", B_PHONE, minute=4))


async def test_undoing_a_merge_at_once_gives_back_both_cards_as_they_were(
    pool: AsyncConnectionPool[Conn],
) -> None:
    log = Log(pool)
    await _two_customers(log)
    await _drain(pool, 500)
    a_before, b_before = await _card(pool, A), await _card(pool, B)

    receipt = _order("r-1", "5.00", "EUR", A_MAIL, B_PHONE, minute=10)
    await log.interaction(A, receipt)
    merge_id = await _merge(log, A, B, receipt.event_id, minute=10)
    await _drain(pool, 500)
    merged = await _card(pool, A)
    assert merged.merged_from == [B]
    assert merged.interaction_count == 5
    assert merged.purchase_totals == {"EUR": b_before.purchase_totals["EUR"] + 35}
    assert {view.key for view in merged.identities} == {A_MAIL.key, B_PHONE.key}
    assert await _lookups(pool, B_PHONE) == {A}
    assert (await _card(pool, B)).merged_into == A

    await _unmerge(log, A, B, merge_id, [B_PHONE], [])
    await _drain(pool, 500)

    a_after, b_after = await _card(pool, A), await _card(pool, B)
    assert _essence(b_after) == _essence(b_before)
    # the survivor is as it was plus the one event with both identities, which stays with it
    receipt_position = next(v.position for v in merged.recent_interactions if v.event_id == receipt.event_id)
    with_receipt = evolve(a_before, Fact(receipt_position, A, receipt))
    assert with_receipt is not None
    assert _essence(a_after) == _essence(with_receipt)
    assert a_after.interaction_count == a_before.interaction_count + 1
    assert a_after.recent_interactions[0].event_id == receipt.event_id
    assert [m.kind for m in a_after.merge_history] == ["unmerged"]
    assert [m.kind for m in b_after.merge_history] == ["merged_into", "restored"]
    assert await _lookups(pool, B_PHONE) == {B}
    assert await _lookups(pool, A_MAIL) == {A}
    assert set(await _timeline(pool, B)) == {e.event_id for e in b_before.recent_interactions}


async def test_events_moved_by_an_unmerge_follow_the_restored_customer_and_later_ones_land_right(
    pool: AsyncConnectionPool[Conn], fresh_pool: AsyncConnectionPool[Conn]
) -> None:
    log = Log(pool)
    await _two_customers(log)
    receipt = _order("r-1", "5.00", "EUR", A_MAIL, B_PHONE, minute=10)
    await log.interaction(A, receipt)
    merge_id = await _merge(log, A, B, receipt.event_id, minute=10)
    await apply_next_batch(pool, PROJECTION, 3)  # the live projection lags, in small batches
    # after the merge the writer appends everything to the survivor, Ben's new handle too
    bens = _chat("b-3", B_PHONE, B_HANDLE, minute=11)
    moved_links = await log.interaction(A, bens, B_HANDLE)
    anns = _mail("a-3", A_MAIL, minute=12)
    await log.interaction(A, anns)
    await apply_next_batch(pool, PROJECTION, 2)
    await _unmerge(log, A, B, merge_id, [B_PHONE, B_HANDLE], [*moved_links, bens.event_id])
    later = _chat("b-4", B_HANDLE, minute=20)
    await log.interaction(B, later)
    for _ in range(3):
        await apply_next_batch(pool, PROJECTION, 2)
    await _drain(pool, 2)

    ann, ben = await _card(pool, A), await _card(pool, B)
    assert ben.merged_into is None
    assert {view.key for view in ben.identities} == {B_PHONE.key, B_HANDLE.key}
    assert [v.event_id for v in ben.recent_interactions][:2] == [later.event_id, bens.event_id]
    assert ben.interaction_count == 4  # b-1, b-2, b-3 (moved), b-4
    assert ann.interaction_count == 4  # a-1, a-2, the receipt, a-3
    assert {view.key for view in ann.identities} == {A_MAIL.key}
    assert ann.merged_from == []
    assert await _lookups(pool, B_HANDLE) == {B}
    assert bens.event_id in await _timeline(pool, B)
    assert bens.event_id not in await _timeline(pool, A)

    await _copy_log(pool, fresh_pool)
    await _drain(fresh_pool, 1000)  # a rebuild in one batch equals the live, lagging projection
    assert await _read_model(fresh_pool) == await _read_model(pool)


async def test_a_customer_absorbed_after_absorbing_another_brings_both_histories(
    pool: AsyncConnectionPool[Conn], fresh_pool: AsyncConnectionPool[Conn]
) -> None:
    log = Log(pool)
    c = uuid4()
    await _two_customers(log)
    await log.interaction(c, _chat("c-1", _handle("cat"), minute=5), _handle("cat"))
    first = _chat("m-1", B_PHONE, _handle("cat"), minute=6)
    await log.interaction(B, first)
    await _merge(log, B, c, first.event_id, minute=6)
    second = _chat("m-2", A_MAIL, B_PHONE, minute=7)
    await log.interaction(A, second)
    merge_id = await _merge(log, A, B, second.event_id, minute=7)
    await _drain(pool, 1)

    ann = await _card(pool, A)
    assert ann.merged_from == [c, B]
    assert ann.interaction_count == 7
    assert await _lookups(pool, _handle("cat")) == {A}

    await _unmerge(log, A, B, merge_id, [B_PHONE, _handle("cat")], [])
    await _drain(pool, 1)
    ben = await _card(pool, B)
    assert ben.merged_from == [c]  # Ben's own earlier merge stands
    assert ben.interaction_count == 4
    assert await _lookups(pool, _handle("cat")) == {B}
    assert (await _card(pool, A)).interaction_count == 3  # a-1, a-2, m-2

    await _copy_log(pool, fresh_pool)
    await _drain(fresh_pool, 1000)
    assert await _read_model(fresh_pool) == await _read_model(pool)


async def test_the_card_as_of_any_position_equals_what_the_live_projection_showed_then(
    pool: AsyncConnectionPool[Conn],
) -> None:
    """Snapshots of the live read model during a merge and its undo, replayed from the log afterwards."""
    log = Log(pool)
    snapshots: list[tuple[int, UUID, CustomerCard]] = []

    async def snapshot(customer: UUID) -> None:
        await _drain(pool, 500)
        card = await _card(pool, customer)
        served = await _card(pool, card.merged_into) if card.merged_into else card
        async with pool.connection() as conn:
            (position,) = (await (await conn.execute("SELECT max(position) FROM events")).fetchone()) or (0,)
        snapshots.append((position, customer, served))

    await _two_customers(log)
    await snapshot(B)
    receipt = _order("r-1", "5.00", "EUR", A_MAIL, B_PHONE, minute=10)
    await log.interaction(A, receipt)
    merge_id = await _merge(log, A, B, receipt.event_id, minute=10)
    await snapshot(B)  # Ben's id answers with Ann's card now
    await log.interaction(A, _chat("b-3", B_PHONE, minute=11))
    await snapshot(A)
    await _unmerge(log, A, B, merge_id, [B_PHONE], [])
    await snapshot(B)
    await log.interaction(B, _chat("b-4", B_PHONE, minute=20))
    await snapshot(B)

    async with pool.connection() as conn:
        for position, customer, served in snapshots:
            replayed = await card_as_of(conn, customer, position)
            assert replayed is not None
            assert replayed.model_dump(exclude={"updated_at"}) == served.model_dump(exclude={"updated_at"})
        assert await card_as_of(conn, uuid4(), snapshots[-1][0]) is None
        assert (await resolve_as_of(conn, T0)).position == 0
