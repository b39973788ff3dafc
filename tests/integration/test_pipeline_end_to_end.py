"""The sales pipeline through every deployable as a process, over real Kafka and PostgreSQL.

An email lead becomes a deal, moves through the stages, and the customer's Shopify order closes it as
won: the forecast, the stage history and the won totals read back as they should.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import httpx
import pytest

from hub import samples
from hub.demo import conversation, new_tag, send, wait_for_card
from tests.support.deployables import RunningHub

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def _wait_for_deal(client: httpx.Client, url: str, status: str, timeout_s: float = 60.0) -> dict[str, Any]:
    """Poll the deal until it has ``status`` (the purchase rule runs in the pipeline deployable)."""
    deadline = time.monotonic() + timeout_s
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        last = client.get(url).json()
        if last.get("status") == status:
            return last
        time.sleep(0.2)
    raise TimeoutError(f"deal did not become {status} in {timeout_s:.0f} s; last: {last}")


def test_an_email_lead_becomes_a_deal_that_a_shop_order_closes_as_won(hub: RunningHub) -> None:
    tag = new_tag()
    person = samples.sample_person(tag)
    email, *_ = conversation(person, hub.secrets, tag)
    api = hub.ports.api_url
    with httpx.Client(timeout=30, headers=hub.api_headers) as client:
        assert send(client, hub.ports.ingress_url, email).status_code == 200
        customer = wait_for_card(client, api, person.email, interactions=1)["customer_id"]
        body = {"customer_id": customer, "title": "Winter outfit", "amount": "150.00", "currency": "USD"}
        opened = client.post(f"{api}/v1/deals", json={**body, "pipeline_id": "retail", "owner_id": "alice"})
        assert opened.status_code == 201, opened.text
        deal = opened.json()["deal_id"]
        for version, stage in enumerate(("qualified", "offer")):
            moved = client.post(
                f"{api}/v1/deals/{deal}/stage", json={"expected_version": version, "stage_id": stage}
            )
            assert moved.status_code == 200, moved.text
        forecast = client.get(
            f"{api}/v1/pipelines/retail", params={"min_position": moved.json()["position"], "wait_ms": 10_000}
        ).json()

        order = conversation(person, hub.secrets, tag)[-1]  # placed now: an older order closes nothing
        assert send(client, hub.ports.ingress_url, order).status_code == 200
        won = _wait_for_deal(client, f"{api}/v1/deals/{deal}", "won")
        after = client.get(f"{api}/v1/pipelines/retail").json()

    offer = next(stage for stage in forecast["stages"] if stage["stage_id"] == "offer")
    assert (offer["open_count"], Decimal(offer["weighted"]["USD"])) == (1, Decimal("90.00"))  # 150.00 x 0.60
    assert [visit["stage_id"] for visit in won["stage_history"]] == ["lead", "qualified", "offer", "won"]
    assert [t["stage_id"] for t in won["time_in_stages"]] == ["lead", "qualified", "offer", "won"]
    assert all(t["seconds"] >= 0 and t["visits"] == 1 for t in won["time_in_stages"])
    assert (Decimal(won["amount"]), won["currency"]) == (Decimal("169.80"), "USD")  # what was bought
    assert won["won_order_id"] is not None
    assert (after["open_count"], after["won"]["count"], Decimal(after["won"]["amounts"]["USD"])) == (
        0,
        1,
        Decimal("169.80"),
    )
