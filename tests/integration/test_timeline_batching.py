"""The timeline writer's batched recording writes exactly what recording one event at a time writes.

A batch decides every event in memory, on identity facts read once before its first event and updated
event by event (services/timeline/known.py); one event at a time reads them from the store each time.
Seeded multichannel traffic (new customers, known ones, merges proved by purchases, refunds found by
their order reference, repeats inside a batch) is recorded twice into two empty stores, under three rule
sets (none, the shipped file, family phones with per-customer limits), with staff separations between
the busiest customers half way. Outcomes, stored rows (positions included) and the identity index must
be the same (hashes aside: sealing uses random nonces), and the batched store's hash chains intact, so
batching is only a saving of round trips.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool

from contracts import (
    ChatMessageReceived,
    Identity,
    IdentityKind,
    InteractionEvent,
    Money,
    RefundRecorded,
    Sender,
    customer_stream,
    derived_event_id,
    event_id_for,
    stream_customer,
)
from contracts.identity import is_transaction_reference
from contracts.identity_rules import DEFAULT_RULES, IdentityRules, load_identity_rules, parse_identity_rules
from hub.local_secrets import LocalSecrets
from plumbing.eventstore.audit import verify_chains
from plumbing.eventstore.postgres import Conn
from plumbing.identity_index import identity_facts, owners
from plumbing.separations import separate
from services.timeline.resolve import SEPARATED
from services.timeline.store import Recorded, record_interactions
from tests.support.identity_reads import first_positions, holdings, separated_pairs
from tests.support.traffic import TrafficPlan, stored_events

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

FAMILY_PHONES = parse_identity_rules(
    "[kinds.phone]\nmerge = false\nmax_customers_per_value = 2\n"
    "[kinds.email]\nmax_per_customer = 2\n"
    "[kinds.external.providers.shopify]\nmax_per_customer = 1\n"
)
RULES = {"default": DEFAULT_RULES, "shipped": load_identity_rules(), "family_phones": FAMILY_PHONES}
SEPARATED_CUSTOMERS = 40  # the oldest customers, all pairs separated half way


def _refund(purchase: InteractionEvent) -> RefundRecorded:
    """A refund of ``purchase`` that names only its order, as a Shopify refund does."""
    (reference,) = [i for i in purchase.sender.identities if is_transaction_reference(i)]
    return RefundRecorded(
        event_id=derived_event_id(purchase.event_id, "test-refund"),
        occurred_at=purchase.occurred_at,
        received_at=purchase.received_at,
        correlation_id=purchase.correlation_id,
        provider=purchase.provider,
        provider_message_id=f"refund-{purchase.provider_message_id}",
        sender=Sender(identities=(reference,)),
        order_id=reference.value,
        refund_id=f"r-{purchase.provider_message_id}",
        amount=Money(amount=Decimal("5.00"), currency="USD"),
    )


def _tie(n: int, one: Identity, other: Identity, like: InteractionEvent) -> ChatMessageReceived:
    """A chat whose sender gives two people's emails: merges across people, chains of them, limits."""
    message_id = f"tie-{n}"
    return ChatMessageReceived(
        event_id=event_id_for("widget", message_id),
        occurred_at=like.occurred_at,
        received_at=like.received_at,
        correlation_id=message_id,
        provider="widget",
        provider_message_id=message_id,
        sender=Sender(identities=(one, other)),
        conversation_id=message_id,
    )


def _email(event: InteractionEvent) -> Identity | None:
    return next((i for i in event.sender.identities if i.kind is IdentityKind.EMAIL), None)


def _deliveries() -> list[InteractionEvent]:
    """Zipf traffic; every tenth event is delivered again three events later (so often in one batch),
    every third purchase is refunded five events later, and every twelfth event is followed by a chat
    giving its sender's email and the one of the sender seven events before."""
    events = list(stored_events(TrafficPlan(seed=5, customers=60, deliveries=400), LocalSecrets.generate()))
    refunds: dict[int, InteractionEvent] = {}
    purchases = (n for n, e in enumerate(events) if e.event_type == "interaction.pos.purchase")
    for n in itertools.islice(purchases, 0, None, 3):
        refunds[n + 5] = _refund(events[n])
    delivered: list[InteractionEvent] = []
    for n, event in enumerate(events):
        delivered.append(event)
        if n >= 3 and n % 10 == 0:
            delivered.append(events[n - 3])
        if n in refunds:
            delivered.append(refunds[n])
        one, other = _email(event), _email(events[n - 7])
        if n % 12 == 11 and one and other and one != other:
            delivered.append(_tie(n, one, other, event))
    return delivered


async def _rows(pool: AsyncConnectionPool[Conn], query: str, *params: Any) -> list[tuple[Any, ...]]:
    async with pool.connection() as conn:
        cur = await conn.execute(query, params or None)
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
        "references": await _rows(
            pool,
            "SELECT reference_key, customer_id, evidence_event_id FROM transaction_references"
            " ORDER BY reference_key, customer_id",
        ),
    }


