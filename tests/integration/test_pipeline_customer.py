"""The sales section of a customer's card: their deals, open tasks and notes, within the caller's rows."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest

from tests.support.sales import Staff, issue_staff, open_body, project_pipeline, sales_client, seed_customers

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@dataclass
class Card:
    dsn: str
    client: httpx.AsyncClient
    staff: Staff
    customers: list[UUID]

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = await self.client.post(path, json=body, headers=self.staff.headers("boss"))
        assert answer.status_code in (200, 201), answer.text
        result: dict[str, Any] = answer.json()
        return result

    async def sales(self, customer: UUID, who: str = "boss") -> httpx.Response:
        await project_pipeline(self.dsn)
        return await self.client.get(f"/v1/customers/{customer}/sales", headers=self.staff.headers(who))


@pytest.fixture
async def card(database: str) -> AsyncIterator[Card]:
    customers = await seed_customers(database, f"cs-{uuid.uuid4().hex[:6]}", 2)
    staff = await issue_staff(database, [("boss", "sales_manager", None), ("alice", "sales_rep", "north")])
    async with sales_client(database) as client:
        yield Card(database, client, staff, customers)


async def test_a_customers_sales_section_lists_their_deals_open_tasks_and_notes(card: Card) -> None:
    mine, theirs = card.customers
    deal = (await card.post("/v1/deals", open_body(mine, owner_id="alice")))["deal_id"]
    won = (await card.post("/v1/deals", open_body(mine, owner_id="bob")))["deal_id"]
    await card.post(f"/v1/deals/{won}/win", {"expected_version": 0})
    await card.post("/v1/deals", open_body(theirs, owner_id="alice"))
    due = "2030-01-01T09:00:00Z"
    task = {"kind": "call_back", "title": "Call", "due_at": due, "assignee": "carol"}
    open_task = (await card.post("/v1/tasks", {**task, "deal_id": deal}))["task_id"]
    done = await card.post("/v1/tasks", {**task, "customer_id": str(mine)})
    await card.post(f"/v1/tasks/{done['task_id']}/complete", {"expected_version": done["version"]})
    await card.post("/v1/notes", {"customer_id": str(mine), "text": "Prefers email"})
    await card.post("/v1/notes", {"deal_id": deal, "text": "Wants the grey one"})

    answer = await card.sales(mine)

    assert answer.status_code == 200, answer.text
    section = answer.json()
    assert section["customer_id"] == str(mine)
    assert [(d["deal_id"], d["status"]) for d in section["deals"]] == [(won, "won"), (deal, "open")]
    assert [t["task_id"] for t in section["open_tasks"]] == [open_task]
    assert [n["text"] for n in section["notes"]] == ["Wants the grey one", "Prefers email"]


async def test_a_sales_rep_sees_only_their_teams_deals_and_the_notes_on_them(card: Card) -> None:
    mine = card.customers[0]
    north = (await card.post("/v1/deals", open_body(mine, owner_id="bob")))["deal_id"]
    south = (await card.post("/v1/deals", open_body(mine, owner_id="erin")))["deal_id"]
    await card.post("/v1/notes", {"deal_id": south, "text": "South secret"})

    answer = await card.sales(mine, who="alice")

    assert [d["deal_id"] for d in answer.json()["deals"]] == [north]
    assert "South secret" not in answer.text


async def test_an_unknown_customer_is_a_404_and_every_read_is_in_the_access_log(card: Card) -> None:
    unknown = uuid.uuid4()

    missing = await card.sales(unknown)
    found = await card.sales(card.customers[0])

    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "customer_not_found")
    assert found.status_code == 200
    with psycopg.connect(card.dsn) as conn:
        rows = conn.execute(
            "SELECT customer_id, outcome FROM access_log"
            " WHERE route = 'GET /v1/customers/{customer_id}/sales' ORDER BY id"
        ).fetchall()
    assert rows == [(unknown, "not_found"), (card.customers[0], "ok")]
