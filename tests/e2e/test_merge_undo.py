"""A wrong merge undone on the real stack: webhooks -> Kafka -> timeline writer -> store; staff undo by API.

Sam emails, Alex writes on WhatsApp; a till receipt typed with Sam's email and Alex's phone merges the
two (Sam's customer is older and survives). Both keep writing; staff undo the merge; from then on
Alex's messages land on Alex's own stream again. Streams are checked in the event store itself.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest

from contracts import IdentityKind, customer_stream, normalise_identity
from hub import samples
from hub.demo import DEMO_BASKET, Webhook, new_tag, send
from services.ingress.verify import sign_base64, sign_hex
from tests.support.deployables import RunningHub
from tests.support.rebuild import card_read_model, copy_log, project_all, wait_until_projected

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
DEADLINE_S = 60.0


def _email(hub: RunningHub, person: samples.SamplePerson, message_id: str) -> Webhook:
    body = samples.email_message(person, f"<{message_id}@mail.example.com>", "Hello", f"From {person.name}")
    headers = {"X-Hub-Signature-256": sign_hex(body, hub.secrets.mta), "Content-Type": "message/rfc822"}
    return Webhook("/webhooks/email/mta", body, headers)


def _whatsapp(hub: RunningHub, person: samples.SamplePerson, message_id: str) -> Webhook:
    body = samples.whatsapp_message(person, f"wamid.{message_id}", "Is my order ready?")
    headers = {
        "X-Hub-Signature-256": sign_hex(body, hub.secrets.meta_app),
        "Content-Type": "application/json",
    }
    return Webhook("/webhooks/social/meta", body, headers)


def _receipt(hub: RunningHub, person: samples.SamplePerson, order_id: int) -> Webhook:
    body = samples.shopify_order(person, order_id, DEMO_BASKET, source_name="pos")
    headers = {
        "X-Shopify-Hmac-Sha256": sign_base64(body, hub.secrets.shopify),
        "Content-Type": "application/json",
    }
    return Webhook("/webhooks/pos/shopify", body, headers)


def _deliver(client: httpx.Client, hub: RunningHub, hook: Webhook) -> UUID:
    answer = send(client, hub.ports.ingress_url, hook)
    assert answer.status_code == 200, answer.text
    (event_id,) = answer.json()["event_ids"]
    return UUID(event_id)


def _stored_on(dsn: str, event_id: UUID) -> UUID:
    """The customer whose stream the timeline writer appended ``event_id`` to (waits for it)."""
    deadline = time.monotonic() + DEADLINE_S
    with psycopg.connect(dsn, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT stream_id FROM events WHERE event_id = %s", (event_id,)).fetchone()
            if row is not None:
                return UUID(str(row[0]).removeprefix("customer-"))
            time.sleep(0.1)
    raise TimeoutError(f"event {event_id} was not stored within {DEADLINE_S:.0f} s")


def _types(dsn: str, customer: UUID) -> list[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT event_type FROM events WHERE stream_id = %s ORDER BY stream_version",
            (customer_stream(customer),),
        ).fetchall()
    return [kind for (kind,) in rows]


def test_after_staff_undo_a_receipt_merge_each_persons_next_message_lands_on_their_own_stream(
    hub: RunningHub, fresh_database: str
) -> None:
    tag = new_tag()
    sam, alex = samples.sample_person(f"sam-{tag}"), samples.sample_person(f"alex-{tag}")
    mixed_up = dataclasses.replace(sam, phone=alex.phone, wa_id=alex.wa_id)  # Sam's email, Alex's phone
    with httpx.Client(timeout=30) as client:
        sam_id = _stored_on(hub.dsn, _deliver(client, hub, _email(hub, sam, f"{tag}-1")))
        alex_id = _stored_on(hub.dsn, _deliver(client, hub, _whatsapp(hub, alex, f"{tag}-1")))
        receipt = _deliver(client, hub, _receipt(hub, mixed_up, int(tag, 16) % 10**12))
        assert _stored_on(hub.dsn, receipt) == sam_id  # the merge: the older customer survives
        alex_later = _deliver(client, hub, _whatsapp(hub, alex, f"{tag}-2"))
        sam_later = _deliver(client, hub, _email(hub, sam, f"{tag}-2"))
        assert _stored_on(hub.dsn, alex_later) == _stored_on(hub.dsn, sam_later) == sam_id

        undone = client.post(
            f"{hub.ports.api_url}/v1/customers/{sam_id}/merges/{alex_id}/undo",
            json={"reason": "the cashier typed the wrong phone"},
            headers=hub.api_headers,
        )
        assert undone.status_code == 201, undone.text

        alex_after = _deliver(client, hub, _whatsapp(hub, alex, f"{tag}-3"))
        sam_after = _deliver(client, hub, _email(hub, sam, f"{tag}-3"))
        assert _stored_on(hub.dsn, alex_after) == alex_id
        assert _stored_on(hub.dsn, sam_after) == sam_id

    answer = undone.json()
    alex_phone = normalise_identity(IdentityKind.PHONE, alex.phone)
    alex_whatsapp = normalise_identity(IdentityKind.HANDLE, alex.wa_id, provider="whatsapp")
    assert sorted(answer["returned_identities"]) == sorted([alex_phone.key, alex_whatsapp.key])
    assert answer["moved_event_ids"] == [str(alex_later)]  # neither the receipt nor Sam's email
    assert _types(hub.dsn, alex_id)[-3:] == [
        "customer.merged_into",
        "customer.restored",
        "interaction.social.received",
    ]
    assert "customer.unmerged" in _types(hub.dsn, sam_id)

    # the cards: each person's own history, Alex's message from the merged time moved back to Alex
    wait_until_projected(hub.dsn, "customer_card")
    with httpx.Client(base_url=hub.ports.api_url, headers=hub.api_headers, timeout=30) as api:
        sam_card, alex_card = (api.get(f"/v1/customers/{c}").json() for c in (sam_id, alex_id))
        found = api.get("/v1/customers", params={"phone": alex.phone}).json()["items"]
    assert alex_card["merged_into"] is None and sam_card["merged_from"] == []
    assert {alex_later, alex_after} <= _interactions(alex_card)
    assert alex_card["interaction_count"] == 3  # WhatsApp 1, 2 (moved back) and 3
    assert sam_card["interaction_count"] == 4  # email 1, the receipt, email 2 and 3
    assert {receipt, sam_later, sam_after} <= _interactions(sam_card)
    assert alex_later not in _interactions(sam_card)
    assert [item["customer_id"] for item in found] == [str(alex_id)]
    assert [m["kind"] for m in alex_card["merge_history"]] == ["merged_into", "restored"]

    # and the live projection equals a rebuild of the same log
    copy_log(hub.dsn, fresh_database)
    project_all(fresh_database)
    assert card_read_model(fresh_database) == card_read_model(hub.dsn)


def _interactions(card: dict[str, Any]) -> set[UUID]:
    return {UUID(view["event_id"]) for view in card["recent_interactions"]}
