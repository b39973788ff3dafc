"""The customer card projection over the real event store: cards, lookups, timeline, merges, rebuilds."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from psycopg_pool import AsyncConnectionPool

from contracts import (
    ChatMessageReceived,
    EmailReceived,
    Identity,
    IdentityKind,
    InteractionEvent,
    Money,
    PurchaseLine,
    PurchaseRecorded,
    Sender,
    SocialMessageReceived,
    event_id_for,
    normalise_identity,
)
from contracts.read.customer_card import CustomerCard
from hub.samples import sample_person
from plumbing.eventstore.postgres import Conn
from plumbing.projection import apply_next_batch, checkpoint
from projections.customer_card.store import CustomerCardProjection
from services.timeline.store import Recorded, record_interaction
from tests.support.rebuild import copy_log

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

T0 = datetime(2025, 6, 9, 12, 0, tzinfo=UTC)
PROJECTION = CustomerCardProjection()


# --- building events -------------------------------------------------------------------------------


def _email(tag: str) -> Identity:
    return normalise_identity(IdentityKind.EMAIL, f"{tag}@example.com")


def _phone(n: int) -> Identity:
    return normalise_identity(IdentityKind.PHONE, sample_person(n).phone)


def _handle(tag: str) -> Identity:
    return normalise_identity(IdentityKind.HANDLE, f"v_{tag}", provider="widget")


def _common(message_id: str, provider: str, minute: int, identities: Sequence[Identity]) -> dict[str, Any]:
    at = T0 + timedelta(minutes=minute)
    return {
        "event_id": event_id_for(provider, message_id),
        "occurred_at": at,
        "received_at": at + timedelta(seconds=1),
        "correlation_id": message_id,
        "provider": provider,
        "provider_message_id": message_id,
        "sender": Sender(identities=tuple(identities), display_name=f"Person {message_id.split('-')[0]}"),
        "summary": f"{provider} {message_id}",
    }


def _chat(message_id: str, *identities: Identity, minute: int = 0) -> ChatMessageReceived:
    return ChatMessageReceived(**_common(message_id, "widget", minute, identities), conversation_id="c")


def _mail(message_id: str, *identities: Identity, minute: int = 0) -> EmailReceived:
    return EmailReceived(**_common(message_id, "mailgun", minute, identities), subject="Hi")


def _social(message_id: str, *identities: Identity, minute: int = 0) -> SocialMessageReceived:
    return SocialMessageReceived(
        **_common(message_id, "meta", minute, identities), network="whatsapp", conversation_id="wa"
    )


def _order(
    message_id: str, amount: str, currency: str, *identities: Identity, minute: int = 0
) -> PurchaseRecorded:
    money = Money(amount=Decimal(amount), currency=currency)
    return PurchaseRecorded(
        **_common(message_id, "shopify", minute, identities),
        order_id=message_id,
        lines=(PurchaseLine(name="Tea", quantity=Decimal(1), unit_price=money, total=money),),
        total=money,
    )


# --- driving and reading the projection --------------------------------------------------------------


async def _drain(pool: AsyncConnectionPool[Conn], batch_size: int, deadline_s: float = 60.0) -> int:
    """Apply batches until the projection is caught up; fail if that takes longer than the deadline."""
    deadline = time.monotonic() + deadline_s
    applied = 0
    while (count := await apply_next_batch(pool, PROJECTION, batch_size)) > 0:
        applied += count
        assert time.monotonic() < deadline, f"projection not caught up after {deadline_s}s"
    return applied


async def _record_all(pool: AsyncConnectionPool[Conn], events: Sequence[InteractionEvent]) -> list[Recorded]:
    return [await record_interaction(pool, event) for event in events]


async def _rows(pool: AsyncConnectionPool[Conn], query: str, *params: Any) -> list[tuple[Any, ...]]:
    async with pool.connection() as conn:
        cur = await conn.execute(query, params or None)
        return list(await cur.fetchall())


async def _card(pool: AsyncConnectionPool[Conn], customer: UUID | None) -> CustomerCard:
    rows = await _rows(
        pool, "SELECT card, last_position FROM customer_cards WHERE customer_id = %s", customer
    )
    assert len(rows) == 1, f"no card for {customer}"
    card = CustomerCard.model_validate(rows[0][0])
    assert card.last_position == rows[0][1]
    return card


async def _lookup(pool: AsyncConnectionPool[Conn], identity: Identity) -> UUID | None:
    rows = await _rows(pool, "SELECT customer_id FROM card_identities WHERE identity_key = %s", identity.key)
    return rows[0][0] if rows else None


async def _timeline(pool: AsyncConnectionPool[Conn], customer: UUID | None) -> list[UUID]:
    rows = await _rows(
        pool, "SELECT event_id FROM card_timeline WHERE customer_id = %s ORDER BY position DESC", customer
    )
    return [row[0] for row in rows]


async def _max_position(pool: AsyncConnectionPool[Conn]) -> int:
    ((position,),) = await _rows(pool, "SELECT coalesce(max(position), 0) FROM events")
    return int(position)


# --- rebuilds (into the ``fresh_pool`` database of tests/conftest.py) -------------------------------


async def _copy_log(source: AsyncConnectionPool[Conn], target: AsyncConnectionPool[Conn]) -> None:
    """The event store verbatim (same positions) into ``target``, as a restore would."""
    copy_log(source.conninfo, target.conninfo)


async def _read_model(pool: AsyncConnectionPool[Conn]) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "cards": await _rows(
            pool, "SELECT customer_id, card, last_position FROM customer_cards ORDER BY customer_id"
        ),
        "identities": await _rows(pool, "SELECT identity_key, customer_id FROM card_identities ORDER BY 1"),
        "timeline": await _rows(
            pool,
            "SELECT customer_id, position, event_id, event_type, channel, provider, summary, occurred_at"
            " FROM card_timeline ORDER BY position",
        ),
    }


def _lookups(model: dict[str, list[tuple[Any, ...]]]) -> dict[str, UUID]:
    return {key: customer for key, customer in model["identities"]}


def _merge_heavy_history() -> list[InteractionEvent]:
    """Three people over every channel, with a three-way merge, a chained merge and redeliveries."""
    a_mail, a_phone, a_handle = _email("a"), _phone(11), _handle("a")
    b_mail, b_phone, b_handle = _email("b"), _phone(12), _handle("b")
    c_mail = _email("c")
    return [
        _mail("a-1", a_mail, minute=1),
        _chat("a-2", a_handle, minute=2),
        _order("a-3", "10.10", "USD", a_phone, minute=3),
        _social("a-4", a_phone, minute=4),
        _chat("a-5", a_handle, a_mail, a_phone, minute=5),  # three customers become one
        _order("a-6", "0.20", "USD", a_handle, minute=6),
        _order("a-7", "3", "EUR", a_mail, minute=7),
        _chat("c-1", c_mail, minute=8),
        _chat("b-1", b_phone, minute=9),  # customer P
        _mail("b-2", b_mail, minute=10),  # customer M
        _social("b-3", b_handle, minute=11),  # customer H
        _order("b-4", "99.99", "USD", b_handle, minute=12),
        _chat("b-5", b_handle, b_mail, minute=13),  # M absorbs H
        _chat("c-2", c_mail, minute=14),
        _chat("b-6", b_mail, b_phone, minute=15),  # P absorbs M, which had absorbed H: a chain
        _chat("a-8", a_phone, minute=16),
        *(_chat(f"c-{n}", c_mail, minute=16 + n) for n in range(3, 26)),  # beyond the recent cap
    ]


# --- tests -------------------------------------------------------------------------------------------


async def test_the_card_counts_every_channel_and_totals_purchases_exactly(
    pool: AsyncConnectionPool[Conn],
) -> None:
    mail, phone, handle = _email("ada"), _phone(1), _handle("ada")
    events: list[InteractionEvent] = [
        _mail("ada-1", mail, minute=1),
        _chat("ada-2", handle, mail, minute=2),
        _social("ada-3", phone, handle, minute=3),
        _order("ada-4", "0.10", "USD", phone, minute=4),
        _order("ada-5", "0.20", "USD", mail, minute=5),
        _order("ada-6", "5.5", "EUR", handle, minute=6),
        _chat("ada-7", handle, minute=7),
    ]
    (first, *_) = recorded = await _record_all(pool, events)
    assert len({r.customer_id for r in recorded}) == 1

    assert await _drain(pool, 500) == await _max_position(pool)

    card = await _card(pool, first.customer_id)
    assert card.merged_into is None
    assert {view.key for view in card.identities} == {mail.key, phone.key, handle.key}
    assert {name: stats.count for name, stats in card.channels.items()} == {
        "email": 1,
        "chat": 2,
        "social": 1,
        "pos": 3,
    }
    assert card.interaction_count == 7
    assert card.last_interaction_at == T0 + timedelta(minutes=7)
    assert card.purchase_count == 3
    assert card.purchase_totals == {"USD": Decimal("0.30"), "EUR": Decimal("5.5")}
    assert [view.event_id for view in card.recent_interactions] == [e.event_id for e in reversed(events)]
    assert card.last_position == await _max_position(pool)
    for identity in (mail, phone, handle):
        assert await _lookup(pool, identity) == first.customer_id
    assert await _timeline(pool, first.customer_id) == [e.event_id for e in reversed(events)]
    assert await checkpoint(pool, PROJECTION.name) == await _max_position(pool)


async def test_every_identity_finds_its_card_and_every_interaction_is_on_the_timeline(
    pool: AsyncConnectionPool[Conn],
) -> None:
    people = {p: (_email(f"p{p}"), _handle(f"p{p}")) for p in range(4)}
    events = [_chat(f"p{p}-{n}", *people[p], minute=n) for n in range(3) for p in people]
    recorded = await _record_all(pool, events)

    await _drain(pool, 7)

    for n, event in enumerate(events):
        customer = recorded[n].customer_id
        for identity in event.sender.identities:
            assert await _lookup(pool, identity) == customer
        assert event.event_id in await _timeline(pool, customer)
    ((rows,),) = await _rows(pool, "SELECT count(*) FROM card_timeline")
    assert rows == len(events)
    for customer in {r.customer_id for r in recorded}:
        assert (await _card(pool, customer)).interaction_count == 3


async def test_a_projection_that_is_caught_up_applies_nothing_more(pool: AsyncConnectionPool[Conn]) -> None:
    await _record_all(pool, [_chat("x-1", _email("x"))])
    await _drain(pool, 500)
    before = await _read_model(pool)

    assert await apply_next_batch(pool, PROJECTION, 500) == 0
    assert await _read_model(pool) == before


async def test_after_a_merge_the_survivor_has_both_histories_and_absorbed_identities_find_it(
    pool: AsyncConnectionPool[Conn],
) -> None:
    mail, phone = _email("ada"), _phone(5)
    older = await record_interaction(pool, _mail("o-1", mail, minute=1))
    await record_interaction(pool, _order("o-2", "1.25", "USD", mail, minute=2))
    younger = await record_interaction(pool, _chat("y-1", phone, minute=3))
    await record_interaction(pool, _order("y-2", "2.50", "USD", phone, minute=4))
    await _drain(pool, 500)  # both cards exist before the merge is applied
    assert (await _card(pool, younger.customer_id)).purchase_totals == {"USD": Decimal("2.50")}

    merge = await record_interaction(pool, _chat("m-1", phone, mail, minute=5))
    assert merge.customer_id == older.customer_id
    await _drain(pool, 500)

    absorbed = await _card(pool, younger.customer_id)
    assert absorbed.merged_into == older.customer_id
    survivor = await _card(pool, older.customer_id)
    assert survivor.merged_into is None
    assert survivor.merged_from == [younger.customer_id]
    assert {view.key for view in survivor.identities} == {mail.key, phone.key}
    assert survivor.interaction_count == 5
    assert survivor.purchase_count == 2
    assert survivor.purchase_totals == {"USD": Decimal("3.75")}
    assert {name: stats.count for name, stats in survivor.channels.items()} == {
        "email": 1,
        "pos": 2,
        "chat": 2,
    }
    expected = [
        event_id_for(p, m)
        for p, m in [
            ("widget", "m-1"),
            ("shopify", "y-2"),
            ("widget", "y-1"),
            ("shopify", "o-2"),
            ("mailgun", "o-1"),
        ]
    ]
    assert [view.event_id for view in survivor.recent_interactions] == expected
    assert await _lookup(pool, phone) == older.customer_id
    assert await _lookup(pool, mail) == older.customer_id
    assert await _timeline(pool, older.customer_id) == expected
    assert await _timeline(pool, younger.customer_id) == []


async def test_a_merge_applied_in_the_same_batch_as_both_histories_gives_the_same_cards(
    pool: AsyncConnectionPool[Conn], fresh_pool: AsyncConnectionPool[Conn]
) -> None:
    """The absorbed card may come from the table (earlier batch) or from memory (same batch)."""
    mail, phone = _email("ada"), _phone(6)
    events = [
        _mail("o-1", mail, minute=1),
        _chat("y-1", phone, minute=2),
        _chat("m-1", phone, mail, minute=3),
    ]
    for event in events:
        await record_interaction(pool, event)
        await _drain(pool, 500)  # live: one transaction's events at a time
    await _copy_log(pool, fresh_pool)

    await _drain(fresh_pool, 500)  # rebuild: everything in one batch

    assert await _read_model(fresh_pool) == await _read_model(pool)


async def test_a_rebuild_from_position_zero_into_fresh_tables_equals_the_live_result(
    pool: AsyncConnectionPool[Conn], fresh_pool: AsyncConnectionPool[Conn]
) -> None:
    events = _merge_heavy_history()
    for n, event in enumerate(events):
        await record_interaction(pool, event)
        if n % 3 == 0:
            await record_interaction(pool, event)  # a redelivery changes nothing
        await apply_next_batch(pool, PROJECTION, 3)  # live, lagging, small batches cut anywhere
    await _drain(pool, 3)
    await _copy_log(pool, fresh_pool)
    assert await checkpoint(fresh_pool, PROJECTION.name) == 0

    await _drain(fresh_pool, 1000)

    live, rebuilt = await _read_model(pool), await _read_model(fresh_pool)
    assert len(live["cards"]) == len(rebuilt["cards"])
    for live_row, rebuilt_row in zip(live["cards"], rebuilt["cards"], strict=True):
        assert rebuilt_row == live_row
    assert rebuilt["identities"] == live["identities"]
    assert rebuilt["timeline"] == live["timeline"]
    assert await checkpoint(fresh_pool, PROJECTION.name) == await checkpoint(pool, PROJECTION.name)

    # and the history really exercised merges, a chained merge and the recent cap
    cards = {row[0]: CustomerCard.model_validate(row[1]) for row in live["cards"]}
    live_cards = [card for card in cards.values() if card.merged_into is None]
    assert len(live_cards) == 3
    assert sum(len(card.merged_from) for card in live_cards) == 4
    chain_survivor = cards[_lookups(live)[_phone(12).key]]
    assert len(chain_survivor.merged_from) == 2, "P holds M and, through M, H"
    (middle,) = [card for card in cards.values() if card.merged_into == chain_survivor.customer_id]
    assert len(middle.merged_from) == 1
    assert cards[middle.merged_from[0]].merged_into == middle.customer_id
    assert sum(card.interaction_count for card in live_cards) == len(events)
    assert max(card.interaction_count for card in live_cards) > 20
    assert set(_lookups(live).values()) == {card.customer_id for card in live_cards}
