"""The purchase rule follows merges: deals opened on a merged-away customer id are closed by the
survivor's purchases, and an undone merge gives the restored customer its deals back."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from contracts import (
    CustomerAbsorbed,
    CustomerMergedInto,
    CustomerRestored,
    CustomerUnmerged,
    Identity,
    IdentityKind,
    customer_stream,
    deal_stream,
    normalise_identity,
)
from hub import samples
from plumbing.eventstore import NewEvent, PostgresEventStore
from plumbing.eventstore.postgres import Conn
from services.ingress.translate import shopify
from tests.support.sales import (
    Staff,
    event_types,
    issue_staff,
    open_body,
    run_autoclose,
    sales_client,
    seed_customers,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


@dataclass
class Merged:
    dsn: str
    client: httpx.AsyncClient
    staff: Staff
    survivor: UUID
    survivor_person: samples.SamplePerson
    absorbed: UUID
    absorbed_person: samples.SamplePerson

    async def open_deal(self, customer_id: UUID, amount: str = "100") -> UUID:
        body = open_body(customer_id, amount=amount, owner_id="alice")
        answer = await self.client.post("/v1/deals", json=body, headers=self.staff.headers("boss"))
        assert answer.status_code == 201, answer.text
        return UUID(answer.json()["deal_id"])


def _email(person: samples.SamplePerson) -> Identity:
    return normalise_identity(IdentityKind.EMAIL, person.email)


async def _merge(dsn: str, survivor: UUID, absorbed: UUID) -> None:
    """Record a merge as the timeline writer does: ``CustomerMergedInto`` on the absorbed customer's
    stream, ``CustomerAbsorbed`` on the survivor's."""
    now = datetime.now(UTC)
    evidence = uuid.uuid4()
    common = {
        "occurred_at": now,
        "received_at": now,
        "correlation_id": "merge",
        "evidence_event_id": evidence,
    }
    async with AsyncConnectionPool[Conn](dsn, min_size=1, max_size=1) as pool:
        store = PostgresEventStore(pool)
        merged_into = CustomerMergedInto(
            **CustomerMergedInto.type_fields(),
            **common,
            event_id=uuid.uuid4(),
            customer_id=absorbed,
            survivor_id=survivor,
            rule="exact_match",
        )
        await store.append(customer_stream(absorbed), [NewEvent(merged_into, {"customer_id": str(absorbed)})])
        absorbed_event = CustomerAbsorbed(
            **CustomerAbsorbed.type_fields(),
            **common,
            event_id=uuid.uuid4(),
            customer_id=survivor,
            absorbed_id=absorbed,
            rule="exact_match",
        )
        await store.append(
            customer_stream(survivor), [NewEvent(absorbed_event, {"customer_id": str(survivor)})]
        )


@pytest.fixture
async def merged(database: str) -> AsyncIterator[Merged]:
    tag = f"acm-{uuid.uuid4().hex[:6]}"
    older, younger = await seed_customers(database, tag, 2)
    await _merge(database, older, younger)
    staff = await issue_staff(database, [("boss", "sales_manager", None)])
    async with sales_client(database) as client:
        yield Merged(
            database,
            client,
            staff,
            older,
            samples.sample_person(f"{tag}-0"),
            younger,
            samples.sample_person(f"{tag}-1"),
        )


async def _unmerge(dsn: str, survivor: UUID, restored: UUID) -> None:
    """Undo the merge as a staff member would: ``CustomerUnmerged`` on the survivor's stream, then
    ``CustomerRestored`` on the restored customer's."""
    async with AsyncConnectionPool[Conn](dsn, min_size=1, max_size=1) as pool:
        store = PostgresEventStore(pool)
        absorbed = [
            e
            for e in await store.read_stream(customer_stream(survivor))
            if e.event_type == "customer.absorbed"
        ]
        merge_id = absorbed[-1].event_id
        now = datetime.now(UTC)
        common = {"occurred_at": now, "received_at": now, "correlation_id": "unmerge", "actor": "boss"}
        unmerged = CustomerUnmerged(
            **CustomerUnmerged.type_fields(),
            **common,
            event_id=uuid.uuid4(),
            customer_id=survivor,
            restored_id=restored,
            merge_event_id=merge_id,
        )
        await store.append(customer_stream(survivor), [NewEvent(unmerged, {"actor": "boss"})])
        restored_event = CustomerRestored(
            **CustomerRestored.type_fields(),
            **common,
            event_id=uuid.uuid4(),
            customer_id=restored,
            survivor_id=survivor,
            merge_event_id=merge_id,
            unmerge_event_id=unmerged.event_id,
        )
        await store.append(customer_stream(restored), [NewEvent(restored_event, {"actor": "boss"})])


async def _purchase_on(dsn: str, customer_id: UUID, person: samples.SamplePerson, order_id: int) -> None:
    """A shop order appended straight to ``customer_id``'s stream (whoever the identity index names)."""
    raw = samples.shopify_order(person, order_id, [("SKU-1", "Sofa", 1, "100")], "EUR")
    (event,) = shopify.translate(
        raw, received_at=datetime.now(UTC), correlation_id=f"order-{order_id}", default_region="US"
    )
    async with AsyncConnectionPool[Conn](dsn, min_size=1, max_size=1) as pool:
        await PostgresEventStore(pool).append(
            customer_stream(customer_id), [NewEvent(event, {"customer_id": str(customer_id)})]
        )


def _status(dsn: str, deal: UUID) -> str:
    return event_types(dsn, deal_stream(deal))[-1]


async def test_a_deal_opened_on_a_merged_away_customer_is_closed_by_the_survivors_purchase(
    merged: Merged,
) -> None:
    deal = await merged.open_deal(merged.absorbed)  # opened after the merge, on the absorbed id

    await _purchase_on(merged.dsn, merged.survivor, merged.survivor_person, 8_100_001)
    await run_autoclose(merged.dsn)

    assert _status(merged.dsn, deal) == "sales.deal.won"


async def test_a_chain_of_merges_is_followed_to_the_last_survivor(merged: Merged) -> None:
    tag = f"chain-{uuid.uuid4().hex[:6]}"
    oldest, middle, youngest = await seed_customers(merged.dsn, tag, 3)
    people = [samples.sample_person(f"{tag}-{n}") for n in range(3)]
    await _merge(merged.dsn, middle, youngest)
    deal = await merged.open_deal(youngest)  # on an id already merged away
    await run_autoclose(merged.dsn)
    await _merge(merged.dsn, oldest, middle)  # youngest -> middle -> oldest

    await _purchase_on(merged.dsn, oldest, people[0], 8_100_002)
    await run_autoclose(merged.dsn)

    assert _status(merged.dsn, deal) == "sales.deal.won"


async def test_after_an_unmerge_the_restored_customers_deals_are_its_own_again(merged: Merged) -> None:
    restored_deal = await merged.open_deal(merged.absorbed)
    await run_autoclose(merged.dsn)
    await _unmerge(merged.dsn, merged.survivor, merged.absorbed)

    await _purchase_on(merged.dsn, merged.survivor, merged.survivor_person, 8_100_003)
    await run_autoclose(merged.dsn)
    assert _status(merged.dsn, restored_deal) == "sales.deal.opened"  # the survivor's purchase: not theirs

    await _purchase_on(merged.dsn, merged.absorbed, merged.absorbed_person, 8_100_004)
    await run_autoclose(merged.dsn)
    assert _status(merged.dsn, restored_deal) == "sales.deal.won"
