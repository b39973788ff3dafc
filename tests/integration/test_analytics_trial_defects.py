"""Analytics defects a real trial found (issue 20), over HTTP against the scenario of
tests/integration/test_analytics_projection.py (every purchase in euros, 80 days ago): far-future dates,
segments with out-of-range numbers, report pages opened without dates, revenue in several currencies.
"""

from __future__ import annotations

import html
import itertools
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

import tests.integration.test_analytics_projection as base
from contracts import Money, PurchaseLine, PurchaseRecorded
from plumbing.eventstore.postgres import Conn
from services.api import analytics_pages as pages
from tests.support.access import issue_key_async
from tests.support.api_app import api_client, bearer, project

pytestmark = pytest.mark.integration

DATED_ROUTES = (
    "/v1/analytics/channels",
    "/v1/analytics/staff",
    "/v1/analytics/segments/recent_buyers/history",
    "/v1/analytics/pages/funnel",
    "/v1/analytics/pages/revenue",
    "/v1/analytics/pages/staff",
    "/v1/analytics/pages/segments",
)


@pytest.fixture
async def api(database: str, pool: AsyncConnectionPool[Conn]) -> AsyncIterator[Any]:
    scenario = base.build()
    await base.append_all(pool, scenario)
    await base.run_projection(pool, batch_size=500)
    await project(pool)
    issued = await issue_key_async(database, "trial-analyst", ["marketing_analyst"], team="north")
    async with api_client(database) as client:
        yield client, bearer(issued.key)


OUT_OF_RANGE = (
    ({"to": "9999-12-31"}, "to"),
    ({"from": "9999-12-31"}, "from"),
    ({"to": "10000-01-01"}, "to"),
    ({"from": "+10000-01-01"}, "from"),
    ({"to": "0001-01-03"}, "to"),
)


async def test_a_date_out_of_range_answers_422_naming_the_parameter(api: Any) -> None:
    client, analyst = api
    for params, named in OUT_OF_RANGE:
        for route in DATED_ROUTES:
            answer = await client.get(route, params=params, headers=analyst)
            assert answer.status_code == 422, (route, params, answer.text)
            error = answer.json()["error"]
            assert error["code"] == "invalid_request", (route, error)
            assert f"`{named}`" in error["message"] and "out of range" in error["message"], (route, error)
            assert [d["loc"] for d in error["details"]] == [["query", named]], (route, error)


OUT_OF_RANGE_FILTERS = (
    "bought_within_days(99999999999)",
    "contacted_within_days(-1)",
    "purchase_count > 1e200000",
    "lifetime_value.EUR > 0.0000001",
    "days_since_purchase < 1e16",
)


async def test_saving_a_segment_with_an_out_of_range_number_answers_422(api: Any) -> None:
    client, analyst = api
    for text in OUT_OF_RANGE_FILTERS:
        body = {"id": "too_big", "name": "Too big", "filter": text}
        answer = await client.post("/v1/analytics/segments", json=body, headers=analyst)
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]
        assert error["code"] == "invalid_filter" and "out of range" in error["message"], error
    listed = await client.get("/v1/analytics/segments", headers=analyst)
    assert listed.status_code == 200 and "too_big" not in {s["segment_id"] for s in listed.json()["items"]}


