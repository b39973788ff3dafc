"""The timeline writer's transaction against real PostgreSQL: resolve, merge, append, index."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from psycopg_pool import AsyncConnectionPool

from contracts import (
    ChatMessageReceived,
    CustomerAbsorbed,
    CustomerMergedInto,
    Identity,
    IdentityKind,
    IdentityLinked,
    Sender,
    customer_stream,
    derived_event_id,
    event_id_for,
    normalise_identity,
    parse_event,
)
from hub.samples import sample_person
from plumbing.eventstore.postgres import Conn
from plumbing.eventstore.sealing import open_sealed
from services.timeline.resolve import EXACT_MATCH, NEW_CUSTOMER
from services.timeline.store import record_interaction
from tests.support.store import interaction_counts, streams_are_contiguous
from tests.support.traffic import chat_events

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

T0 = datetime(2025, 6, 9, 12, 0, tzinfo=UTC)


def _email(tag: str) -> Identity:
    return normalise_identity(IdentityKind.EMAIL, f"{tag}@example.com")


def _phone(n: int) -> Identity:
    return normalise_identity(IdentityKind.PHONE, sample_person(n).phone)


def _handle(tag: str) -> Identity:
    return normalise_identity(IdentityKind.HANDLE, f"v_{tag}", provider="widget")


def _chat(message_id: str, *identities: Identity, minute: int = 0) -> ChatMessageReceived:
    at = T0 + timedelta(minutes=minute)
    return ChatMessageReceived(
        event_id=event_id_for("widget", message_id),
        occurred_at=at,
        received_at=at,
        correlation_id=message_id,
        provider="widget",
        provider_message_id=message_id,
        sender=Sender(identities=identities, display_name="Ada"),
        summary=f"message {message_id}",
        conversation_id="conv",
    )


async def _rows(pool: AsyncConnectionPool[Conn], query: str, *params: Any) -> list[tuple[Any, ...]]:
    async with pool.connection() as conn:
        cur = await conn.execute(query, params or None)
        return list(await cur.fetchall())


async def _stream(pool: AsyncConnectionPool[Conn], customer: UUID | None) -> list[tuple[Any, ...]]:
    """(position, stream_version, event_type, data, xmin) of a customer's stream, oldest first."""
    assert customer is not None
    found = await _rows(
        pool,
        "SELECT position, stream_version, event_type, data, xmin::text, event_id, metadata FROM events"
        " WHERE stream_id = %s ORDER BY stream_version",
        customer_stream(customer),
    )
    async with pool.connection() as conn:  # what the events say: sealed personal fields opened
        await open_sealed(conn, [(row[5], row[3], row[6]) for row in found])
    return [row[:5] for row in found]


async def _index(pool: AsyncConnectionPool[Conn]) -> dict[str, UUID]:
    return {
        key: customer
        for key, customer in await _rows(pool, "SELECT identity_key, customer_id FROM identity_index")
    }


async def _count(pool: AsyncConnectionPool[Conn], table: str) -> int:
    assert table in {"events", "streams", "identity_index"}
    ((count,),) = await _rows(pool, f"SELECT count(*) FROM {table}")
    return int(count)


async def test_a_first_event_creates_a_customer_with_its_links_and_the_interaction_in_one_append(
    pool: AsyncConnectionPool[Conn],
) -> None:
    email, handle = _email("ada"), _handle("ada")
    event = _chat("m1", email, handle)

    recorded = await record_interaction(pool, event)

    assert not recorded.duplicate
    assert recorded.customer_id == derived_event_id(event.event_id, "customer")
    assert recorded.resolution is not None and recorded.resolution.is_new_customer
    stream = await _stream(pool, recorded.customer_id)
    assert [row[2] for row in stream] == [
        IdentityLinked.EVENT_TYPE,
        IdentityLinked.EVENT_TYPE,
        event.event_type,
    ]
    assert [row[1] for row in stream] == [0, 1, 2]
    positions = [row[0] for row in stream]
    assert positions == list(range(positions[0], positions[0] + 3)), "one append: contiguous positions"
    assert len({row[4] for row in stream}) == 1, "one append: one transaction wrote every row"
    assert recorded.position == positions[-1]
    links = [parse_event(row[3]) for row in stream[:2]]
    assert all(isinstance(link, IdentityLinked) for link in links)
    assert [link.identity for link in links] == [email, handle]  # type: ignore[attr-defined]
    assert {link.rule for link in links} == {NEW_CUSTOMER}  # type: ignore[attr-defined]
    assert {link.evidence_event_id for link in links} == {event.event_id}  # type: ignore[attr-defined]
    assert {link.customer_id for link in links} == {recorded.customer_id}  # type: ignore[attr-defined]
    assert parse_event(stream[2][3]) == event
    assert await _index(pool) == {email.key: recorded.customer_id, handle.key: recorded.customer_id}
    assert await _count(pool, "events") == 3


