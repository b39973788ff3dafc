"""The whole path on the real stack: webhook -> Kafka -> timeline writer -> store -> card -> API."""

from __future__ import annotations

import stat
import uuid
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg
import pytest

from hub import samples
from hub.demo import DEMO_BASKET, conversation, demo_key, new_tag, run_demo, send, wait_for_card
from tests.support.deployables import RunningHub

pytestmark = pytest.mark.e2e


def test_four_channels_for_one_person_end_in_one_card_with_the_purchase_total(shared_hub: RunningHub) -> None:
    tag = new_tag()
    person = samples.sample_person(tag)
    with httpx.Client(timeout=30, headers=shared_hub.api_headers) as client:
        for hook in conversation(person, shared_hub.secrets, tag):
            answer = send(client, shared_hub.ports.ingress_url, hook)
            assert answer.status_code == 200, answer.text
            assert answer.json()["accepted"] == 1
        card = wait_for_card(client, shared_hub.ports.api_url, person.email, interactions=4)
        by_phone = client.get(
            f"{shared_hub.ports.api_url}/v1/customers", params={"phone": person.phone}
        ).json()
        by_id = client.get(f"{shared_hub.ports.api_url}/v1/customers/{card['customer_id']}").json()

    assert card["interaction_count"] == 4
    assert set(card["channels"]) == {"email", "chat", "social", "pos"}
    assert all(stats["count"] == 1 for stats in card["channels"].values())
    expected_total = sum(Decimal(price) * qty for _, _, qty, price in DEMO_BASKET)
    assert Decimal(card["purchase_totals"]["USD"]) == expected_total
    assert card["purchase_count"] == 1
    assert person.email in card["emails"]
    assert [c["customer_id"] for c in by_phone["items"]] == [card["customer_id"]]
    assert by_id["customer_id"] == card["customer_id"]


def test_the_same_webhook_delivered_twice_gives_one_interaction(shared_hub: RunningHub) -> None:
    tag = new_tag()
    person = samples.sample_person(tag)
    chat = conversation(person, shared_hub.secrets, tag)[1]
    later = conversation(person, shared_hub.secrets, tag)[0]
    with httpx.Client(timeout=30, headers=shared_hub.api_headers) as client:
        first = send(client, shared_hub.ports.ingress_url, chat)
        second = send(client, shared_hub.ports.ingress_url, chat)
        assert first.status_code == second.status_code == 200
        assert first.json()["event_ids"] == second.json()["event_ids"]
        # A later, different message proves the writer has processed past the duplicate.
        assert send(client, shared_hub.ports.ingress_url, later).status_code == 200
        card = wait_for_card(client, shared_hub.ports.api_url, person.email, interactions=2)
        timeline = client.get(
            f"{shared_hub.ports.api_url}/v1/customers/{card['customer_id']}/timeline"
        ).json()

    assert card["interaction_count"] == 2
    assert card["channels"]["chat"]["count"] == 1
    assert [item["channel"] for item in timeline["items"]] == ["email", "chat"]


def test_the_timeline_pages_newest_first_with_a_cursor(shared_hub: RunningHub) -> None:
    tag = new_tag()
    person = samples.sample_person(tag)
    with httpx.Client(timeout=30, headers=shared_hub.api_headers) as client:
        for hook in conversation(person, shared_hub.secrets, tag):
            assert send(client, shared_hub.ports.ingress_url, hook).status_code == 200
        card = wait_for_card(client, shared_hub.ports.api_url, person.email, interactions=4)
        url = f"{shared_hub.ports.api_url}/v1/customers/{card['customer_id']}/timeline"
        first = client.get(url, params={"limit": 3}).json()
        second = client.get(url, params={"limit": 3, "cursor": first["next_cursor"]}).json()
        bad = client.get(url, params={"cursor": "not-a-cursor"})

    positions = [item["position"] for item in first["items"] + second["items"]]
    assert len(positions) == 4
    assert positions == sorted(positions, reverse=True)
    assert second["next_cursor"] is None
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_cursor"


