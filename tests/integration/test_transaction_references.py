"""Order references (transaction references) find their buyer without becoming the buyer's identities,
so what the writer reads about a customer stays the same size however much the customer buys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from contracts import (
    ChatMessageReceived,
    Identity,
    IdentityKind,
    InteractionEvent,
    Money,
    PurchaseLine,
    PurchaseRecorded,
    RefundRecorded,
    Sender,
    event_id_for,
    normalise_identity,
)
from contracts.identity_rules import load_identity_rules
from plumbing.eventstore.postgres import Conn
from services.timeline.store import MIGRATIONS, record_interaction, record_interactions
from tests.support.identity_reads import holdings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

T0 = datetime(2025, 6, 9, 12, 0, tzinfo=UTC)
MAIL = normalise_identity(IdentityKind.EMAIL, "ada@example.com")
PHONE = normalise_identity(IdentityKind.PHONE, "+14155550123")
SHOP_ID = normalise_identity(IdentityKind.EXTERNAL, "1001", provider="shopify")
SHIPPED = load_identity_rules()
USD = "USD"


def _order(n: int) -> Identity:
    return normalise_identity(IdentityKind.EXTERNAL, str(9000 + n), provider="shopify_order")


def _envelope(message_id: str, minute: int) -> dict[str, Any]:
    at = T0 + timedelta(minutes=minute)
    return {
        "event_id": event_id_for("shopify", message_id),
        "occurred_at": at,
        "received_at": at,
        "correlation_id": message_id,
        "provider": "shopify",
        "provider_message_id": message_id,
    }


def _purchase(n: int, *buyer: Identity) -> PurchaseRecorded:
    price = Money(amount=Decimal("10.00"), currency=USD)
    return PurchaseRecorded(
        **_envelope(f"order-{n}", n),
        sender=Sender(identities=(*buyer, _order(n))),
        order_id=str(9000 + n),
        lines=(PurchaseLine(name="Mug", quantity=Decimal(1), unit_price=price, total=price),),
        total=price,
    )


def _refund(n: int) -> RefundRecorded:
    return RefundRecorded(
        **_envelope(f"refund-{n}", 1000 + n),
        sender=Sender(identities=(_order(n),)),
        order_id=str(9000 + n),
        refund_id=f"r-{n}",
        amount=Money(amount=Decimal("10.00"), currency=USD),
    )


def _chat(message_id: str, *identities: Identity) -> ChatMessageReceived:
    return ChatMessageReceived(
        **{
            **_envelope(message_id, 500),
            "provider": "widget",
            "event_id": event_id_for("widget", message_id),
        },
        sender=Sender(identities=identities),
        conversation_id="conv",
    )


async def _rows(pool: AsyncConnectionPool[Conn], query: str, *params: Any) -> list[tuple[Any, ...]]:
    async with pool.connection() as conn:
        cur = await conn.execute(query, params or None)
        return await cur.fetchall()


async def test_a_buyers_orders_find_the_buyer_but_are_not_counted_among_the_buyers_identities(
    pool: AsyncConnectionPool[Conn],
) -> None:
    purchases: list[InteractionEvent] = [_purchase(n, MAIL, SHOP_ID) for n in range(40)]
    recorded = await record_interactions(pool, purchases, SHIPPED)  # shopify ids: at most one per customer
    (buyer,) = {r.customer_id for r in recorded}
    assert buyer is not None

    person = await _rows(pool, "SELECT identity_key FROM identity_index WHERE customer_id = %s", buyer)
    assert sorted(key for (key,) in person) == sorted([MAIL.key, SHOP_ID.key])
    references = await _rows(
        pool, "SELECT count(*) FROM transaction_references WHERE customer_id = %s", buyer
    )
    assert references == [(40,)]
    async with pool.connection() as conn:
        assert sorted((await holdings(conn, [buyer]))[buyer]) == sorted([MAIL.key, SHOP_ID.key])

    refund = await record_interaction(pool, _refund(17), SHIPPED)
    assert (refund.customer_id, refund.resolution and refund.resolution.is_new_customer) == (buyer, False)


async def test_a_merge_takes_the_absorbed_customers_orders_along(pool: AsyncConnectionPool[Conn]) -> None:
    chat = await record_interaction(pool, _chat("c1", MAIL), SHIPPED)  # the older customer
    shop = await record_interaction(pool, _purchase(1, PHONE), SHIPPED)
    assert chat.customer_id != shop.customer_id
    merged = await record_interaction(pool, _chat("c2", MAIL, PHONE), SHIPPED)
    assert merged.resolution is not None and [m.absorbed for m in merged.resolution.merges] == [
        shop.customer_id
    ]

    refund = await record_interaction(pool, _refund(1), SHIPPED)
    assert refund.customer_id == chat.customer_id
    assert await _rows(pool, "SELECT customer_id FROM transaction_references") == [(chat.customer_id,)]


def test_an_existing_stores_order_references_move_out_of_the_identity_index(database: str) -> None:
    """The migration, run again over rows written as before it (order ids in identity_index), moves them
    with their customer, evidence and time, and leaves person identities where they are."""
    customer, evidence = UUID(int=1), UUID(int=2)
    rows = [(_order(1).key, customer), ("external:square_payment:p-1", customer), (MAIL.key, customer)]
    with psycopg.connect(database) as conn:
        for key, owner in rows:
            conn.execute(
                "INSERT INTO identity_index (identity_key, customer_id, evidence_event_id, linked_at)"
                " VALUES (%s, %s, %s, %s)",
                (key, owner, evidence, T0),
            )
        migration = Path(MIGRATIONS, "timeline_0011_transaction_references.sql").read_text()
        conn.execute(migration.encode())  # idempotent: the table exists, the rows move
        person = conn.execute("SELECT identity_key FROM identity_index").fetchall()
        moved = conn.execute(
            "SELECT reference_key, customer_id, evidence_event_id, linked_at FROM transaction_references"
            " ORDER BY reference_key"
        ).fetchall()
    assert person == [(MAIL.key,)]
    assert moved == [
        ("external:shopify_order:9001", customer, evidence, T0),
        ("external:square_payment:p-1", customer, evidence, T0),
    ]
