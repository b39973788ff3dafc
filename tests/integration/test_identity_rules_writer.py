"""The timeline writer under identity rules, against real PostgreSQL: shared phones, blocked values,
limits and separations end up in the store, the identity index and the logs as the rules say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool
from structlog.testing import capture_logs

from contracts import (
    ChatMessageReceived,
    CustomerAbsorbed,
    CustomerMergedInto,
    Identity,
    IdentityKind,
    IdentityLinked,
    Sender,
    customer_stream,
    event_id_for,
    normalise_identity,
    parse_event,
)
from contracts.identity_rules import IdentityRules, load_identity_rules, parse_identity_rules
from plumbing.eventstore.postgres import Conn
from plumbing.separations import separate
from services.timeline.resolve import SHARED
from services.timeline.store import record_interaction
from tests.support.store import opened, streams_are_contiguous

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

T0 = datetime(2025, 6, 9, 12, 0, tzinfo=UTC)
ALICE = normalise_identity(IdentityKind.EMAIL, "alice@example.com")
BOB = normalise_identity(IdentityKind.EMAIL, "bob@example.com")
PHONE = normalise_identity(IdentityKind.PHONE, "+14155550123")
CARD = normalise_identity(IdentityKind.LOYALTY, "card-77")
HANDLE = normalise_identity(IdentityKind.HANDLE, "v_alice", provider="widget")
SHOP_1 = normalise_identity(IdentityKind.EXTERNAL, "1001", provider="shopify")
SHOP_2 = normalise_identity(IdentityKind.EXTERNAL, "1002", provider="shopify")

PHONES_DO_NOT_MERGE = parse_identity_rules("[kinds.phone]\nmerge = false\nmax_customers_per_value = 2\n")


def _chat(message_id: str, *identities: Identity, minute: int = 0) -> ChatMessageReceived:
    at = T0 + timedelta(minutes=minute)
    return ChatMessageReceived(
        event_id=event_id_for("widget", message_id),
        occurred_at=at,
        received_at=at,
        correlation_id=message_id,
        provider="widget",
        provider_message_id=message_id,
        sender=Sender(identities=identities),
        summary=f"message {message_id}",
        conversation_id="conv",
    )


async def _record(
    pool: AsyncConnectionPool[Conn], message_id: str, *identities: Identity, rules: IdentityRules
) -> UUID:
    recorded = await record_interaction(pool, _chat(message_id, *identities), rules)
    assert recorded.customer_id is not None
    return recorded.customer_id


def _rows(dsn: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return list(conn.execute(query, params or None).fetchall())


def _holders(dsn: str, identity: Identity) -> set[UUID]:
    return {
        c
        for (c,) in _rows(dsn, "SELECT customer_id FROM identity_index WHERE identity_key = %s", identity.key)
    }


def _stream(dsn: str, customer: UUID) -> list[Any]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT event_id, data, metadata FROM events WHERE stream_id = %s ORDER BY stream_version",
            (customer_stream(customer),),
        ).fetchall()
        opened(conn, [(event_id, data, meta) for event_id, data, meta in rows])
    return [parse_event(data) for _, data, _ in rows]


def _merges(dsn: str) -> int:
    ((count,),) = _rows(
        dsn, "SELECT count(*) FROM events WHERE event_type = %s", CustomerMergedInto.EVENT_TYPE
    )
    return int(count)


async def test_two_people_sharing_a_family_phone_stay_apart_and_both_hold_the_phone(
    pool: AsyncConnectionPool[Conn], database: str
) -> None:
    rules = PHONES_DO_NOT_MERGE
    alice = await _record(pool, "m1", ALICE, PHONE, rules=rules)
    bob = await _record(pool, "m2", BOB, rules=rules)

    paid = await _record(pool, "m3", BOB, PHONE, rules=rules)
    only_phone = await _record(pool, "m4", PHONE, rules=rules)

    assert paid == bob
    assert _merges(database) == 0
    assert _holders(database, PHONE) == {alice, bob}
    link = _stream(database, bob)[-2]
    assert isinstance(link, IdentityLinked)
    assert (link.identity, link.rule) == (PHONE, SHARED)
    assert only_phone == alice, "an event known only by the shared phone goes to its oldest holder"
    assert streams_are_contiguous(database)


async def test_the_same_payment_merges_the_two_people_under_the_shipped_rules(
    pool: AsyncConnectionPool[Conn], database: str
) -> None:
    rules = load_identity_rules()
    alice = await _record(pool, "m1", ALICE, PHONE, rules=rules)
    bob = await _record(pool, "m2", BOB, rules=rules)

    paid = await _record(pool, "m3", BOB, PHONE, rules=rules)

    assert paid == alice
    merged_into = _stream(database, bob)[-1]
    absorbed = next(e for e in _stream(database, alice) if isinstance(e, CustomerAbsorbed))
    assert isinstance(merged_into, CustomerMergedInto)
    assert (merged_into.rule, absorbed.rule) == ("auto:email", "auto:email")
    assert set(absorbed.shared_identities) == {BOB, PHONE}
    assert _holders(database, BOB) == _holders(database, PHONE) == {alice}


async def test_a_merge_of_customers_who_both_hold_a_shared_phone_keeps_one_row_per_identity(
    pool: AsyncConnectionPool[Conn], database: str
) -> None:
    rules = PHONES_DO_NOT_MERGE
    alice = await _record(pool, "m1", ALICE, PHONE, rules=rules)
    bob = await _record(pool, "m2", BOB, PHONE, rules=rules)  # a new email: not glued to the phone's holder
    assert alice != bob
    assert _holders(database, PHONE) == {alice, bob}

    merged = await _record(pool, "m3", ALICE, BOB, rules=rules)

    assert merged == alice
    assert _holders(database, PHONE) == {alice}
    assert _rows(database, "SELECT count(*) FROM identity_index WHERE customer_id = %s", bob) == [(0,)]


async def test_a_blocked_address_is_never_linked_nor_matched(
    pool: AsyncConnectionPool[Conn], database: str
) -> None:
    rules = load_identity_rules()
    noreply = normalise_identity(IdentityKind.EMAIL, "noreply@shop.example")
    first = await _record(pool, "m1", noreply, HANDLE, rules=rules)
    second = await _record(pool, "m2", noreply, BOB, rules=rules)

    assert first != second, "the shared no-reply address ties nobody together"
    assert _holders(database, noreply) == set()
    assert _merges(database) == 0


async def test_separated_customers_are_not_merged_and_the_refusal_is_logged(
    pool: AsyncConnectionPool[Conn], database: str
) -> None:
    rules = load_identity_rules()
    alice = await _record(pool, "m1", ALICE, rules=rules)
    bob = await _record(pool, "m2", CARD, rules=rules)
    async with pool.connection() as conn:
        await separate(conn, alice, bob, event_id_for("staff", "unmerge-1"))
    evidence = _chat("m3", ALICE, CARD, HANDLE)

    with capture_logs() as logs:
        recorded = await record_interaction(pool, evidence, rules)

    assert recorded.customer_id == bob, "the loyalty card has the highest priority"
    assert _merges(database) == 0
    assert _holders(database, ALICE) == {alice} and _holders(database, HANDLE) == {bob}
    refused = [entry for entry in logs if entry["event"] == "merge_refused"]
    assert refused == [
        {
            "event": "merge_refused",
            "log_level": "warning",
            "event_id": str(evidence.event_id),
            "customer_id": str(bob),
            "other_customer_id": str(alice),
            "reason": "separated",
            "kinds": ["email", "loyalty"],
        }
    ]


async def test_a_merge_past_a_per_customer_limit_is_refused_and_the_event_goes_by_priority(
    pool: AsyncConnectionPool[Conn], database: str
) -> None:
    rules = load_identity_rules()  # shipped: one shopify customer id per customer
    alice = await _record(pool, "m1", ALICE, SHOP_1, rules=rules)
    bob = await _record(pool, "m2", CARD, SHOP_2, rules=rules)

    both = await _record(pool, "m3", ALICE, CARD, rules=rules)
    another_id = await _record(
        pool, "m4", ALICE, normalise_identity(IdentityKind.EXTERNAL, "9", provider="shopify"), rules=rules
    )

    assert both == bob
    assert _merges(database) == 0
    assert another_id == alice
    shop_ids = (
        "SELECT identity_key FROM identity_index"
        " WHERE customer_id = %s AND identity_key LIKE 'external:shopify:%%'"
    )
    assert _rows(database, shop_ids, alice) == [(SHOP_1.key,)]


async def test_a_refused_merge_sends_the_event_elsewhere_while_the_allowed_merge_is_recorded_on_the_survivor(
    pool: AsyncConnectionPool[Conn], database: str
) -> None:
    rules = load_identity_rules()
    oldest = await _record(pool, "m1", ALICE, rules=rules)
    middle = await _record(pool, "m2", HANDLE, rules=rules)
    carded = await _record(pool, "m3", CARD, rules=rules)
    async with pool.connection() as conn:
        await separate(conn, oldest, carded, event_id_for("staff", "unmerge-2"))
    evidence = _chat("m4", ALICE, HANDLE, CARD)

    recorded = await record_interaction(pool, evidence, rules)

    assert recorded.customer_id == carded
    assert _stream(database, carded)[-1] == evidence
    absorbed = _stream(database, oldest)[-1]
    assert isinstance(absorbed, CustomerAbsorbed)
    assert (absorbed.absorbed_id, absorbed.rule, absorbed.evidence_event_id) == (
        middle,
        "auto:handle",
        evidence.event_id,
    )
    assert _holders(database, HANDLE) == {oldest}
    assert streams_are_contiguous(database)
