"""Staff link identities to a customer by hand: an event with the actor, checked against the index."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from contracts import IdentityKind, normalise_identity
from hub import samples
from hub.demo import new_tag
from plumbing.eventstore.postgres import Conn
from services.ingress.translate import chat_widget
from services.timeline.store import record_interaction
from tests.support.access import KeyIssuer
from tests.support.api_app import api_client, bearer, project, seed_two_customers
from tests.support.store import opened

pytestmark = pytest.mark.integration

INSTAGRAM = {"kind": "handle", "value": "17841400000000001", "provider": "instagram"}


def _events_of(dsn: str, customer_id: uuid.UUID) -> list[tuple[str, dict[str, object], dict[str, object]]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT event_type, data, metadata, event_id FROM events WHERE stream_id = %s ORDER BY position",
            (f"customer-{customer_id}",),
        ).fetchall()
        opened(conn, [(event_id, data, meta) for _, data, meta, event_id in rows])
    return [(kind, data, meta) for kind, data, meta, _ in rows]


async def test_a_linked_handle_is_on_the_stream_with_its_actor_and_later_messages_find_the_customer(
    database: str, pool: AsyncConnectionPool[Conn], api_keys: KeyIssuer
) -> None:
    seeded = await seed_two_customers(pool, new_tag())
    key = api_keys.issue(roles=["sales_rep"], principal_id="staff-anna")
    async with api_client(database) as client:
        first = await client.post(
            f"/v1/customers/{seeded.emailer}/identities", json=INSTAGRAM, headers=bearer(key)
        )
        again = await client.post(
            f"/v1/customers/{seeded.emailer}/identities", json=INSTAGRAM, headers=bearer(key)
        )

    assert first.status_code == 201, first.text
    assert (again.status_code, again.json()["linked"], again.json()["event_id"]) == (200, False, None)
    kind, data, meta = _events_of(database, seeded.emailer)[-1]
    assert kind == "customer.identity.linked"
    assert (data["rule"], data["actor"], meta["actor"]) == ("staff", "staff-anna", "staff-anna")
    assert data["evidence_event_id"] == data["event_id"] == first.json()["event_id"]
    handle = normalise_identity(IdentityKind.HANDLE, INSTAGRAM["value"], provider="instagram")
    assert first.json()["identity_key"] == handle.key

    # A widget message from the same handle now resolves to the emailer.
    raw = samples.chat_message(seeded.emailer_person, "after-link", "hello again")
    [message] = chat_widget.translate(
        raw, received_at=datetime.now(UTC), correlation_id="c", default_region="US"
    )
    linked = message.model_copy(
        update={"sender": message.sender.model_copy(update={"identities": (handle,)})}
    )
    recorded = await record_interaction(pool, linked)
    assert recorded.customer_id == seeded.emailer
    await project(pool)
    async with api_client(database) as client:
        card = (await client.get(f"/v1/customers/{seeded.emailer}", headers=bearer(key))).json()
    assert handle.key in {view["key"] for view in card["identities"]}


async def test_an_identity_of_another_customer_is_refused_and_nothing_is_appended(
    database: str, pool: AsyncConnectionPool[Conn], api_keys: KeyIssuer
) -> None:
    seeded = await seed_two_customers(pool, new_tag())
    key = api_keys.issue(roles=["sales_rep"])
    before = _events_of(database, seeded.emailer)
    async with api_client(database) as client:
        taken = await client.post(
            f"/v1/customers/{seeded.emailer}/identities",
            json={"kind": "email", "value": seeded.chatter_person.email},
            headers=bearer(key),
        )
        invalid = await client.post(
            f"/v1/customers/{seeded.emailer}/identities",
            json={"kind": "email", "value": "not an address"},
            headers=bearer(key),
        )
        unknown = await client.post(
            f"/v1/customers/{uuid.uuid4()}/identities", json=INSTAGRAM, headers=bearer(key)
        )

    assert (taken.status_code, taken.json()["error"]["code"]) == (409, "identity_taken")
    assert (invalid.status_code, invalid.json()["error"]["code"]) == (422, "invalid_identity")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "customer_not_found")
    assert _events_of(database, seeded.emailer) == before


async def test_a_role_without_run_commands_cannot_link_identities(
    database: str, pool: AsyncConnectionPool[Conn], api_keys: KeyIssuer
) -> None:
    seeded = await seed_two_customers(pool, new_tag())
    key = api_keys.issue(roles=["marketing_analyst"])
    before = _events_of(database, seeded.emailer)
    async with api_client(database) as client:
        answer = await client.post(
            f"/v1/customers/{seeded.emailer}/identities", json=INSTAGRAM, headers=bearer(key)
        )

    assert answer.status_code == 403
    assert _events_of(database, seeded.emailer) == before