def test_an_unknown_customer_is_a_404_with_a_json_error(shared_hub: RunningHub) -> None:
    api = shared_hub.ports.api_url
    missing = "00000000-0000-4000-8000-000000000000"
    auth = shared_hub.api_headers
    card = httpx.get(f"{api}/v1/customers/{missing}", headers=auth)
    timeline = httpx.get(f"{api}/v1/customers/{missing}/timeline", headers=auth)
    lookup = httpx.get(f"{api}/v1/customers", params={"email": "nobody@nowhere.example"}, headers=auth)
    bad_lookup = httpx.get(f"{api}/v1/customers", params={"phone": "not a phone"}, headers=auth)

    assert card.status_code == timeline.status_code == 404
    assert (
        card.json()
        == timeline.json()
        == {"error": {"code": "customer_not_found", "message": f"no customer {missing}"}}
    )
    assert lookup.status_code == 200 and lookup.json() == {"items": []}
    assert bad_lookup.status_code == 422
    assert bad_lookup.json()["error"]["code"] == "invalid_identity"


def test_the_api_serves_its_openapi_document_to_authenticated_callers(shared_hub: RunningHub) -> None:
    spec = httpx.get(f"{shared_hub.ports.api_url}/openapi.json", headers=shared_hub.api_headers).json()
    assert {"/v1/customers", "/v1/customers/{customer_id}", "/v1/customers/{customer_id}/timeline"} <= set(
        spec["paths"]
    )


def test_without_a_key_only_health_answers(shared_hub: RunningHub) -> None:
    api = shared_hub.ports.api_url
    anonymous = [
        httpx.get(f"{api}/openapi.json"),
        httpx.get(f"{api}/v1/customers/00000000-0000-4000-8000-000000000000"),
        httpx.get(f"{api}/v1/customers", params={"email": "nobody@nowhere.example"}),
        httpx.get(f"{api}/v1/admin/principals"),
        httpx.get(f"{api}/v1/audit/access-log"),
    ]

    assert [answer.status_code for answer in anonymous] == [401, 401, 401, 401, 401]
    assert httpx.get(f"{api}/docs").status_code == httpx.get(f"{api}/redoc").status_code == 404
    assert all(a.json()["error"]["code"] == "unauthenticated" for a in anonymous)
    assert all(a.headers["www-authenticate"].startswith("Bearer") for a in anonymous)
    assert httpx.get(f"{api}/health").status_code == 200


def test_a_card_read_through_the_running_api_lands_in_the_access_log(shared_hub: RunningHub) -> None:
    tag = new_tag()
    person = samples.sample_person(tag)
    with httpx.Client(timeout=30, headers=shared_hub.api_headers) as client:
        assert send(
            client, shared_hub.ports.ingress_url, conversation(person, shared_hub.secrets, tag)[1]
        ).is_success
        card = wait_for_card(client, shared_hub.ports.api_url, person.email, interactions=1)
        request_id = uuid.uuid4().hex
        read = client.get(
            f"{shared_hub.ports.api_url}/v1/customers/{card['customer_id']}",
            headers={"X-Request-Id": request_id},
        )

    assert read.status_code == 200
    with psycopg.connect(shared_hub.dsn) as conn:
        rows = conn.execute(
            "SELECT principal_id, key_id, route, customer_id::text, outcome FROM access_log"
            " WHERE request_id = %s",
            (request_id,),
        ).fetchall()
    key_id = shared_hub.api_key.split("_")[1]
    assert rows == [("e2e-reader", key_id, "GET /v1/customers/{customer_id}", card["customer_id"], "ok")]


def test_the_demo_reads_the_card_with_its_own_admin_key_and_reuses_it(
    shared_hub: RunningHub, tmp_path: Path
) -> None:
    key_file = demo_key(tmp_path, shared_hub.dsn)
    card = run_demo(
        shared_hub.ports.ingress_url,
        shared_hub.ports.api_url,
        shared_hub.secrets,
        key_file.read_text().strip(),
    )

    assert card["interaction_count"] == 4 and "purchase_totals" in card
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert demo_key(tmp_path, shared_hub.dsn).read_text() == key_file.read_text()
