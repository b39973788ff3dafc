"""Deal and note commands over HTTP against the real event store: answers, refusals, idempotency, races."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
import pytest

from contracts import deal_stream
from tests.support.sales import (
    Staff,
    event_types,
    issue_staff,
    open_body,
    sales_client,
    seed_customers,
    stream_events,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@dataclass
class World:
    dsn: str
    customers: list[UUID]
    staff: Staff


@pytest.fixture(scope="module")
async def world(module_database: str) -> World:
    customers = await seed_customers(module_database, f"cmd-{uuid.uuid4().hex[:6]}", 2)
    staff = await issue_staff(
        module_database,
        [("alice", "sales_rep", "north"), ("dave", "sales_rep", "south"), ("boss", "sales_manager", None)],
    )
    return World(module_database, customers, staff)


@pytest.fixture(scope="module")
async def client(world: World) -> AsyncIterator[httpx.AsyncClient]:
    async with sales_client(world.dsn) as opened:
        yield opened


async def _open(
    client: httpx.AsyncClient, world: World, who: str = "alice", **overrides: Any
) -> dict[str, Any]:
    answer = await client.post(
        "/v1/deals", json=open_body(world.customers[0], **overrides), headers=world.staff.headers(who)
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _unchanged(world: World) -> int:
    return stream_events(world.dsn)


async def test_opening_a_deal_answers_its_id_version_zero_and_the_store_position(
    client: httpx.AsyncClient, world: World
) -> None:
    opened = await _open(client, world)

    assert opened["version"] == 0
    assert opened["position"] > 0
    assert event_types(world.dsn, deal_stream(UUID(opened["deal_id"]))) == ["sales.deal.opened"]


async def test_a_deal_moves_through_its_life_and_every_answer_carries_the_next_version(
    client: httpx.AsyncClient, world: World
) -> None:
    deal = (await _open(client, world))["deal_id"]
    headers = world.staff.headers("alice")
    steps = [
        ("stage", {"stage_id": "qualified"}),
        ("amount", {"amount": "990.00", "currency": "EUR"}),
        ("expected-close", {"expected_close": "2025-09-30"}),
        ("owner", {"owner_id": "bob"}),
        ("lose", {"reason": "price", "comment": "went elsewhere"}),
        ("reopen", {}),
        ("win", {"order_id": "SO-77"}),
    ]
    positions = []
    for version, (path, body) in enumerate(steps):
        answer = await client.post(
            f"/v1/deals/{deal}/{path}", json={"expected_version": version, **body}, headers=headers
        )
        assert answer.status_code == 200, (path, answer.text)
        assert answer.json()["version"] == version + 1
        positions.append(answer.json()["position"])

    assert positions == sorted(positions)
    assert event_types(world.dsn, deal_stream(UUID(deal))) == [
        "sales.deal.opened",
        "sales.deal.stage_moved",
        "sales.deal.amount_changed",
        "sales.deal.expected_close_changed",
        "sales.deal.owner_changed",
        "sales.deal.lost",
        "sales.deal.reopened",
        "sales.deal.won",
    ]


@pytest.mark.parametrize(
    ("overrides", "code", "message"),
    [
        ({"pipeline_id": "moon"}, "unknown_pipeline", "no pipeline 'moon'"),
        ({"stage_id": "won"}, "unknown_stage", "close a deal with /win or /lose"),
        ({"owner_id": "mallory"}, "unknown_staff", "'mallory' is not a staff member"),
        ({"customer_id": str(uuid.UUID(int=7))}, "unknown_customer", "no customer"),
    ],
)
async def test_an_invalid_deal_is_refused_with_422_saying_what_is_wrong_and_nothing_is_appended(
    client: httpx.AsyncClient, world: World, overrides: dict[str, Any], code: str, message: str
) -> None:
    before = _unchanged(world)

    answer = await client.post(
        "/v1/deals", json=open_body(world.customers[0], **overrides), headers=world.staff.headers("boss")
    )

    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == code
    assert message in answer.json()["error"]["message"]
    assert _unchanged(world) == before


@pytest.mark.parametrize(
    "body",
    [
        {"amount": "-1"},
        {"amount": "1.00001"},
        {"currency": "euro"},
        {"currency": "XBT"},
        {"colour": "red"},
        {"title": ""},
    ],
    ids=["negative", "five-decimals", "bad-currency", "not-iso-4217", "unknown-field", "empty-title"],
)
async def test_malformed_input_is_refused_with_422_before_any_decision(
    client: httpx.AsyncClient, world: World, body: dict[str, Any]
) -> None:
    before = _unchanged(world)

    answer = await client.post(
        "/v1/deals", json=open_body(world.customers[0], **body), headers=world.staff.headers("alice")
    )

    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "invalid_request"
    assert _unchanged(world) == before


async def test_moving_a_lost_deal_is_a_409_illegal_transition_and_nothing_is_appended(
    client: httpx.AsyncClient, world: World
) -> None:
    deal = (await _open(client, world))["deal_id"]
    headers = world.staff.headers("alice")
    assert (
        await client.post(
            f"/v1/deals/{deal}/lose", json={"expected_version": 0, "reason": "price"}, headers=headers
        )
    ).status_code == 200
    before = _unchanged(world)

    answer = await client.post(
        f"/v1/deals/{deal}/stage", json={"expected_version": 1, "stage_id": "offer"}, headers=headers
    )

    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "illegal_transition"
    assert "is lost" in answer.json()["error"]["message"]
    assert _unchanged(world) == before


async def test_a_stale_expected_version_is_a_409_and_nothing_is_appended(
    client: httpx.AsyncClient, world: World
) -> None:
    deal = (await _open(client, world))["deal_id"]
    headers = world.staff.headers("alice")
    await client.post(
        f"/v1/deals/{deal}/stage", json={"expected_version": 0, "stage_id": "offer"}, headers=headers
    )
    before = _unchanged(world)

    answer = await client.post(
        f"/v1/deals/{deal}/amount",
        json={"expected_version": 0, "amount": "1", "currency": "EUR"},
        headers=headers,
    )

    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "wrong_expected_version"
    assert _unchanged(world) == before


async def test_an_unknown_deal_is_a_404(client: httpx.AsyncClient, world: World) -> None:
    answer = await client.post(
        f"/v1/deals/{uuid.uuid4()}/stage",
        json={"expected_version": 0, "stage_id": "offer"},
        headers=world.staff.headers("boss"),
    )

    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "deal_not_found"


async def test_of_many_concurrent_moves_from_the_same_version_exactly_one_wins_and_the_rest_get_409(
    client: httpx.AsyncClient, world: World
) -> None:
    deal = (await _open(client, world))["deal_id"]
    headers = world.staff.headers("alice")
    targets = ["qualified", "offer"] * 5

    answers = await asyncio.gather(
        *(
            client.post(
                f"/v1/deals/{deal}/stage", json={"expected_version": 0, "stage_id": stage}, headers=headers
            )
            for stage in targets
        )
    )

    assert sorted(a.status_code for a in answers) == [200] + [409] * 9
    assert {a.json()["error"]["code"] for a in answers if a.status_code == 409} == {"wrong_expected_version"}
    assert event_types(world.dsn, deal_stream(UUID(deal))) == ["sales.deal.opened", "sales.deal.stage_moved"]


async def test_the_same_idempotency_key_and_body_return_the_first_answer_without_appending_again(
    client: httpx.AsyncClient, world: World
) -> None:
    key = f"open-{uuid.uuid4()}"
    body = open_body(world.customers[1])
    first = await client.post("/v1/deals", json=body, headers=world.staff.headers("alice", key))
    before = _unchanged(world)

    again = await client.post(
        "/v1/deals", json=dict(reversed(body.items())), headers=world.staff.headers("alice", key)
    )

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert _unchanged(world) == before


async def test_concurrent_retries_under_one_idempotency_key_append_once(
    client: httpx.AsyncClient, world: World
) -> None:
    key = f"race-{uuid.uuid4()}"
    body = open_body(world.customers[1])
    before = _unchanged(world)

    answers = await asyncio.gather(
        *(client.post("/v1/deals", json=body, headers=world.staff.headers("alice", key)) for _ in range(6))
    )

    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["deal_id"] for a in answers}) == 1
    assert _unchanged(world) == before + 1


async def test_the_same_idempotency_key_with_another_body_is_refused_with_422(
    client: httpx.AsyncClient, world: World
) -> None:
    key = f"k-{uuid.uuid4()}"
    await client.post(
        "/v1/deals", json=open_body(world.customers[0]), headers=world.staff.headers("alice", key)
    )
    before = _unchanged(world)

    answer = await client.post(
        "/v1/deals",
        json=open_body(world.customers[0], amount="1.00"),
        headers=world.staff.headers("alice", key),
    )

    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "idempotency_key_reused"
    assert _unchanged(world) == before


async def test_idempotency_keys_belong_to_their_principal(client: httpx.AsyncClient, world: World) -> None:
    key = f"shared-{uuid.uuid4()}"
    body = open_body(world.customers[0])

    mine = await client.post("/v1/deals", json=body, headers=world.staff.headers("alice", key))
    theirs = await client.post(
        "/v1/deals", json={**body, "owner_id": "alice"}, headers=world.staff.headers("boss", key)
    )

    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["deal_id"] != theirs.json()["deal_id"]


async def test_a_refused_command_does_not_use_up_its_idempotency_key(
    client: httpx.AsyncClient, world: World
) -> None:
    deal = (await _open(client, world))["deal_id"]
    key = f"retry-{uuid.uuid4()}"
    path = f"/v1/deals/{deal}/stage"

    refused = await client.post(
        path, json={"expected_version": 3, "stage_id": "offer"}, headers=world.staff.headers("alice", key)
    )
    corrected = await client.post(
        path, json={"expected_version": 0, "stage_id": "offer"}, headers=world.staff.headers("alice", key)
    )

    assert (refused.status_code, corrected.status_code) == (409, 200)


async def test_an_idempotency_key_of_the_wrong_shape_is_refused(
    client: httpx.AsyncClient, world: World
) -> None:
    answer = await client.post(
        "/v1/deals", json=open_body(world.customers[0]), headers=world.staff.headers("alice", "has space")
    )

    assert answer.status_code == 422


async def test_a_note_on_a_deal_lands_on_its_own_stream_and_leaves_the_deal_version_alone(
    client: httpx.AsyncClient, world: World
) -> None:
    deal = (await _open(client, world))["deal_id"]
    headers = world.staff.headers("alice")

    noted = await client.post(
        "/v1/notes", json={"deal_id": deal, "text": "Call after lunch"}, headers=headers
    )
    moved = await client.post(
        f"/v1/deals/{deal}/stage", json={"expected_version": 0, "stage_id": "offer"}, headers=headers
    )

    assert noted.status_code == 201, noted.text
    assert event_types(world.dsn, f"note-{noted.json()['note_id']}") == ["sales.note.added"]
    assert moved.status_code == 200


async def test_a_note_needs_something_to_be_about_and_a_matching_customer(
    client: httpx.AsyncClient, world: World
) -> None:
    deal = (await _open(client, world))["deal_id"]
    headers = world.staff.headers("alice")

    nothing = await client.post("/v1/notes", json={"text": "floating"}, headers=headers)
    mismatch = await client.post(
        "/v1/notes",
        json={"deal_id": deal, "customer_id": str(world.customers[1]), "text": "x"},
        headers=headers,
    )
    unknown = await client.post(
        "/v1/notes", json={"customer_id": str(uuid.uuid4()), "text": "x"}, headers=headers
    )

    assert [a.status_code for a in (nothing, mismatch, unknown)] == [422, 422, 422]
    assert "not a deal of customer" in mismatch.json()["error"]["message"]


async def test_a_sales_rep_reaches_only_deals_of_their_team_and_gives_work_only_within_it(
    client: httpx.AsyncClient, world: World
) -> None:
    south_deal = (await _open(client, world, who="dave"))["deal_id"]

    hidden = await client.post(
        f"/v1/deals/{south_deal}/stage",
        json={"expected_version": 0, "stage_id": "offer"},
        headers=world.staff.headers("alice"),
    )
    outsider = await client.post(
        "/v1/deals", json=open_body(world.customers[0], owner_id="dave"), headers=world.staff.headers("alice")
    )
    teammate = await client.post(
        "/v1/deals",
        json=open_body(world.customers[0], owner_id="carol"),
        headers=world.staff.headers("alice"),
    )
    note = await client.post(
        "/v1/notes", json={"deal_id": south_deal, "text": "x"}, headers=world.staff.headers("alice")
    )

    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "deal_not_found"
    assert outsider.status_code == 403 and outsider.json()["error"]["code"] == "out_of_scope"
    assert teammate.status_code == 201
    assert note.status_code == 404