async def test_a_stored_segment_with_a_bad_number_is_listed_with_an_error_and_breaks_nothing(
    api: Any, database: str
) -> None:
    client, analyst = api
    good = {"id": "sku1_buyers", "name": "Bought SKU-1", "filter": 'bought("SKU-1")'}
    assert (await client.post("/v1/analytics/segments", json=good, headers=analyst)).status_code == 201
    with psycopg.connect(database) as conn:  # saved before numbers were checked
        conn.execute(
            "INSERT INTO analytics_saved_segments (segment_id, name, description, filter, saved_by, saved_at)"
            " VALUES ('broken', 'Broken', '', 'bought_within_days(99999999999)', 'someone', now())"
        )

    listed = await client.get("/v1/analytics/segments", headers=analyst)

    assert listed.status_code == 200, listed.text
    items = {s["segment_id"]: s for s in listed.json()["items"]}
    assert items["sku1_buyers"]["members"] == 2 and items["sku1_buyers"].get("error") is None
    assert items["recent_buyers"]["origin"] == "config" and items["recent_buyers"]["members"] >= 0
    assert items["broken"]["members"] is None and "out of range" in items["broken"]["error"]
    csv = await client.get("/v1/analytics/segments", params={"format": "csv"}, headers=analyst)
    assert csv.status_code == 200 and "broken" in csv.text
    page = await client.get("/v1/analytics/pages/segments", headers=analyst)
    assert page.status_code == 200 and "Bought SKU-1" in page.text, page.text
    members = await client.get("/v1/analytics/segments/broken/members", headers=analyst)
    assert members.status_code == 409 and members.json()["error"]["code"] == "segment_unusable"
    assert "out of range" in members.json()["error"]["message"]
    assert (await client.delete("/v1/analytics/segments/broken", headers=analyst)).status_code == 204


def _download_link(page_html: str) -> str:
    found = re.search(r'<a href="([^"]+)">Download as CSV</a>', page_html)
    assert found, page_html
    return html.unescape(found.group(1))


async def test_a_page_opened_without_dates_links_a_csv_of_its_effective_period(api: Any) -> None:
    client, analyst = api
    today = datetime.now(UTC).date()
    for report, params in itertools.product(pages.PAGES, ({}, {"from": "", "to": ""})):
        page = await client.get(f"/v1/analytics/pages/{report}", params=params, headers=analyst)
        assert page.status_code == 200, page.text
        link = _download_link(page.text)
        assert f"from={today - timedelta(days=29)}" in link and f"to={today}" in link, link
        csv = await client.get(link, headers=analyst)
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv"), csv.text


async def test_empty_dates_mean_the_default_period_on_every_dated_route(api: Any) -> None:
    client, analyst = api
    for route in DATED_ROUTES:
        blank = await client.get(route, params={"from": "", "to": ""}, headers=analyst)
        assert blank.status_code == 200, (route, blank.text)


async def _purchase(pool: AsyncConnectionPool[Conn], at: datetime, amount: str, currency: str) -> None:
    """One more purchase, by a customer new to the scenario, in ``currency``."""
    scenario = base.Scenario()
    order = uuid.uuid4().hex[:10]
    money = Money(amount=Decimal(amount), currency=currency)
    line = PurchaseLine(sku="SKU-9", name="Item", quantity=Decimal(1), unit_price=money, total=money)
    event = PurchaseRecorded(
        **scenario.envelope(at),
        provider="shopify",
        provider_message_id=order,
        sender=scenario.sender("D"),
        order_id=order,
        lines=(line,),
        total=money,
    )
    scenario.add("D", event)
    await base.append_all(pool, scenario)


async def test_the_revenue_page_charts_every_currency_and_says_when_there_is_none(
    api: Any, pool: AsyncConnectionPool[Conn]
) -> None:
    client, analyst = api
    await _purchase(pool, base.day(12), "70", "USD")
    await base.run_projection(pool, batch_size=500)
    window = base.WINDOW

    both = await client.get("/v1/analytics/pages/revenue", params=window, headers=analyst)
    assert both.status_code == 200, both.text
    assert "Revenue by channel (EUR, last touch)" in both.text
    assert "Revenue by channel (USD, last touch)" in both.text
    dollars = await client.get(
        "/v1/analytics/pages/revenue", params={**window, "currency": "USD"}, headers=analyst
    )
    assert "(USD, last touch)" in dollars.text and "(EUR, last touch)" not in dollars.text
    assert "No revenue" not in dollars.text
    yen = await client.get(
        "/v1/analytics/pages/revenue", params={**window, "currency": "JPY"}, headers=analyst
    )
    assert yen.status_code == 200 and "No revenue in JPY" in yen.text, yen.text
    empty = await client.get("/v1/analytics/pages/revenue", headers=analyst)  # the last 30 days: none
    assert empty.status_code == 200 and "No revenue" in empty.text, empty.text
    bad = await client.get("/v1/analytics/pages/revenue", params={"currency": "euro"}, headers=analyst)
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["loc"] == ["query", "currency"]
