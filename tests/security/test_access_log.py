"""Audited reads: every card and timeline read is in the append-only access log auditors query."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from tests.support.access import KeyIssuer
from tests.support.api_app import Seeded, bearer

pytestmark = pytest.mark.security


def _log(dsn: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT principal_id, key_id, route, customer_id, served_customer_id, outcome"
            " FROM access_log ORDER BY id"
        ).fetchall()


async def test_every_read_of_a_card_or_timeline_lands_in_the_access_log_with_its_key(
    client: httpx.AsyncClient, api_keys: KeyIssuer, seeded: Seeded, database: str
) -> None:
    agent = api_keys.issue(["support_agent"], "agent-1", channels=["chat"])
    agent_key_id = agent.split("_")[1]
    missing = uuid.uuid4()
    reads = [
        f"/v1/customers/{seeded.chatter}",
        f"/v1/customers/{seeded.chatter}",
        f"/v1/customers/{seeded.chatter}/timeline",
        f"/v1/customers/{seeded.emailer}",
        f"/v1/customers/{missing}/timeline",
    ]

    statuses = [(await client.get(url, headers=bearer(agent))).status_code for url in reads]
    lookup = await client.get(
        "/v1/customers", params={"email": seeded.chatter_person.email}, headers=bearer(agent)
    )

    assert statuses == [200, 200, 200, 404, 404] and lookup.status_code == 200
    card, timeline = "GET /v1/customers/{customer_id}", "GET /v1/customers/{customer_id}/timeline"
    assert _log(database) == [
        ("agent-1", agent_key_id, card, seeded.chatter, seeded.chatter, "ok"),
        ("agent-1", agent_key_id, card, seeded.chatter, seeded.chatter, "ok"),
        ("agent-1", agent_key_id, timeline, seeded.chatter, seeded.chatter, "ok"),
        ("agent-1", agent_key_id, card, seeded.emailer, None, "hidden"),
        ("agent-1", agent_key_id, timeline, missing, None, "not_found"),
        ("agent-1", agent_key_id, "GET /v1/customers", seeded.chatter, seeded.chatter, "ok"),
    ]


async def test_a_read_refused_for_lack_of_permission_is_logged_as_forbidden(
    client: httpx.AsyncClient, api_keys: KeyIssuer, seeded: Seeded, database: str
) -> None:
    auditor = api_keys.issue(["auditor"], "auditor-1")

    answer = await client.get(f"/v1/customers/{seeded.chatter}", headers=bearer(auditor))

    assert answer.status_code == 403
    assert _log(database) == [
        (
            "auditor-1",
            auditor.split("_")[1],
            "GET /v1/customers/{customer_id}",
            seeded.chatter,
            None,
            "forbidden",
        )
    ]


async def test_auditors_query_the_log_by_customer_principal_and_time_page_by_page(
    client: httpx.AsyncClient, api_keys: KeyIssuer, seeded: Seeded
) -> None:
    auditor = api_keys.issue(["auditor"], "auditor-1")
    alice = api_keys.issue(["sales_rep"], "alice")
    bob = api_keys.issue(["sales_rep"], "bob")
    started = datetime.now(UTC) - timedelta(seconds=1)
    for key, customer in [(alice, seeded.chatter)] * 3 + [(bob, seeded.chatter), (alice, seeded.emailer)]:
        assert (await client.get(f"/v1/customers/{customer}", headers=bearer(key))).status_code == 200

    async def query(**params: str) -> dict[str, object]:
        answer = await client.get("/v1/audit/access-log", params=params, headers=bearer(auditor))
        assert answer.status_code == 200, answer.text
        page: dict[str, object] = answer.json()
        return page

    first = await query(customer_id=str(seeded.chatter), principal_id="alice", limit="2")
    second = await query(
        customer_id=str(seeded.chatter), principal_id="alice", limit="2", cursor=str(first["next_cursor"])
    )
    by_bob = await query(principal_id="bob")
    later = await query(since=(datetime.now(UTC) + timedelta(minutes=1)).isoformat())
    window = await query(
        since=started.isoformat(), until=(datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    )

    items = first["items"] + second["items"]  # type: ignore[operator]
    assert [i["principal_id"] for i in items] == ["alice"] * 3
    assert [i["id"] for i in items] == sorted((i["id"] for i in items), reverse=True)
    assert {i["customer_id"] for i in items} == {str(seeded.chatter)} and second["next_cursor"] is None
    assert items[0]["key_id"] == alice.split("_")[1] and items[0]["outcome"] == "ok"
    assert [i["principal_id"] for i in by_bob["items"]] == ["bob"]  # type: ignore[index]
    assert later["items"] == [] and len(window["items"]) == 5  # type: ignore[arg-type]


async def test_the_access_log_refuses_updates_deletes_and_truncation(
    client: httpx.AsyncClient, api_keys: KeyIssuer, seeded: Seeded, database: str
) -> None:
    key = api_keys.issue(["sales_rep"], "alice")
    assert (await client.get(f"/v1/customers/{seeded.chatter}", headers=bearer(key))).status_code == 200

    for statement in (
        "UPDATE access_log SET principal_id = 'someone-else'",
        "DELETE FROM access_log",
        "TRUNCATE access_log",
    ):
        with psycopg.connect(database) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)

    assert [row[0] for row in _log(database)] == ["alice"]
