"""Bulk reads (a segment's members, its export, RFM scores, reminders) land in the access log with every
customer they returned, so "who read this customer" finds them too."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from uuid import UUID

import httpx
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from hub import samples
from plumbing.access.access_log import AccessQuery, search
from plumbing.eventstore.postgres import Conn
from plumbing.projection import apply_next_batch
from projections.analytics.store import AnalyticsProjection
from tests.support.access import KeyIssuer
from tests.support.api_app import api_client, bearer, project, seed_customer

pytestmark = pytest.mark.security

MEMBERS = "GET /v1/analytics/segments/{segment_id}/members"
EXPORT = "GET /v1/analytics/segments/{segment_id}/export"


@pytest.fixture
async def buyers(pool: AsyncConnectionPool[Conn]) -> list[UUID]:
    """Three customers who bought at the till: members of ``recent_buyers``, by customer id."""
    tag = uuid.uuid4().hex[:8]
    found = [
        await seed_customer(pool, samples.sample_person(f"bulk-{n}-{tag}"), ["pos"], f"bulk-{n}-{tag}")
        for n in range(3)
    ]
    await project(pool)
    while await apply_next_batch(pool, AnalyticsProjection(), 500):
        pass
    return sorted(found)


@pytest.fixture
async def client(database: str, buyers: list[UUID]) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(database) as opened:
        yield opened


def _rows(dsn: str, principal: str) -> list[tuple[str, UUID | None, UUID | None, str, str]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT route, customer_id, served_customer_id, outcome, request_id FROM access_log"
            " WHERE principal_id = %s ORDER BY id",
            (principal,),
        ).fetchall()


async def test_a_page_of_members_records_each_member_it_returned_under_its_request(
    client: httpx.AsyncClient, api_keys: KeyIssuer, buyers: list[UUID], database: str
) -> None:
    analyst = bearer(api_keys.issue(["marketing_analyst"], "analyst-1"))
    url = "/v1/analytics/segments/recent_buyers/members"

    first = (await client.get(url, params={"limit": 2}, headers=analyst)).json()
    rest = (await client.get(url, params={"cursor": first["next_cursor"]}, headers=analyst)).json()

    returned = [UUID(item["customer_id"]) for item in first["items"] + rest["items"]]
    assert returned == buyers
    rows = _rows(database, "analyst-1")
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [(MEMBERS, c, c, "ok") for c in buyers]
    assert len({rows[0][4], rows[1][4]}) == 1 and rows[2][4] != rows[0][4]


async def test_an_export_records_every_customer_in_the_file_and_auditors_find_it_by_customer(
    client: httpx.AsyncClient, api_keys: KeyIssuer, buyers: list[UUID], database: str
) -> None:
    analyst = bearer(api_keys.issue(["marketing_analyst"], "analyst-2"))

    exported = await client.get("/v1/analytics/segments/recent_buyers/export", headers=analyst)

    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    in_file = sorted(UUID(line.split(",")[0]) for line in exported.text.splitlines()[1:])
    assert in_file == buyers
    assert [(r[0], r[1], r[3]) for r in _rows(database, "analyst-2")] == [(EXPORT, c, "ok") for c in buyers]
    async with await psycopg.AsyncConnection.connect(database) as conn:
        entries, _ = await search(conn, AccessQuery(customer_id=buyers[1]))
    assert [(e.principal_id, e.route) for e in entries] == [("analyst-2", EXPORT)]


async def test_rfm_scores_and_reminders_record_the_customers_they_list(
    client: httpx.AsyncClient, api_keys: KeyIssuer, buyers: list[UUID], database: str
) -> None:
    analyst = bearer(api_keys.issue(["marketing_analyst"], "analyst-3"))
    manager = bearer(api_keys.issue(["sales_manager"], "manager-1"))

    scores = (
        await client.get("/v1/analytics/rfm", params={"format": "csv", "currency": "USD"}, headers=analyst)
    ).text
    reminders = (await client.get("/v1/analytics/reminders", headers=manager)).json()["items"]

    scored = sorted(UUID(line.split(",")[0]) for line in scores.splitlines()[1:])
    assert scored == buyers
    assert sorted(r[1] for r in _rows(database, "analyst-3")) == buyers
    reminded = list(dict.fromkeys(UUID(r["customer_id"]) for r in reminders))
    logged = [r[1] for r in _rows(database, "manager-1")]
    assert logged == (reminded or [None])


async def test_a_bulk_read_that_returned_no_one_is_still_recorded(
    client: httpx.AsyncClient, api_keys: KeyIssuer, database: str
) -> None:
    analyst = bearer(api_keys.issue(["marketing_analyst"], "analyst-4"))

    answer = await client.get("/v1/analytics/segments/big_spenders/members", headers=analyst)

    assert answer.json()["items"] == []
    assert [(r[0], r[1], r[3]) for r in _rows(database, "analyst-4")] == [(MEMBERS, None, "ok")]
