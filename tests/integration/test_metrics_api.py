"""The read API times every request by route template, method and status, and serves the figures at a
public ``GET /metrics`` (like ``/health``) that names routes, never the customers asked for."""

from __future__ import annotations

import uuid

import pytest

from tests.support.access import KeyIssuer
from tests.support.api_app import api_client, bearer
from tests.support.metrics import scrape

pytestmark = pytest.mark.integration

CARD = "/v1/customers/{customer_id}"


async def test_requests_are_counted_and_timed_by_route_template_and_metrics_need_no_credentials(
    database: str, api_keys: KeyIssuer
) -> None:
    key = (await api_keys.issue_async(roles=["support_agent"])).key
    unknown = str(uuid.uuid4())
    async with api_client(database) as client:
        assert (await client.get(f"/v1/customers/{unknown}")).status_code == 401
        assert (await client.get(f"/v1/customers/{unknown}", headers=bearer(key))).status_code == 404
        assert (await client.get(f"/v1/customers/{uuid.uuid4()}", headers=bearer(key))).status_code == 404
        assert (await client.get("/health")).status_code == 200
        assert (await client.get("/no/such/route")).status_code == 404
        answer = await client.get("/metrics")  # anonymous, as Prometheus scrapes
        figures = await scrape(client)

    assert answer.status_code == 200
    assert unknown not in answer.text  # the template, never the id asked for
    assert figures.value("hub_api_requests_total", method="GET", route=CARD, status="401") == 1
    assert figures.value("hub_api_requests_total", method="GET", route=CARD, status="404") == 2
    assert figures.value("hub_api_requests_total", method="GET", route="/health", status="200") == 1
    assert figures.value("hub_api_requests_total", method="GET", route="unmatched", status="404") == 1
    timed = figures.value("hub_api_request_duration_seconds_count", method="GET", route=CARD, status="404")
    assert timed == 2
    slowest_bucket = figures.value(
        "hub_api_request_duration_seconds_bucket", method="GET", route=CARD, status="404", le="+Inf"
    )
    assert slowest_bucket == 2


async def test_two_api_apps_in_one_process_keep_their_own_counts(database: str) -> None:
    async with api_client(database) as first, api_client(database) as second:
        await first.get("/health")
        await first.get("/health")
        await second.get("/health")
        first_figures, second_figures = await scrape(first), await scrape(second)

    assert first_figures.value("hub_api_requests_total", method="GET", route="/health", status="200") == 2
    assert second_figures.value("hub_api_requests_total", method="GET", route="/health", status="200") == 1
