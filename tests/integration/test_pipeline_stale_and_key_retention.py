"""Leftovers of the sales pipeline: stale deals counted per stage in the summary (and in a replay of it),
and idempotency keys that expire."""

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
from psycopg_pool import AsyncConnectionPool

from contracts.read.pipeline import summarize
from plumbing.eventstore.postgres import Conn, read_all
from projections.pipeline.evolve import pipeline_as_of, to_fact
from services.api.sales_commands import PURGE_BATCH
from services.api.sales_config import load_rules
from tests.support.api_app import MovableClock
from tests.support.sales import Staff, issue_staff, open_body, project_pipeline, sales_client, seed_customers

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

T0 = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)


@dataclass
class Sales:
    dsn: str
    client: httpx.AsyncClient
    clock: MovableClock
    staff: Staff
    customer: UUID

    async def post(self, path: str, body: dict[str, Any], key: str | None = None) -> httpx.Response:
        return await self.client.post(path, json=body, headers=self.staff.headers("boss", key))

    async def open(self, key: str | None = None, **overrides: Any) -> str:
        answer = await self.post(
            "/v1/deals", open_body(self.customer, **{"owner_id": "alice", **overrides}), key
        )
        assert answer.status_code == 201, answer.text
        return str(answer.json()["deal_id"])

    async def pipeline(self) -> dict[str, Any]:
        await project_pipeline(self.dsn)
        answer = await self.client.get("/v1/pipelines/retail", headers=self.staff.headers("boss"))
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result


@pytest.fixture
async def sales(database: str) -> AsyncIterator[Sales]:
    (customer,) = await seed_customers(database, f"st-{uuid.uuid4().hex[:6]}", 1)
    staff = await issue_staff(database, [("boss", "sales_manager", None)])
    clock = MovableClock(T0)
    async with sales_client(database, clock=clock, idempotency_key_ttl_s=3600) as client:
        yield Sales(database, client, clock, staff, customer)


async def test_the_pipeline_counts_stale_deals_per_stage_and_a_replay_counts_the_same(sales: Sales) -> None:
    await sales.open(amount="10")  # lead: stale after 7 days
    offer = await sales.open(amount="20")
    moved = await sales.post(f"/v1/deals/{offer}/stage", {"expected_version": 0, "stage_id": "offer"})
    assert moved.status_code == 200
    sales.clock.advance(timedelta(days=8))  # the lead deal is stale, the offer (10 days) not yet
    await sales.open(amount="30")  # a fresh lead

    answered = await sales.pipeline()

    stages = {s["stage_id"]: s for s in answered["stages"]}
    assert (stages["lead"]["open_count"], stages["lead"]["stale_count"]) == (2, 1)
    assert (stages["offer"]["open_count"], stages["offer"]["stale_count"]) == (1, 0)
    assert stages["qualified"]["stale_count"] == 0

    async with (
        AsyncConnectionPool[Conn](sales.dsn, min_size=1, max_size=1) as pool,
        pool.connection() as conn,
    ):
        facts = [fact for fact in map(to_fact, await read_all(conn, 0, 10_000)) if fact is not None]
    retail = load_rules().pipelines.pipeline("retail")
    assert retail is not None
    since, until = datetime.fromisoformat(answered["since"]), datetime.fromisoformat(answered["until"])
    deals = pipeline_as_of(facts, position=answered["as_of_position"]).values()
    replayed = summarize(deals, retail, since, until, now=sales.clock.now)
    assert replayed.model_dump(mode="json") == {k: v for k, v in answered.items() if k != "as_of_position"}


def _age_keys(dsn: str, by: timedelta, key: str | None = None) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "UPDATE sales_command_keys SET created_at = created_at - %s"
            " WHERE %s::text IS NULL OR idempotency_key = %s",
            (by, key, key),
        )


def _keys(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        return {row[0] for row in conn.execute("SELECT idempotency_key FROM sales_command_keys")}


def _events(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM events").fetchone()
    assert row is not None
    return int(row[0])


async def test_an_expired_idempotency_key_may_name_a_new_request(sales: Sales) -> None:
    key = f"k-{uuid.uuid4()}"
    first = await sales.open(key=key, title="Sofa")
    refused = await sales.post("/v1/deals", open_body(sales.customer, title="Table"), key)
    assert refused.status_code == 422  # within the TTL the key means its first request
    _age_keys(sales.dsn, timedelta(hours=2), key)  # older than the 1 h TTL

    second = await sales.open(key=key, title="Table")

    assert second != first  # a new command, decided afresh


async def test_the_same_request_after_its_key_expired_still_appends_nothing_twice(sales: Sales) -> None:
    key = f"k-{uuid.uuid4()}"
    first = await sales.open(key=key, title="Sofa")
    _age_keys(sales.dsn, timedelta(hours=2), key)
    stored = _events(sales.dsn)

    again = await sales.open(key=key, title="Sofa")

    assert again == first  # the same event ids: the store recognises the repeat
    assert _events(sales.dsn) == stored


async def test_commands_purge_expired_keys_in_bounded_batches_and_keep_live_ones(sales: Sales) -> None:
    old = [f"old-{n}-{uuid.uuid4().hex[:6]}" for n in range(PURGE_BATCH + 5)]
    for key in old:
        await sales.open(key=key)
    _age_keys(sales.dsn, timedelta(hours=2))
    live = f"live-{uuid.uuid4().hex[:6]}"
    await sales.open(key=live)  # claims a new key: purges one batch of the expired ones

    left = _keys(sales.dsn)
    assert live in left
    assert len(left & set(old)) == 5

    await sales.open(key=f"next-{uuid.uuid4().hex[:6]}")
    assert _keys(sales.dsn) & set(old) == set()
    assert live in _keys(sales.dsn)