async def test_a_second_event_sharing_one_identity_lands_on_the_same_customer_and_links_the_new_ones(
    pool: AsyncConnectionPool[Conn],
) -> None:
    email, handle, phone = _email("ada"), _handle("ada"), _phone(1)
    first = await record_interaction(pool, _chat("m1", email, handle))
    second_event = _chat("m2", phone, email, minute=5)

    second = await record_interaction(pool, second_event)

    assert second.customer_id == first.customer_id
    assert second.resolution is not None
    assert not second.resolution.is_new_customer
    assert second.resolution.new_links == (phone,)
    assert second.resolution.merges == ()
    stream = await _stream(pool, first.customer_id)
    assert [row[2] for row in stream][3:] == [IdentityLinked.EVENT_TYPE, second_event.event_type]
    link = parse_event(stream[3][3])
    assert isinstance(link, IdentityLinked)
    assert (link.identity, link.rule, link.evidence_event_id) == (phone, EXACT_MATCH, second_event.event_id)
    assert await _index(pool) == dict.fromkeys([email.key, handle.key, phone.key], first.customer_id)
    assert await _count(pool, "streams") == 1


async def test_a_sender_listing_one_identity_twice_links_it_once(pool: AsyncConnectionPool[Conn]) -> None:
    email = _email("ada")
    same = normalise_identity(IdentityKind.EMAIL, " ADA@example.com ")
    recorded = await record_interaction(pool, _chat("m1", email, same, _handle("ada"), email))

    assert recorded.resolution is not None
    assert recorded.resolution.new_links == (email, _handle("ada"))
    assert await _count(pool, "identity_index") == 2
    types = [row[2] for row in await _stream(pool, recorded.customer_id)]
    assert types.count(IdentityLinked.EVENT_TYPE) == 2


async def test_a_redelivered_event_is_a_no_op_that_returns_the_original_outcome(
    pool: AsyncConnectionPool[Conn],
) -> None:
    event = _chat("m1", _email("ada"), _handle("ada"))
    first = await record_interaction(pool, event)
    before = (
        await _count(pool, "events"),
        await _count(pool, "identity_index"),
        await _count(pool, "streams"),
    )

    again = await record_interaction(pool, event)
    rebuilt = await record_interaction(pool, ChatMessageReceived.model_validate(event.model_dump()))

    for repeat in (again, rebuilt):
        assert repeat.duplicate
        assert repeat.customer_id == first.customer_id
        assert repeat.position == first.position
    after = (
        await _count(pool, "events"),
        await _count(pool, "identity_index"),
        await _count(pool, "streams"),
    )
    assert after == before


async def test_an_event_with_identities_of_two_customers_merges_them_into_the_older(
    pool: AsyncConnectionPool[Conn],
) -> None:
    email, phone, handle = _email("ada"), _phone(2), _handle("ada")
    older = await record_interaction(pool, _chat("m1", email, minute=0))
    younger = await record_interaction(pool, _chat("m2", phone, minute=1))
    assert older.customer_id != younger.customer_id
    assert older.customer_id is not None and younger.customer_id is not None
    # the younger customer's identity comes first: the order of identities must not matter
    evidence = _chat("m3", phone, email, handle, minute=2)

    merged = await record_interaction(pool, evidence)

    assert merged.customer_id == older.customer_id
    assert merged.resolution is not None
    assert [m.absorbed for m in merged.resolution.merges] == [younger.customer_id]

    absorbed_stream = await _stream(pool, younger.customer_id)
    assert absorbed_stream[-1][2] == CustomerMergedInto.EVENT_TYPE
    merged_into = parse_event(absorbed_stream[-1][3])
    assert isinstance(merged_into, CustomerMergedInto)
    assert merged_into.customer_id == younger.customer_id
    assert merged_into.survivor_id == older.customer_id
    assert merged_into.evidence_event_id == evidence.event_id
    assert set(merged_into.shared_identities) == {email, phone}

    survivor_stream = await _stream(pool, older.customer_id)
    types = [row[2] for row in survivor_stream]
    assert types == [
        IdentityLinked.EVENT_TYPE,
        evidence.event_type,  # m1
        CustomerAbsorbed.EVENT_TYPE,
        IdentityLinked.EVENT_TYPE,  # the handle, new with m3
        evidence.event_type,  # m3
    ]
    absorbed = parse_event(survivor_stream[2][3])
    assert isinstance(absorbed, CustomerAbsorbed)
    assert absorbed.absorbed_id == younger.customer_id
    assert set(absorbed.shared_identities) == {email, phone}
    assert survivor_stream[2][0] > absorbed_stream[-1][0], "the absorbed stream is closed first"
    assert len({row[4] for row in absorbed_stream[-1:] + survivor_stream[2:]}) == 1, "one transaction"

    assert await _index(pool) == dict.fromkeys([email.key, phone.key, handle.key], older.customer_id)

    later = await record_interaction(pool, _chat("m4", phone, minute=3))
    assert later.customer_id == older.customer_id, "the absorbed identity now resolves to the survivor"
    assert len(await _stream(pool, younger.customer_id)) == len(absorbed_stream), (
        "absorbed stream stays closed"
    )


