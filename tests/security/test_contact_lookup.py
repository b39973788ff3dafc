"""Looking a customer up by a contact needs a role that sees contacts: otherwise the answer (a card or
none) would tell the caller whether an address belongs to a customer, which is what it may not read."""

from __future__ import annotations

import uuid

import httpx
import psycopg
import pytest

from tests.support.access import KeyIssuer
from tests.support.api_app import Seeded, bearer

pytestmark = pytest.mark.security


def _outcomes(dsn: str, principal: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT outcome FROM access_log WHERE principal_id = %s ORDER BY id", (principal,)
        ).fetchall()
    return [row[0] for row in rows]


async def test_an_analyst_cannot_test_whether_an_address_or_number_is_a_customer(
    client: httpx.AsyncClient, api_keys: KeyIssuer, seeded: Seeded, database: str
) -> None:
    analyst = bearer(api_keys.issue(["marketing_analyst"], "analyst-1"))
    person = seeded.emailer_person
    unknown = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    lookups = [
        {"email": person.email},
        {"email": unknown},
        {"phone": seeded.chatter_person.phone},
        {"identity": f"email:{person.email}"},
        {"identity": f"email:{unknown}"},
    ]

    answers = [await client.get("/v1/customers", params=p, headers=analyst) for p in lookups]

    assert {a.status_code for a in answers} == {403}
    assert len({a.text for a in answers}) == 1, "a known and an unknown address must answer alike"
    error = answers[0].json()["error"]
    assert error["code"] == "lookup_not_allowed" and "may not see contacts" in error["message"]
    assert _outcomes(database, "analyst-1") == ["forbidden"] * len(lookups)


async def test_an_analyst_cannot_search_by_name_email_or_phone_either(
    client: httpx.AsyncClient, api_keys: KeyIssuer, seeded: Seeded
) -> None:
    analyst = bearer(api_keys.issue(["marketing_analyst"], "analyst-2"))
    queries = [
        seeded.emailer_person.email,
        seeded.emailer_person.name.split()[0],
        seeded.chatter_person.phone,
    ]

    answers = [await client.get("/v1/customers", params={"q": q}, headers=analyst) for q in queries]

    assert [(a.status_code, a.json()["error"]["code"]) for a in answers] == [(403, "search_not_allowed")] * 3


async def test_roles_that_see_contacts_still_look_customers_up_by_them(
    client: httpx.AsyncClient, api_keys: KeyIssuer, seeded: Seeded
) -> None:
    agent = bearer(api_keys.issue(["support_agent"], "agent-1", channels=["chat"]))
    service = bearer(api_keys.issue(["service_account"], "svc-1"))

    by_agent = await client.get("/v1/customers", params={"phone": seeded.chatter_person.phone}, headers=agent)
    by_service = await client.get(
        "/v1/customers", params={"email": seeded.emailer_person.email}, headers=service
    )

    assert [item["customer_id"] for item in by_agent.json()["items"]] == [str(seeded.chatter)]
    assert [item["customer_id"] for item in by_service.json()["items"]] == [str(seeded.emailer)]
