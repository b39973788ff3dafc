"""Admin endpoints: principals and roles, keys shown once, revocation, and who has access to what."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.support.access import KeyIssuer
from tests.support.api_app import Seeded, bearer

pytestmark = pytest.mark.security


@pytest.fixture
def admin(api_keys: KeyIssuer) -> dict[str, str]:
    return bearer(api_keys.issue(["admin"], "root"))


async def test_a_new_key_is_shown_once_works_and_is_listed_without_its_secret(
    client: httpx.AsyncClient, admin: dict[str, str], seeded: Seeded
) -> None:
    principal = await client.put(
        "/v1/admin/principals/svc-billing",
        json={"kind": "service", "roles": ["service_account"]},
        headers=admin,
    )
    created = await client.post(
        "/v1/admin/keys", json={"principal_id": "svc-billing", "expires_in": "30d"}, headers=admin
    )
    key = created.json()["key"]
    listed = await client.get("/v1/admin/keys", params={"principal_id": "svc-billing"}, headers=admin)
    everyone = await client.get("/v1/admin/principals", headers=admin)
    card = await client.get(f"/v1/customers/{seeded.chatter}", headers=bearer(key))

    assert principal.status_code == 200 and created.status_code == 201
    assert key.startswith(f"hub_{created.json()['key_id']}_")
    assert [k["key_id"] for k in listed.json()["items"]] == [created.json()["key_id"]]
    assert listed.json()["items"][0]["status"] == "active" and "key" not in listed.json()["items"][0]
    secret = key.split("_", 2)[2]
    assert secret not in listed.text and secret not in everyone.text
    assert card.status_code == 200 and "purchase_totals" not in card.json()


async def test_roles_an_admin_assigns_apply_to_the_next_request_of_existing_keys(
    client: httpx.AsyncClient, admin: dict[str, str], api_keys: KeyIssuer, seeded: Seeded
) -> None:
    agent = bearer(api_keys.issue(["support_agent"], "agent-1", channels=["chat"]))
    before = await client.get(f"/v1/customers/{seeded.emailer}", headers=agent)

    promoted = await client.put(
        "/v1/admin/principals/agent-1", json={"roles": ["sales_manager"], "team": "north"}, headers=admin
    )
    after = await client.get(f"/v1/customers/{seeded.emailer}", headers=agent)

    assert before.status_code == 404
    assert promoted.status_code == 200 and promoted.json()["roles"] == ["sales_manager"]
    assert after.status_code == 200


async def test_who_has_access_to_what_shows_roles_rows_hidden_fields_and_keys(
    client: httpx.AsyncClient, admin: dict[str, str], api_keys: KeyIssuer
) -> None:
    api_keys.issue(["support_agent"], "agent-1", channels=["chat", "social"], team="north")

    listing = (await client.get("/v1/admin/principals", headers=admin)).json()["items"]
    roles = (await client.get("/v1/admin/roles", headers=admin)).json()

    agent = next(p for p in listing if p["principal_id"] == "agent-1")
    assert agent["roles"] == ["support_agent"] and agent["channels"] == ["chat", "social"]
    assert set(agent["access"]) == {"read_card", "read_timeline", "read_api_docs"}
    assert agent["access"]["read_card"] == {
        "rows": {"customers": "channels"},
        "hidden": {
            "customer_card": [
                "average_order",
                "lifetime_value",
                "payment_methods",
                "purchase_totals",
                "recent_purchases",
                "recent_refunds",
                "refund_totals",
            ],
            "analytics_member": ["traits.lifetime_value", "traits.purchase_totals", "traits.refund_totals"],
        },
    }
    assert len(agent["keys"]) == 1 and agent["keys"][0]["status"] == "active"
    assert {p["principal_id"] for p in listing} == {"root", "agent-1"}
    assert roles["marketing_analyst"]["rows"] == {"customers": "all"}


async def test_unknown_roles_principals_keys_and_durations_are_refused(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    bad_role = await client.put("/v1/admin/principals/mallory", json={"roles": ["root"]}, headers=admin)
    bad_channel = await client.put(
        "/v1/admin/principals/mallory", json={"roles": ["support_agent"], "channels": ["fax"]}, headers=admin
    )
    no_principal = await client.post("/v1/admin/keys", json={"principal_id": "nobody"}, headers=admin)
    bad_duration = await client.post(
        "/v1/admin/keys", json={"principal_id": "root", "expires_in": "forever"}, headers=admin
    )
    no_key = await client.delete(f"/v1/admin/keys/{uuid.uuid4().hex[:16]}", headers=admin)

    assert (bad_role.status_code, bad_role.json()["error"]["code"]) == (422, "unknown_role")
    assert bad_channel.status_code == 422
    assert (no_principal.status_code, no_principal.json()["error"]["code"]) == (404, "principal_not_found")
    assert (bad_duration.status_code, bad_duration.json()["error"]["code"]) == (422, "invalid_duration")
    assert (no_key.status_code, no_key.json()["error"]["code"]) == (404, "key_not_found")
