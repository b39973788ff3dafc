"""The purchase rule over the real store: a shop order closes the customer's open deal as won, once."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest

from contracts import deal_stream
from hub import samples
from tests.support.sales import (
    Staff,
    event_types,
    issue_staff,
    open_body,
    project_pipeline,
    record_purchase,
    run_autoclose,
    sales_client,
    seed_customers,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


@dataclass
class Shop:
    dsn: str
    client: httpx.AsyncClient
    staff: Staff
    customer: UUID
    person: samples.SamplePerson
    orders: int = 0

    async def open(self, **overrides: Any) -> str:
        body = open_body(self.customer, **{"owner_id": "alice", **overrides})
        answer = await self.client.post("/v1/deals", json=body, headers=self.staff.headers("boss"))
        assert answer.status_code == 201, answer.text
        return str(answer.json()["deal_id"])

    async def buy(self, total: str, currency: str = "EUR", created_at: datetime | None = None) -> None:
        self.orders += 1
        order_id = 7_000_000 + self.orders
        buyer = await record_purchase(self.dsn, self.person, order_id, total, currency, created_at)
        assert buyer == self.customer

    async def deal(self, deal_id: str) -> dict[str, Any]:
        await project_pipeline(self.dsn)
        answer = await self.client.get(f"/v1/deals/{deal_id}", headers=self.staff.headers("boss"))
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result


@pytest.fixture
async def shop(database: str) -> AsyncIterator[Shop]:
    tag = f"ac-{uuid.uuid4().hex[:6]}"
    (customer,) = await seed_customers(database, tag, 1)
    staff = await issue_staff(database, [("boss", "sales_manager", None)])
    async with sales_client(database) as client:
        yield Shop(database, client, staff, customer, samples.sample_person(f"{tag}-0"))


async def test_a_shop_order_closes_the_customers_open_deal_as_won(shop: Shop) -> None:
    deal = await shop.open(amount="200.00")

    await shop.buy("180.00")
    await run_autoclose(shop.dsn)

    assert event_types(shop.dsn, deal_stream(UUID(deal)))[-1] == "sales.deal.won"
    view = await shop.deal(deal)
    assert (view["status"], view["stage_id"], view["amount"]) == ("won", "won", "180.00")
    assert view["won_order_id"] is not None


async def test_an_order_placed_before_the_deal_opened_leaves_it_open_and_a_later_one_closes_it_when_received(
    shop: Shop,
) -> None:
    deal = await shop.open(amount="100.00")
    opened_at = datetime.fromisoformat((await shop.deal(deal))["opened_at"])

    await shop.buy("100.00", created_at=opened_at - timedelta(days=1))  # delivered late, made yesterday
    await run_autoclose(shop.dsn)
    still_open = await shop.deal(deal)
    before = datetime.now(UTC)
    await shop.buy("100.00")  # made and delivered now
    after = datetime.now(UTC)
    await run_autoclose(shop.dsn)
    won = await shop.deal(deal)

    assert still_open["status"] == "open"
    assert won["status"] == "won"
    assert before <= datetime.fromisoformat(won["closed_at"]) <= after  # when the hub received it
    assert all(
        datetime.fromisoformat(v["left_at"]) >= datetime.fromisoformat(v["entered_at"])
        for v in won["stage_history"]
        if v["left_at"] is not None
    )


async def test_an_order_in_another_currency_too_small_or_for_a_pipeline_without_the_rule_closes_nothing(
    shop: Shop,
) -> None:
    retail = await shop.open(amount="200.00")
    b2b = await shop.open(amount="10.00", pipeline_id="b2b")

    await shop.buy("500.00", "USD")
    await shop.buy("99.99")  # below half of 200.00
    await run_autoclose(shop.dsn)

    assert (await shop.deal(retail))["status"] == "open"
    assert (await shop.deal(b2b))["status"] == "open"


async def test_one_order_closes_only_the_oldest_eligible_deal(shop: Shop) -> None:
    older, newer = await shop.open(amount="100"), await shop.open(amount="100")

    await shop.buy("100")
    await run_autoclose(shop.dsn)

    assert ((await shop.deal(older))["status"], (await shop.deal(newer))["status"]) == ("won", "open")
    await shop.buy("100")
    await run_autoclose(shop.dsn)
    assert (await shop.deal(newer))["status"] == "won"


async def test_a_deal_a_person_moved_meanwhile_is_closed_from_where_it_is_now(shop: Shop) -> None:
    deal = await shop.open(amount="100")
    await shop.buy("100")
    moved = await shop.client.post(
        f"/v1/deals/{deal}/stage",
        json={"expected_version": 0, "stage_id": "offer"},
        headers=shop.staff.headers("boss"),
    )
    assert moved.status_code == 200

    await run_autoclose(
        shop.dsn
    )  # sees the purchase before the move in the log, decides on the stream as it is

    view = await shop.deal(deal)
    assert (view["status"], view["version"]) == ("won", 2)
    assert [v["stage_id"] for v in view["stage_history"]] == ["lead", "offer", "won"]


async def test_a_deal_a_person_lost_before_the_rule_ran_stays_lost(shop: Shop) -> None:
    deal = await shop.open(amount="100")
    await shop.buy("100")
    lost = await shop.client.post(
        f"/v1/deals/{deal}/lose",
        json={"expected_version": 0, "reason": "price"},
        headers=shop.staff.headers("boss"),
    )
    assert lost.status_code == 200

    await run_autoclose(shop.dsn)

    assert event_types(shop.dsn, deal_stream(UUID(deal)))[-1] == "sales.deal.lost"


async def test_running_the_rule_again_from_the_start_appends_nothing_twice(shop: Shop) -> None:
    deal = await shop.open(amount="100")
    await shop.buy("100")
    await run_autoclose(shop.dsn)
    reopened = await shop.client.post(
        f"/v1/deals/{deal}/reopen", json={"expected_version": 1}, headers=shop.staff.headers("boss")
    )
    assert reopened.status_code == 200
    before = event_types(shop.dsn, deal_stream(UUID(deal)))

    with psycopg.connect(shop.dsn) as conn:
        conn.execute("TRUNCATE autoclose_candidates")
        conn.execute("DELETE FROM projection_checkpoints WHERE name = 'deal_autoclose'")
    await run_autoclose(shop.dsn)

    assert (
        event_types(shop.dsn, deal_stream(UUID(deal)))
        == before
        == [
            "sales.deal.opened",
            "sales.deal.won",
            "sales.deal.reopened",
        ]
    )