async def test_an_event_with_identities_of_three_customers_gives_two_merges_into_the_oldest(
    pool: AsyncConnectionPool[Conn],
) -> None:
    email, phone, handle = _email("ada"), _phone(3), _handle("ada")
    oldest = await record_interaction(pool, _chat("m1", handle))
    middle = await record_interaction(pool, _chat("m2", email))
    youngest = await record_interaction(pool, _chat("m3", phone))

    merged = await record_interaction(pool, _chat("m4", phone, email, handle))

    assert merged.customer_id == oldest.customer_id
    assert merged.resolution is not None
    assert {m.absorbed for m in merged.resolution.merges} == {middle.customer_id, youngest.customer_id}
    for absorbed in (middle.customer_id, youngest.customer_id):
        assert absorbed is not None
        assert (await _stream(pool, absorbed))[-1][2] == CustomerMergedInto.EVENT_TYPE
    types = [row[2] for row in await _stream(pool, oldest.customer_id)]
    assert types.count(CustomerAbsorbed.EVENT_TYPE) == 2
    assert set((await _index(pool)).values()) == {oldest.customer_id}


async def test_a_redelivered_merge_event_merges_nothing_twice(pool: AsyncConnectionPool[Conn]) -> None:
    email, phone = _email("ada"), _phone(4)
    await record_interaction(pool, _chat("m1", email))
    await record_interaction(pool, _chat("m2", phone))
    evidence = _chat("m3", email, phone)
    first = await record_interaction(pool, evidence)
    count = await _count(pool, "events")

    again = await record_interaction(pool, evidence)

    assert again.duplicate
    assert again.position == first.position
    assert await _count(pool, "events") == count


async def test_concurrent_events_of_the_same_people_end_with_exactly_one_customer_per_person(
    pool: AsyncConnectionPool[Conn], database: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    events = chat_events(20, 5, tag)

    outcomes = await asyncio.wait_for(
        asyncio.gather(*(record_interaction(pool, event) for event in events)), timeout=60
    )

    index = await _index(pool)
    by_person: dict[int, set[UUID]] = {}
    for n, event in enumerate(events):
        by_person.setdefault(n % 5, set()).update(index[i.key] for i in event.sender.identities)
    assert all(len(customers) == 1 for customers in by_person.values()), by_person
    assert len({customer for customers in by_person.values() for customer in customers}) == 5
    assert len(set(index.values())) == 5
    assert sum(o.resolution is not None and o.resolution.is_new_customer for o in outcomes) == 5
    assert not any(o.resolution and o.resolution.merges for o in outcomes)
    assert await _count(pool, "streams") == 5
    assert interaction_counts(database) == (20, 20)
    assert streams_are_contiguous(database)


async def test_concurrent_events_that_reveal_identities_piecemeal_converge_to_one_live_customer_per_person(
    pool: AsyncConnectionPool[Conn], database: str
) -> None:
    people = 5
    identities = {p: (_email(f"p{p}"), _phone(100 + p), _handle(f"p{p}")) for p in range(people)}
    events = []
    for p, (email, phone, handle) in identities.items():
        shapes = [(email,), (phone,), (handle,), (email, phone), (phone, handle), (handle, email)]
        events += [_chat(f"p{p}-{n}", *shape, minute=n) for n, shape in enumerate(shapes)]

    outcomes = await asyncio.wait_for(
        asyncio.gather(*(record_interaction(pool, event) for event in events)), timeout=60
    )

    index = await _index(pool)
    live = {p: {index[i.key] for i in ids} for p, ids in identities.items()}
    assert all(len(customers) == 1 for customers in live.values()), live
    assert len(set(index.values())) == people
    absorbed = {m.absorbed for o in outcomes if o.resolution for m in o.resolution.merges}
    assert absorbed.isdisjoint(index.values()), "no identity points at an absorbed customer"
    merged_into = await _rows(
        pool, "SELECT stream_id FROM events WHERE event_type = %s", CustomerMergedInto.EVENT_TYPE
    )
    assert {row[0] for row in merged_into} == {customer_stream(c) for c in absorbed}
    assert interaction_counts(database) == (len(events), len(events))
    assert streams_are_contiguous(database)
