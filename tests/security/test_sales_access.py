"""Who may run sales commands and read the pipeline, and whose deals and tasks they reach.

The matrix (test_access_matrix.py) pins each sales route's permission; this module checks the rows:
``deals = "own_and_team"`` keeps a sales rep to the deals of their team as deploy/staff.toml lists it,
``deals = "all"`` lets a manager reach every deal, and a refusal never appends anything.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
import pytest

from plumbing.access.policy import Permission
from tests.support.access import issue_key_async
from tests.support.api_app import bearer
from tests.support.sales import Staff, issue_staff, open_body, sales_client, seed_customers, stream_events

pytestmark = [pytest.mark.security, pytest.mark.timeout(120)]

WITHOUT_SALES = ("support_agent", "marketing_analyst", "auditor", "service_account")


@dataclass
class World:
    dsn: str
    customer: UUID
    staff: Staff
    north_deal: str  # owned by bob (team north)
    south_deal: str  # owned by erin (team south)


@pytest.fixture(scope="module")
async def client(module_database: str) -> AsyncIterator[httpx.AsyncClient]:
    async with sales_client(module_database) as opened:
        yield opened


@pytest.fixture(scope="module")
async def world(module_database: str, client: httpx.AsyncClient) -> World:
    (customer,) = await seed_customers(module_database, f"acc-{uuid.uuid4().hex[:6]}", 1)
    people = [("alice", "sales_rep", "north"), ("boss", "sales_manager", None)]
    people += [(f"no-{role}", role, "north") for role in WITHOUT_SALES]
    staff = await issue_staff(module_database, people)
    deals = []
    for owner in ("bob", "erin"):
        answer = await client.post(
            "/v1/deals", json=open_body(customer, owner_id=owner), headers=staff.headers("boss")
        )
        assert answer.status_code == 201, answer.text
        deals.append(answer.json()["deal_id"])
    return World(module_database, customer, staff, *deals)


def _commands(world: World) -> list[tuple[str, dict[str, Any]]]:
    deal = world.north_deal
    return [
        ("/v1/deals", open_body(world.customer, owner_id="alice")),
        (f"/v1/deals/{deal}/stage", {"expected_version": 0, "stage_id": "offer"}),
        (f"/v1/deals/{deal}/lose", {"expected_version": 0, "reason": "price"}),
        ("/v1/notes", {"customer_id": str(world.customer), "text": "Called"}),
        (
            "/v1/tasks",
            {"customer_id": str(world.customer), "kind": "call_back", "title": "Call"}
            | {"due_at": "2030-01-01T09:00:00Z", "team": "north"},
        ),
        (f"/v1/tasks/{uuid.uuid4()}/complete", {"expected_version": 1}),
    ]


@pytest.mark.parametrize("role", WITHOUT_SALES)
async def test_roles_without_write_deals_are_refused_every_sales_command_and_nothing_is_appended(
    role: str, world: World, client: httpx.AsyncClient
) -> None:
    before = stream_events(world.dsn)

    answers = [
        await client.post(path, json=body, headers=world.staff.headers(f"no-{role}"))
        for path, body in _commands(world)
    ]

    assert {(a.status_code, a.json()["error"]["code"]) for a in answers} == {(403, "forbidden")}
    assert stream_events(world.dsn) == before


async def test_an_anonymous_caller_is_refused_before_the_body_is_read(
    world: World, client: httpx.AsyncClient
) -> None:
    answers = [await client.post(path, content=b"{not json") for path, _ in _commands(world)]

    assert {a.status_code for a in answers} == {401}


async def test_a_key_narrowed_to_reads_cannot_run_sales_commands_even_for_a_sales_rep(
    world: World, client: httpx.AsyncClient
) -> None:
    narrowed = await issue_key_async(
        world.dsn, "alice", ["sales_rep"], team="north", scopes=frozenset({Permission.READ_CARD})
    )

    answer = await client.post(
        "/v1/deals", json=open_body(world.customer, owner_id="alice"), headers=bearer(narrowed.key)
    )

    assert answer.status_code == 403


async def test_a_sales_rep_commands_their_teams_deals_and_another_teams_deal_answers_like_none(
    world: World, client: httpx.AsyncClient
) -> None:
    headers = world.staff.headers("alice")
    body = {"expected_version": 0, "expected_close": "2025-12-24"}

    mine = await client.post(f"/v1/deals/{world.north_deal}/expected-close", json=body, headers=headers)
    theirs = await client.post(f"/v1/deals/{world.south_deal}/expected-close", json=body, headers=headers)
    nobody = await client.post(f"/v1/deals/{uuid.uuid4()}/expected-close", json=body, headers=headers)

    assert mine.status_code == 200, mine.text
    assert (theirs.status_code, nobody.status_code) == (404, 404)
    assert theirs.json()["error"]["code"] == nobody.json()["error"]["code"] == "deal_not_found"


async def test_a_sales_rep_cannot_hand_a_deal_to_another_team_but_a_manager_can(
    world: World, client: httpx.AsyncClient
) -> None:
    created = await client.post(
        "/v1/deals", json=open_body(world.customer, owner_id="carol"), headers=world.staff.headers("alice")
    )
    deal = created.json()["deal_id"]
    before = stream_events(world.dsn)

    rep = await client.post(
        f"/v1/deals/{deal}/owner",
        json={"expected_version": 0, "owner_id": "erin"},
        headers=world.staff.headers("alice"),
    )
    assert (rep.status_code, rep.json()["error"]["code"]) == (403, "out_of_scope")
    assert stream_events(world.dsn) == before
    manager = await client.post(
        f"/v1/deals/{deal}/owner",
        json={"expected_version": 0, "owner_id": "erin"},
        headers=world.staff.headers("boss"),
    )
    assert manager.status_code == 200


@pytest.mark.parametrize("role", WITHOUT_SALES)
async def test_roles_without_read_deals_cannot_read_the_pipeline_deals_or_task_queues(
    role: str, world: World, client: httpx.AsyncClient
) -> None:
    paths = [
        "/v1/pipelines/retail",
        "/v1/deals",
        f"/v1/deals/{world.north_deal}",
        "/v1/tasks?status=overdue",
        "/v1/staff/alice/tasks",
    ]

    answers = [await client.get(path, headers=world.staff.headers(f"no-{role}")) for path in paths]

    assert {a.status_code for a in answers} == {403}
    assert all(world.north_deal not in a.text for a in answers)
