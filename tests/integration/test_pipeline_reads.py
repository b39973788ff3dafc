"""The pipeline projection and its read API over the real store: forecast, listings, one deal, rebuilds."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from contracts.read.pipeline import summarize
from plumbing.eventstore.postgres import Conn, read_all
from projections.pipeline.evolve import pipeline_as_of, to_fact
from services.api.sales_config import load_rules
from tests.support.api_app import MovableClock
from tests.support.sales import Staff, issue_staff, open_body, project_pipeline, sales_client, seed_customers

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

T0 = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
RULES = load_rules()


@dataclass
class Sales:
    """A client of the API whose clock the test moves, and helpers that run commands and project."""

    dsn: str
    client: httpx.AsyncClient
    clock: MovableClock
    staff: Staff
    customers: list[UUID]

    async def command(
        self, path: str, body: dict[str, Any], who: str = "boss", status: int = 200
    ) -> dict[str, Any]:
        answer = await self.client.post(path, json=body, headers=self.staff.headers(who))
        assert answer.status_code == status, answer.text
        result: dict[str, Any] = answer.json()
        return result

    async def open(self, who: str = "boss", customer: int = 0, **overrides: Any) -> str:
        body = open_body(self.customers[customer], **{"owner_id": "alice", **overrides})
        return str((await self.command("/v1/deals", body, who, 201))["deal_id"])

    async def change(self, deal: str, verb: str, body: dict[str, Any], version: int) -> dict[str, Any]:
        return await self.command(f"/v1/deals/{deal}/{verb}", {"expected_version": version, **body})

    async def get(self, path: str, who: str = "boss", **params: Any) -> dict[str, Any]:
        await project_pipeline(self.dsn)
        answer = await self.client.get(path, params=params, headers=self.staff.headers(who))
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result


@pytest.fixture
async def sales(database: str) -> AsyncIterator[Sales]:
    customers = await seed_customers(database, f"rd-{uuid.uuid4().hex[:6]}", 2)
    staff = await issue_staff(
        database,
        [("boss", "sales_manager", None), ("alice", "sales_rep", "north"), ("dave", "sales_rep", "south")],
    )
    clock = MovableClock(T0)
    async with sales_client(database, clock=clock) as client:
        yield Sales(database, client, clock, staff, customers)


async def test_the_pipeline_counts_sums_and_weighs_open_deals_per_stage_and_currency(sales: Sales) -> None:
    await sales.open(amount="1200.50")
    await sales.open(amount="99.50")
    await sales.open(amount="10.00", currency="USD")
    offer = await sales.open(amount="500.00")
    await sales.change(offer, "stage", {"stage_id": "offer"}, 0)
    await sales.open(pipeline_id="b2b", amount="7777")  # another pipeline: not counted

    pipeline = await sales.get("/v1/pipelines/retail")

    stages = {s["stage_id"]: s for s in pipeline["stages"]}
    assert (stages["lead"]["open_count"], stages["offer"]["open_count"]) == (3, 1)
    assert stages["lead"]["open_amounts"] == {"EUR": "1300.00", "USD": "10.00"}
    assert stages["lead"]["weighted"] == {"EUR": "130.0000", "USD": "1.0000"}
    assert stages["offer"]["weighted"] == {"EUR": "300.0000"}
    assert {k: Decimal(v) for k, v in pipeline["forecast"].items()} == {
        "EUR": Decimal(430),
        "USD": Decimal(1),
    }
    assert pipeline["open_count"] == 4
    assert pipeline["as_of_position"] > 0


async def test_won_and_lost_totals_cover_deals_closed_in_the_asked_period(sales: Sales) -> None:
    june = await sales.open(amount="300")
    await sales.change(june, "win", {}, 0)
    sales.clock.advance(timedelta(days=40))  # into July
    july = await sales.open(amount="50")
    await sales.change(july, "lose", {"reason": "price"}, 0)

    default = await sales.get("/v1/pipelines/retail")  # this month: July
    june_only = await sales.get(
        "/v1/pipelines/retail", since="2025-06-01T00:00:00Z", until="2025-07-01T00:00:00Z"
    )

    assert (default["won"]["count"], default["lost"]["count"], default["lost"]["amounts"]) == (
        0,
        1,
        {"EUR": "50"},
    )
    assert (june_only["won"]["count"], june_only["won"]["amounts"], june_only["lost"]["count"]) == (
        1,
        {"EUR": "300"},
        0,
    )


async def test_an_unknown_pipeline_is_a_404_and_an_empty_period_a_422(sales: Sales) -> None:
    headers = sales.staff.headers("boss")

    unknown = await sales.client.get("/v1/pipelines/moon", headers=headers)
    backwards = await sales.client.get(
        "/v1/pipelines/retail",
        params={"since": "2025-06-02T00:00:00Z", "until": "2025-06-01T00:00:00Z"},
        headers=headers,
    )

    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "pipeline_not_found"
    assert backwards.status_code == 422


async def test_a_deal_shows_its_stage_history_and_the_time_it_spent_in_each_stage(sales: Sales) -> None:
    deal = await sales.open()
    sales.clock.advance(timedelta(days=2))
    await sales.change(deal, "stage", {"stage_id": "qualified"}, 0)
    sales.clock.advance(timedelta(hours=12))
    await sales.change(deal, "stage", {"stage_id": "lead"}, 1)
    sales.clock.advance(timedelta(days=1))
    await sales.change(deal, "stage", {"stage_id": "offer"}, 2)
    sales.clock.advance(timedelta(hours=6))
    await sales.command("/v1/notes", {"deal_id": deal, "text": "Sent the offer"}, status=201)

    detail = await sales.get(f"/v1/deals/{deal}")

    assert [v["stage_id"] for v in detail["stage_history"]] == ["lead", "qualified", "lead", "offer"]
    hours = {t["stage_id"]: (t["visits"], t["seconds"] // 3600) for t in detail["time_in_stages"]}
    assert hours == {"lead": (2, 72), "qualified": (1, 12), "offer": (1, 6)}
    assert detail["in_stage_since"] == "2025-06-05T21:00:00Z"
    assert [n["text"] for n in detail["notes"]] == ["Sent the offer"]
    assert (detail["version"], detail["stale"]) == (3, False)


async def test_a_deal_sitting_in_its_stage_past_the_threshold_is_flagged_and_listed_as_stale(
    sales: Sales,
) -> None:
    lingering = await sales.open()  # lead: stale after 7 days
    sales.clock.advance(timedelta(days=6))
    fresh = await sales.open()
    closed = await sales.open()
    await sales.change(closed, "lose", {"reason": "timing"}, 0)
    sales.clock.advance(timedelta(days=2))

    stale = await sales.get("/v1/deals", stale="true")
    not_stale = await sales.get("/v1/deals", stale="false")
    detail = await sales.get(f"/v1/deals/{lingering}")

    assert [d["deal_id"] for d in stale["items"]] == [lingering]
    assert {d["deal_id"] for d in not_stale["items"]} == {fresh, closed}
    assert detail["stale"] is True


async def test_deal_listings_page_with_a_cursor_without_gaps_or_repeats(sales: Sales) -> None:
    opened = [await sales.open(title=f"Deal {n}") for n in range(7)]

    seen: list[str] = []
    pages = 0
    params: dict[str, Any] = {"limit": 3}
    while True:
        page = await sales.get("/v1/deals", **params)
        seen += [d["deal_id"] for d in page["items"]]
        pages += 1
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]

    assert (pages, seen) == (3, list(reversed(opened)))
    bad = await sales.client.get(
        "/v1/deals", params={"cursor": "nonsense"}, headers=sales.staff.headers("boss")
    )
    assert bad.status_code == 422


async def test_deal_listings_filter_by_stage_owner_customer_and_status(sales: Sales) -> None:
    a = await sales.open(owner_id="alice")
    b = await sales.open(owner_id="bob", customer=1)
    await sales.change(b, "stage", {"stage_id": "offer"}, 0)
    c = await sales.open(owner_id="bob")
    await sales.change(c, "win", {}, 0)

    def ids(page: dict[str, Any]) -> set[str]:
        return {d["deal_id"] for d in page["items"]}

    assert ids(await sales.get("/v1/deals", stage="offer")) == {b}
    assert ids(await sales.get("/v1/deals", owner="bob")) == {b, c}
    assert ids(await sales.get("/v1/deals", customer=str(sales.customers[1]))) == {b}
    assert ids(await sales.get("/v1/deals", status="won")) == {c}
    assert ids(await sales.get("/v1/deals", status="open", owner="alice")) == {a}


async def test_a_sales_rep_sees_only_their_teams_deals_in_listings_details_and_the_forecast(
    sales: Sales,
) -> None:
    north = await sales.open(owner_id="bob", amount="100")
    south = await sales.open(owner_id="erin", amount="900")

    listed = await sales.get("/v1/deals", who="alice")
    pipeline = await sales.get("/v1/pipelines/retail", who="alice")
    hidden = await sales.client.get(f"/v1/deals/{south}", headers=sales.staff.headers("alice"))

    assert [d["deal_id"] for d in listed["items"]] == [north]
    assert pipeline["open_amounts"] == {"EUR": "100"}
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "deal_not_found"


async def test_a_read_waits_for_min_position_and_says_so_when_the_projection_lags(sales: Sales) -> None:
    answer = await sales.command("/v1/deals", open_body(sales.customers[0], owner_id="alice"), status=201)
    headers = sales.staff.headers("boss")
    path = f"/v1/deals/{answer['deal_id']}"

    lagging = await sales.client.get(
        path, params={"min_position": answer["position"], "wait_ms": 0}, headers=headers
    )
    await project_pipeline(sales.dsn)
    caught_up = await sales.client.get(
        path, params={"min_position": answer["position"], "wait_ms": 0}, headers=headers
    )

    assert lagging.status_code == 503 and lagging.json()["error"]["code"] == "not_caught_up"
    assert caught_up.status_code == 200


async def test_a_min_position_beyond_the_log_answers_422_at_once_not_503_after_the_wait(sales: Sales) -> None:
    answer = await sales.command("/v1/deals", open_body(sales.customers[0], owner_id="alice"), status=201)
    await project_pipeline(sales.dsn)
    with psycopg.connect(sales.dsn) as conn:
        head = conn.execute("SELECT max(position) FROM events").fetchone()
    assert head is not None and head[0] >= answer["position"]
    headers = sales.staff.headers("boss")

    for path in (f"/v1/deals/{answer['deal_id']}", "/v1/pipelines/retail"):
        started = asyncio.get_running_loop().time()
        beyond = await sales.client.get(
            path, params={"min_position": head[0] + 1, "wait_ms": 5_000}, headers=headers
        )
        waited = asyncio.get_running_loop().time() - started

        assert beyond.status_code == 422, beyond.text
        error = beyond.json()["error"]
        assert error["code"] == "position_beyond_log" and f"last position {head[0]}" in error["message"]
        assert waited < 2.5, waited  # answered at once, not after wait_ms
        at_head = await sales.client.get(path, params={"min_position": head[0]}, headers=headers)
        assert at_head.status_code == 200, at_head.text


async def _rows(dsn: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        deals = conn.execute("SELECT * FROM pipeline_deals ORDER BY deal_id").fetchall()
        notes = conn.execute("SELECT * FROM pipeline_notes ORDER BY note_id").fetchall()
    return [*deals, *notes]


async def test_the_pipeline_built_one_event_at_a_time_equals_a_rebuild_from_scratch(sales: Sales) -> None:
    for n in range(4):
        deal = await sales.open(amount=f"{n + 1}00")
        await sales.change(deal, "stage", {"stage_id": "offer"}, 0)
        await sales.command("/v1/notes", {"deal_id": deal, "text": f"note {n}"}, status=201)
        if n % 2:
            await sales.change(deal, "lose", {"reason": "price"}, 1)
            await sales.change(deal, "reopen", {}, 2)
        await project_pipeline(sales.dsn, batch_size=1)
    live = await _rows(sales.dsn)

    with psycopg.connect(sales.dsn) as conn:
        conn.execute("TRUNCATE pipeline_deals, pipeline_notes")
        conn.execute("DELETE FROM projection_checkpoints WHERE name = 'pipeline'")
    await project_pipeline(sales.dsn, batch_size=500)

    assert await _rows(sales.dsn) == live


async def test_the_pipeline_as_of_a_past_position_equals_what_the_api_answered_then(sales: Sales) -> None:
    first = await sales.open(amount="1000")
    await sales.change(first, "stage", {"stage_id": "qualified"}, 0)
    await sales.open(amount="40", currency="USD")
    then = await sales.get("/v1/pipelines/retail")
    sales.clock.advance(timedelta(days=1))
    await sales.change(first, "win", {}, 1)
    await sales.open(amount="5")
    now = await sales.get("/v1/pipelines/retail")

    async with (
        AsyncConnectionPool[Conn](sales.dsn, min_size=1, max_size=1) as pool,
        pool.connection() as conn,
    ):
        log = await read_all(conn, 0, 10_000)
    facts = [fact for fact in map(to_fact, log) if fact is not None]
    retail = RULES.pipelines.pipeline("retail")
    assert retail is not None

    for answered in (then, now):
        since, until = datetime.fromisoformat(answered["since"]), datetime.fromisoformat(answered["until"])
        replayed = summarize(
            pipeline_as_of(facts, position=answered["as_of_position"]).values(), retail, since, until
        )
        assert replayed.model_dump(mode="json") == {
            k: v for k, v in answered.items() if k != "as_of_position"
        }
