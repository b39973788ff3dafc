"""Segments saved through the API (issue 10): created, used by every segment route like the configured
ones, replaced, refused with a reason when the filter is bad, deleted; only with ``manage_segments``.

The facts are those of tests/integration/test_analytics_projection.py: A bought SKU-1 and SKU-2 on day 9,
B bought SKU-1 on day 3 (refunded in part), D bought SKU-3 on day 10.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool

import tests.integration.test_analytics_projection as base
from plumbing.eventstore.postgres import Conn
from tests.support.access import issue_key_async
from tests.support.api_app import api_client, bearer, project

pytestmark = pytest.mark.integration

SKU1 = {"id": "sku1_buyers", "name": "Bought SKU-1", "filter": 'bought("SKU-1")'}


@pytest.fixture
async def api(database: str, pool: AsyncConnectionPool[Conn]) -> AsyncIterator[Any]:
    scenario = base.build()
    await base.append_all(pool, scenario)
    await base.run_projection(pool, batch_size=500)
    await project(pool)
    keys = {}
    for role in ("marketing_analyst", "sales_manager", "support_agent"):
        issued = await issue_key_async(database, f"seg-{role.replace('_', '-')}", [role], team="north")
        keys[role] = bearer(issued.key)
    async with api_client(database) as client:
        yield client, keys, scenario


async def test_a_saved_segment_serves_sizes_members_history_export_and_reports(api: Any) -> None:
    client, keys, scenario = api
    analyst = keys["marketing_analyst"]
    created = await client.post("/v1/analytics/segments", json=SKU1, headers=analyst)
    assert created.status_code == 201, created.text
    listed = {
        s["segment_id"]: s
        for s in (await client.get("/v1/analytics/segments", headers=analyst)).json()["items"]
    }
    assert (listed["sku1_buyers"]["members"], listed["sku1_buyers"]["origin"]) == (2, "api")
    assert listed["recent_buyers"]["origin"] == "config"

    members = (await client.get("/v1/analytics/segments/sku1_buyers/members", headers=analyst)).json()
    assert {uuid.UUID(m["customer_id"]) for m in members["items"]} == {scenario.ids["A"], scenario.ids["B"]}
    assert all(set(m) == {"customer_id", "traits"} for m in members["items"])  # masked for analysts
    history = await client.get(
        "/v1/analytics/segments/sku1_buyers/history",
        params={"from": base.WINDOW["from"], "to": str((base.BASE + timedelta(days=11)).date())},
        headers=analyst,
    )
    assert [p["members"] for p in history.json()["items"]] == [0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2]
    export = await client.get("/v1/analytics/segments/sku1_buyers/export", headers=analyst)
    assert export.status_code == 200 and len(export.text.splitlines()) == 3
    report = await client.get(
        "/v1/analytics/channels", params={**base.WINDOW, "segment": "sku1_buyers"}, headers=analyst
    )
    assert {r["channel"]: r["interactions"] for r in report.json()["items"]}["pos"] == 3  # not D's
    page = await client.get("/v1/analytics/pages/segments", headers=analyst)
    assert page.status_code == 200 and "Bought SKU-1" in page.text  # a series of the segments chart

    replaced = await client.post(
        "/v1/analytics/segments", json={**SKU1, "filter": 'bought("SKU-3")'}, headers=analyst
    )
    assert replaced.status_code == 200 and replaced.json()["filter"] == 'bought("SKU-3")'
    members = (await client.get("/v1/analytics/segments/sku1_buyers/members", headers=analyst)).json()
    assert [uuid.UUID(m["customer_id"]) for m in members["items"]] == [scenario.ids["D"]]

    deleted = await client.delete("/v1/analytics/segments/sku1_buyers", headers=analyst)
    assert deleted.status_code == 204
    gone = await client.get("/v1/analytics/segments/sku1_buyers/members", headers=analyst)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "segment_not_found"
    again = await client.delete("/v1/analytics/segments/sku1_buyers", headers=analyst)
    assert again.status_code == 404


async def test_a_bad_filter_or_a_configured_id_is_refused_with_a_reason(api: Any) -> None:
    client, keys, _ = api
    analyst = keys["marketing_analyst"]
    for text, reason in (('bought("SKU-1"', "not a filter"), ("shoe_size > 40", "unknown field 'shoe_size'")):
        answer = await client.post("/v1/analytics/segments", json={**SKU1, "filter": text}, headers=analyst)
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]
        assert error["code"] == "invalid_filter" and reason in error["message"]
    bad_id = await client.post("/v1/analytics/segments", json={**SKU1, "id": "Robert'); --"}, headers=analyst)
    assert bad_id.status_code == 422
    shadow = await client.post(
        "/v1/analytics/segments", json={**SKU1, "id": "recent_buyers"}, headers=analyst
    )
    assert shadow.status_code == 409 and shadow.json()["error"]["code"] == "segment_in_config"
    configured = await client.delete("/v1/analytics/segments/recent_buyers", headers=analyst)
    assert configured.status_code == 409 and "analytics file" in configured.json()["error"]["message"]
    listed = (await client.get("/v1/analytics/segments", headers=analyst)).json()["items"]
    assert "sku1_buyers" not in {s["segment_id"] for s in listed}  # nothing half-written
    assert "recent_buyers" in {s["segment_id"] for s in listed}


async def test_only_roles_that_manage_segments_may_save_or_delete_them(api: Any) -> None:
    client, keys, _ = api
    for role in ("sales_manager", "support_agent"):
        saved = await client.post("/v1/analytics/segments", json=SKU1, headers=keys[role])
        assert saved.status_code == 403, (role, saved.text)
    assert (
        await client.post("/v1/analytics/segments", json=SKU1, headers=keys["marketing_analyst"])
    ).status_code == 201
    refused = await client.delete("/v1/analytics/segments/sku1_buyers", headers=keys["sales_manager"])
    assert refused.status_code == 403
    sizes = (await client.get("/v1/analytics/segments", headers=keys["sales_manager"])).json()["items"]
    assert "sku1_buyers" in {s["segment_id"] for s in sizes}  # still there, and readable with read_payments
