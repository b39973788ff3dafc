"""Tasks over HTTP against the real store: distribution by policy, caps under concurrency, queues, overdue."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from tests.support.api_app import MovableClock
from tests.support.sales import (
    Staff,
    event_types,
    issue_staff,
    project_pipeline,
    sales_client,
    seed_customers,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

T0 = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
STAFF = """
version = 1

[[teams]]
id = "duo"
name = "Duo"
policy = "least_loaded"
cap = 3
members = [{ id = "ann" }, { id = "ben" }, { id = "zed", available = false }]

[[teams]]
id = "trio"
name = "Trio"
policy = "round_robin"
members = [{ id = "cat" }, { id = "dan" }, { id = "eve" }]
"""


@dataclass
class Desk:
    dsn: str
    client: httpx.AsyncClient
    clock: MovableClock
    staff: Staff
    customer: UUID

    async def post(
        self, path: str, body: dict[str, Any], who: str = "boss", key: str | None = None
    ) -> httpx.Response:
        return await self.client.post(path, json=body, headers=self.staff.headers(who, key))

    async def create(
        self, who: str = "boss", due_in: timedelta = timedelta(days=1), **target: Any
    ) -> httpx.Response:
        body = {
            "kind": "call_back",
            "title": "Call back about the sofa",
            "customer_id": str(self.customer),
            "due_at": (self.clock.now + due_in).isoformat(),
            **target,
        }
        return await self.post("/v1/tasks", body, who)

    async def get(self, path: str, who: str = "boss", **params: Any) -> dict[str, Any]:
        await project_pipeline(self.dsn)
        answer = await self.client.get(path, params=params, headers=self.staff.headers(who))
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result


@pytest.fixture
async def desk(database: str, tmp_path: Path) -> AsyncIterator[Desk]:
    staff_file = tmp_path / "staff.toml"
    staff_file.write_text(STAFF)
    (customer,) = await seed_customers(database, f"tk-{uuid.uuid4().hex[:6]}", 1)
    staff = await issue_staff(database, [("boss", "sales_manager", None), ("ann", "sales_rep", "duo")])
    clock = MovableClock(T0)
    async with sales_client(database, clock=clock, staff_file=staff_file) as client:
        yield Desk(database, client, clock, staff, customer)


async def test_a_round_robin_team_takes_new_tasks_in_turn(desk: Desk) -> None:
    answers = [await desk.create(team="trio") for _ in range(6)]

    assert [a.status_code for a in answers] == [201] * 6
    assert [a.json()["assignee"] for a in answers] == ["cat", "dan", "eve", "cat", "dan", "eve"]
    assert {a.json()["team"] for a in answers} == {"trio"}


async def test_concurrent_tasks_for_a_capped_team_never_overrun_the_cap(desk: Desk) -> None:
    answers = await asyncio.gather(*(desk.create(team="duo") for _ in range(10)))

    statuses = Counter(a.status_code for a in answers)
    assert statuses == {201: 6, 409: 4}
    assert Counter(a.json()["assignee"] for a in answers if a.status_code == 201) == {"ann": 3, "ben": 3}
    assert {a.json()["error"]["code"] for a in answers if a.status_code == 409} == {"no_available_staff"}
    assert event_types(desk.dsn, "taskqueue-duo") == ["sales.queue.task_queued"] * 6


async def test_finishing_a_task_frees_a_slot_under_the_cap(desk: Desk) -> None:
    created = [(await desk.create(team="duo")).json() for _ in range(6)]
    assert (await desk.create(team="duo")).status_code == 409
    bens = next(task for task in created if task["assignee"] == "ben")

    done = await desk.post(
        f"/v1/tasks/{bens['task_id']}/complete", {"expected_version": bens["version"], "outcome": "sold"}
    )
    after = await desk.create(team="duo")

    assert done.status_code == 200, done.text
    assert (after.status_code, after.json()["assignee"]) == (201, "ben")


async def test_an_explicit_assignment_goes_to_the_named_person_even_when_they_are_away(desk: Desk) -> None:
    answer = await desk.create(assignee="zed")

    assert (answer.status_code, answer.json()["assignee"], answer.json()["team"]) == (201, "zed", "duo")
    unknown = await desk.create(assignee="mallory")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (422, "unknown_staff")
    both = await desk.create(assignee="ann", team="duo")
    assert both.status_code == 422


async def test_a_task_is_reassigned_then_completed_and_its_queues_follow(desk: Desk) -> None:
    task = (await desk.create(assignee="cat")).json()
    path = f"/v1/tasks/{task['task_id']}"

    moved = await desk.post(f"{path}/reassign", {"expected_version": 1, "team": "duo"})
    stale = await desk.post(f"{path}/complete", {"expected_version": 1})
    done = await desk.post(f"{path}/complete", {"expected_version": 2, "outcome": "called"})
    again = await desk.post(f"{path}/cancel", {"expected_version": 3})

    assert (moved.status_code, moved.json()["assignee"], moved.json()["team"]) == (200, "ann", "duo")
    assert (stale.status_code, stale.json()["error"]["code"]) == (409, "wrong_expected_version")
    assert done.status_code == 200
    assert (again.status_code, again.json()["error"]["code"]) == (409, "illegal_transition")
    assert event_types(desk.dsn, "taskqueue-trio") == ["sales.queue.task_queued", "sales.queue.task_released"]
    assert event_types(desk.dsn, "taskqueue-duo") == ["sales.queue.task_queued", "sales.queue.task_released"]
    view = await desk.get("/v1/staff/ann/tasks")
    assert [(t["status"], t["note"], t["routing"]) for t in view["items"]] == [
        ("completed", "called", "least_loaded")
    ]


async def test_staff_queues_and_the_overdue_list_show_what_is_late_now(desk: Desk) -> None:
    late = (await desk.create(assignee="ann", due_in=timedelta(hours=2))).json()
    later = (await desk.create(assignee="ann", due_in=timedelta(days=3))).json()
    other = (await desk.create(assignee="dan", due_in=timedelta(hours=1))).json()
    cancelled = (await desk.create(assignee="dan", due_in=timedelta(hours=1))).json()
    await desk.post(
        f"/v1/tasks/{cancelled['task_id']}/cancel", {"expected_version": 1, "reason": "duplicate"}
    )
    desk.clock.advance(timedelta(hours=5))

    anns = await desk.get("/v1/staff/ann/tasks")
    overdue = await desk.get("/v1/tasks", status="overdue")
    anns_overdue = await desk.get("/v1/staff/ann/tasks", status="overdue")

    assert [(t["task_id"], t["overdue"]) for t in anns["items"]] == [
        (late["task_id"], True),
        (later["task_id"], False),
    ]
    assert [t["task_id"] for t in overdue["items"]] == [late["task_id"], other["task_id"]]
    assert [t["task_id"] for t in anns_overdue["items"]] == [late["task_id"]]


async def test_task_queues_page_with_a_cursor(desk: Desk) -> None:
    made = [(await desk.create(assignee="eve")).json()["task_id"] for _ in range(5)]

    first = await desk.get("/v1/staff/eve/tasks", limit=2)
    second = await desk.get("/v1/staff/eve/tasks", limit=2, cursor=first["next_cursor"])
    third = await desk.get("/v1/staff/eve/tasks", limit=2, cursor=second["next_cursor"])

    pages = [first, second, third]
    assert [t["task_id"] for page in pages for t in page["items"]] == made
    assert third["next_cursor"] is None


async def test_a_task_for_a_deal_takes_the_deals_customer_and_an_unknown_customer_is_refused(
    desk: Desk,
) -> None:
    deal = await desk.post(
        "/v1/deals",
        {"customer_id": str(desk.customer), "title": "Sofa", "amount": "10", "currency": "EUR"}
        | {"pipeline_id": "retail", "owner_id": "ann"},
    )
    assert deal.status_code == 201, deal.text
    due = (T0 + timedelta(days=1)).isoformat()

    for_deal = await desk.post(
        "/v1/tasks",
        {
            "kind": "send_offer",
            "title": "Offer",
            "deal_id": deal.json()["deal_id"],
            "due_at": due,
            "assignee": "ann",
        },
    )
    nobody = await desk.post(
        "/v1/tasks",
        {
            "kind": "meeting",
            "title": "Meet",
            "customer_id": str(uuid.uuid4()),
            "due_at": due,
            "assignee": "ann",
        },
    )

    assert for_deal.status_code == 201, for_deal.text
    listed = await desk.get("/v1/tasks", deal=deal.json()["deal_id"])
    assert [t["customer_id"] for t in listed["items"]] == [str(desk.customer)]
    assert (nobody.status_code, nobody.json()["error"]["code"]) == (422, "unknown_customer")


async def test_the_same_idempotency_key_creates_one_task(desk: Desk) -> None:
    body = {
        "kind": "call_back",
        "title": "Once",
        "customer_id": str(desk.customer),
        "due_at": T0.isoformat(),
        "team": "trio",
    }

    answers = await asyncio.gather(*(desk.post("/v1/tasks", body, key="task-once") for _ in range(4)))

    assert len({a.json()["task_id"] for a in answers}) == 1
    assert event_types(desk.dsn, "taskqueue-trio") == ["sales.queue.task_queued"]


async def test_a_sales_rep_works_only_their_teams_tasks(desk: Desk) -> None:
    theirs = (await desk.create(assignee="cat")).json()

    hidden = await desk.post(f"/v1/tasks/{theirs['task_id']}/complete", {"expected_version": 1}, who="ann")
    outward = await desk.create(who="ann", team="trio")
    own = await desk.create(who="ann", team="duo")
    listed = await desk.get("/v1/tasks", who="ann")

    assert (hidden.status_code, hidden.json()["error"]["code"]) == (404, "task_not_found")
    assert (outward.status_code, outward.json()["error"]["code"]) == (403, "out_of_scope")
    assert own.status_code == 201
    assert [t["task_id"] for t in listed["items"]] == [own.json()["task_id"]]