async def _separate_oldest(pool: AsyncConnectionPool[Conn]) -> None:
    """Separate every pair of the oldest customers (one of them by :func:`separate`, the others in one
    statement), as staff undoing merges would."""
    oldest = await _rows(
        pool,
        "SELECT substr(stream_id, 10)::uuid FROM events WHERE stream_id LIKE 'customer-%%'"
        " AND stream_version = 0 ORDER BY position LIMIT %s",
        SEPARATED_CUSTOMERS,
    )
    customers = [customer for (customer,) in oldest]
    async with pool.connection() as conn, conn.transaction():
        await separate(conn, customers[0], customers[1], uuid.uuid5(customers[0], "separated"))
        await conn.execute(
            "INSERT INTO customer_separations (customer_a, customer_b, unmerge_event_id)"
            " SELECT a, b, %s FROM unnest(%s::uuid[]) AS a, unnest(%s::uuid[]) AS b WHERE a < b"
            " ON CONFLICT DO NOTHING",
            (uuid.uuid5(customers[0], "separated"), customers, customers),
        )


def _outcomes(recorded: Sequence[Recorded]) -> list[tuple[Any, ...]]:
    return [(r.customer_id, r.position, r.duplicate, r.resolution) for r in recorded]


async def _one_at_a_time(
    pool: AsyncConnectionPool[Conn], events: Sequence[InteractionEvent], rules: IdentityRules
) -> list[Recorded]:
    return [outcome for event in events for outcome in await record_interactions(pool, [event], rules)]


async def _in_batches(
    pool: AsyncConnectionPool[Conn], events: Sequence[InteractionEvent], rules: IdentityRules, size: int
) -> list[Recorded]:
    recorded: list[Recorded] = []
    for start in range(0, len(events), size):
        recorded += await record_interactions(pool, events[start : start + size], rules)
    return recorded


@pytest.mark.parametrize("rules_name", sorted(RULES))
async def test_batches_record_what_one_at_a_time_records(
    pool: AsyncConnectionPool[Conn], fresh_pool: AsyncConnectionPool[Conn], rules_name: str
) -> None:
    rules = RULES[rules_name]
    delivered = _deliveries()
    half = len(delivered) // 2

    one_by_one = await _one_at_a_time(pool, delivered[:half], rules)
    batched = await _in_batches(fresh_pool, delivered[:half], rules, 37)
    assert await _store_state(fresh_pool) == await _store_state(pool)
    await _separate_oldest(pool)
    await _separate_oldest(fresh_pool)
    one_by_one += await _one_at_a_time(pool, delivered[half:], rules)
    batched += await _in_batches(fresh_pool, delivered[half:], rules, 1000)  # the rest in one batch
    again = await record_interactions(fresh_pool, delivered[37:74], rules)

    assert _outcomes(batched) == _outcomes(one_by_one)
    assert all(r.duplicate for r in again)
    assert [r.position for r in again] == [r.position for r in batched[37:74]]
    one_state, batched_state = await _store_state(pool), await _store_state(fresh_pool)
    assert batched_state == one_state
    async with fresh_pool.connection() as conn, conn.transaction():
        assert (await verify_chains(conn)).intact

    # the traffic exercised what batching must get right
    types = [row[4] for row in one_state["events"]]
    assert types.count("customer.absorbed") > 0, "merges"
    assert sum(r.duplicate for r in batched) == len(delivered) - len({e.event_id for e in delivered}) > 0
    refunds = [r for e, r in zip(delivered, batched, strict=True) if e.event_type == "interaction.pos.refund"]
    assert refunds and all(r.resolution and not r.resolution.is_new_customer for r in refunds if r.resolution)
    assert one_state["references"], "order references are indexed apart from person identities"
    resolutions = [r.resolution for r in one_by_one if r.resolution is not None]
    refusals = {refused.reason for resolution in resolutions for refused in resolution.refused}
    assert SEPARATED in refusals, "separated customers stay apart"
    if rules.limits_customers:
        skipped = {skipped.reason for resolution in resolutions for skipped in resolution.skipped}
        assert "limit:external:shopify" in skipped | refusals, "a per-customer limit left a link out"
    if rules is FAMILY_PHONES:
        assert "limit:email" in refusals, "a merge past a per-customer limit is refused"
        assert any(resolution.shared_links for resolution in resolutions), "a family phone is shared"


async def test_identity_facts_read_in_one_statement_what_the_separate_reads_read(
    pool: AsyncConnectionPool[Conn],
) -> None:
    """The writer reads a batch's identity facts in one statement: owners, first positions, separations
    and holdings exactly as the four functions reading them one by one give them."""
    delivered = _deliveries()
    await _in_batches(pool, delivered, FAMILY_PHONES, 200)
    await _separate_oldest(pool)
    keys = sorted({identity.key for event in delivered for identity in event.sender.identities})
    keys += ["email:nobody@example.com", "external:shopify_order:never"]
    async with pool.connection() as conn, conn.transaction():
        for wanted in (keys, keys[:3], [], keys[-2:]):
            for with_holdings in (True, False):
                facts = await identity_facts(conn, wanted, with_holdings)
                owned = await owners(conn, wanted)
                customers = {customer for held in owned.values() for customer in held}
                firsts = await first_positions(conn, [customer_stream(c) for c in customers])
                assert facts.owners == owned
                assert facts.first_positions == {stream_customer(s): p for s, p in firsts.items()}
                assert facts.separated == await separated_pairs(conn, customers)
                expected = await holdings(conn, customers) if with_holdings else None
                assert facts.holdings == expected
        full = await identity_facts(conn, keys, True)
        assert full.separated, "the store has separated customers to read"
        assert any(is_transaction_reference(Identity.parse_key(key)) for key in full.owners)
