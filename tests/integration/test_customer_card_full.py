"""The full customer card over the real PostgreSQL: profile with history, interactions with details,
documents, purchases, the sales section; staff attribute commands and uploads; search, timeline
filters, the attribute history route, merged-away ids; and a rebuild from the log equal to the live card.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from contracts import (
    Attachment,
    BlobRef,
    CallRecorded,
    ChatMessageReceived,
    Direction,
    EmailReceived,
    IdentityKind,
    Money,
    RecordingStored,
    RefundRecorded,
    Sender,
    customer_stream,
    event_id_for,
    normalise_identity,
)
from hub import samples
from hub.demo import new_tag
from plumbing.eventstore import ANY, NewEvent
from plumbing.eventstore.postgres import Conn, PostgresEventStore
from services.ingress.translate import shopify
from services.timeline.store import record_interaction
from tests.support.access import KeyIssuer
from tests.support.api_app import api_client, bearer, project
from tests.support.rebuild import card_read_model, copy_log
from tests.support.sales import open_body, project_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

T0 = datetime(2025, 6, 9, 12, 0, tzinfo=UTC)
PDF = b"%PDF-1.4 a signed contract"


def _sender(person: samples.SamplePerson, **extra: Any) -> Sender:
    identities = (
        normalise_identity(IdentityKind.EMAIL, person.email),
        normalise_identity(IdentityKind.PHONE, person.phone),
    )
    return Sender(identities=identities, display_name=person.name, **extra)


def _common(tag: str, minute: int, provider: str) -> dict[str, Any]:
    at = T0 + timedelta(minutes=minute)
    return {
        "event_id": event_id_for(provider, tag),
        "occurred_at": at,
        "received_at": at,
        "correlation_id": tag,
        "provider": provider,
        "provider_message_id": tag,
        "summary": f"{provider} {tag}",
    }


async def _seed_person(pool: AsyncConnectionPool[Conn], person: samples.SamplePerson, tag: str) -> UUID:
    """An email with two attachments, a Telegram chat with the app language, a call and its stored
    recording, a Shopify order with marketing consent and a refund of it."""
    mail = EmailReceived(
        **_common(f"{tag}-mail", 1, "mailgun"),
        sender=_sender(person),
        subject="My order",
        message_id=f"<{tag}@mail>",
        in_reply_to=f"<{tag}-0@mail>",
        attachments=(
            Attachment(
                filename="receipt.pdf", content_type="application/pdf", size_bytes=77, sha256="d" * 64
            ),
            Attachment(filename="photo.jpg", content_type="image/jpeg", size_bytes=5),
        ),
    )
    chat = ChatMessageReceived(
        **_common(f"{tag}-chat", 2, "telegram"),
        sender=_sender(person, language="en-gb"),
        conversation_id=f"tg-{tag}",
    )
    call = CallRecorded(
        **_common(f"{tag}-call", 3, "twilio"),
        sender=_sender(person),
        call_id=f"CA{tag}",
        direction=Direction.INBOUND,
        from_number=person.phone,
        to_number="+15005550006",
        duration_s=95,
        status="completed",
        agent="alice",
    )
    order_raw = samples.shopify_order(
        person,
        int(hashlib.sha256(tag.encode()).hexdigest()[:10], 16),
        [
            ("SKU-1", "Teapot", 1, "30.00"),
            ("SKU-2", "Cup", 2, "5.00"),
        ],
    )
    order_json = order_raw.replace(b'"customer":{', b'"customer":{"accepts_marketing":true,')
    (order,) = shopify.translate(order_json, received_at=T0, correlation_id=tag, default_region="US")
    refund = RefundRecorded(
        **_common(f"{tag}-refund", 5, "shopify"),
        sender=_sender(person),
        order_id=order.order_id,
        refund_id=f"r-{tag}",
        amount=Money(amount=Decimal("5.00"), currency="USD"),
        reason="chipped cup",
    )
    customer: UUID | None = None
    for event in (mail, chat, call, order, refund):
        customer = (await record_interaction(pool, event)).customer_id
    assert customer is not None
    recording = RecordingStored(
        event_id=uuid.uuid5(call.event_id, "recording"),
        occurred_at=T0 + timedelta(minutes=4),
        received_at=T0 + timedelta(minutes=4),
        correlation_id=tag,
        customer_id=customer,
        call_event_id=call.event_id,
        call_id=call.call_id,
        recording=BlobRef(sha256="e" * 64, size_bytes=2048),
        content_type="audio/mpeg",
        duration_s=90,
    )
    await PostgresEventStore(pool).append(customer_stream(customer), [NewEvent(recording, {})], ANY)
    return customer


async def _ok(answer: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    return body


@pytest.fixture
def blob_dir(tmp_path: Path) -> Path:
    return tmp_path / "blobs"


async def test_a_card_with_every_part_filled_by_events_staff_commands_uploads_and_the_pipeline(
    database: str, pool: AsyncConnectionPool[Conn], api_keys: KeyIssuer, blob_dir: Path
) -> None:
    person = samples.sample_person(f"full-{new_tag()}")
    customer = await _seed_person(pool, person, new_tag())
    await project(pool)
    rep = bearer(api_keys.issue(roles=["sales_rep"], principal_id="alice", team="north"))
    url = f"/v1/customers/{customer}"
    async with api_client(database, blob_dir=blob_dir, max_document_bytes=1024) as client:
        await _ok(await client.put(f"{url}/attributes/birthday", json={"value": "1990-04-01"}, headers=rep))
        fixed = await _ok(
            await client.put(
                f"{url}/attributes/birthday", json={"value": "1990-04-10", "reason": "typo"}, headers=rep
            )
        )
        await _ok(
            await client.put(
                f"{url}/attributes/children",
                json={"value": [{"name": "Tom", "birth_date": "2018-05-02"}]},
                headers=rep,
            )
        )
        await _ok(await client.put(f"{url}/attributes/car", json={"value": {"brand": "Volvo"}}, headers=rep))
        removed = await _ok(
            await client.delete(f"{url}/attributes/car", params={"reason": "sold"}, headers=rep)
        )
        await _ok(await client.put(f"{url}/attributes/consent_sms", json={"value": False}, headers=rep))
        bad_birthday = await client.put(
            f"{url}/attributes/birthday", json={"value": "2999-01-01"}, headers=rep
        )
        bad_language = await client.put(f"{url}/attributes/language", json={"value": "xx-YY"}, headers=rep)
        unknown = await client.put(f"{url}/attributes/shoe_size", json={"value": 42}, headers=rep)
        raw_upload = await _ok(
            await client.post(
                f"{url}/documents",
                params={"filename": "../../contract.pdf", "title": "Signed contract"},
                content=PDF,
                headers={**rep, "Content-Type": "application/pdf"},
            ),
            201,
        )
        multipart = await _ok(
            await client.post(
                f"{url}/documents",
                files={"file": ("id-scan.png", b"\x89PNG scan", "image/png")},
                data={"title": "ID scan"},
                headers=rep,
            ),
            201,
        )
        too_large = await client.post(
            f"{url}/documents", content=b"x" * 1025, headers={**rep, "Content-Type": "text/plain"}
        )
        empty = await client.post(f"{url}/documents", content=b"", headers=rep)
        deal = await _ok(
            await client.post("/v1/deals", json=open_body(customer, owner_id="alice"), headers=rep), 201
        )
        task_body = {
            "customer_id": str(customer),
            "kind": "call_back",
            "title": "Call back",
            "assignee": "alice",
        }
        await _ok(
            await client.post("/v1/tasks", json={**task_body, "due_at": "2030-01-01T09:00:00Z"}, headers=rep),
            201,
        )
        await _ok(
            await client.post(
                "/v1/notes", json={"customer_id": str(customer), "text": "Likes teal"}, headers=rep
            ),
            201,
        )
        await project(pool)
        await project_pipeline(database)
        card = await _ok(await client.get(url, params={"min_position": removed["position"]}, headers=rep))
        history = await _ok(await client.get(f"{url}/attributes/birthday/history", headers=rep))

    assert fixed["value"] == "1990-04-10" and fixed["position"] > 0
    assert (bad_birthday.status_code, bad_birthday.json()["error"]["code"]) == (422, "invalid_attribute")
    assert "in the future" in bad_birthday.json()["error"]["message"]
    assert "BCP 47" in bad_language.json()["error"]["message"]
    assert unknown.status_code == 422
    assert (too_large.status_code, too_large.json()["error"]["code"]) == (413, "document_too_large")
    assert empty.status_code == 422

    # profile: staff values, channel values (Telegram language, Shopify consent), history
    profile = card["profile"]
    assert profile["name"] == person.name  # from the channels' display name
    assert (profile["birthday"], profile["car"], profile["language"]) == ("1990-04-10", None, "en-GB")
    assert profile["children"] == [{"name": "Tom", "birth_date": "2018-05-02"}]
    assert (profile["consent_email"], profile["consent_sms"]) == (True, False)
    assert [c["value"] for c in history["changes"]] == ["1990-04-10", "1990-04-01"]
    assert {c["actor"] for c in history["changes"]} == {"alice"}
    assert history["changes"][0]["event_id"] == fixed["event_id"] == history["changes"][0]["source_event_id"]
    assert history["current"] == "1990-04-10"
    assert [c["cleared"] for c in card["attribute_history"]["car"]] == [False, True]

    # interactions with their details
    kinds = {view["event_type"]: view for view in card["recent_interactions"]}
    letter, call = kinds["interaction.email.received"]["details"], kinds["interaction.voice.call"]["details"]
    assert (letter["subject"], letter["attachment_count"]) == ("My order", 2)
    assert letter["in_reply_to"].endswith("-0@mail>")
    assert (call["duration_s"], call["agent"], call["recording"]["sha256"]) == (95, "alice", "e" * 64)
    assert set(card["channels"]) == {"email", "chat", "voice", "pos"}

    # documents: uploads (content-addressed in the blob store), attachments, the recording
    assert card["document_count"] == 5
    by_kind = sorted(
        (d["kind"], d["filename"], d["content_type"], d["size_bytes"]) for d in card["documents"]
    )
    assert by_kind == [
        ("attachment", "photo.jpg", "image/jpeg", 5),
        ("attachment", "receipt.pdf", "application/pdf", 77),
        ("recording", f"call-{kinds['interaction.voice.call']['details']['call_id']}", "audio/mpeg", 2048),
        ("upload", "contract.pdf", "application/pdf", len(PDF)),
        ("upload", "id-scan.png", "image/png", len(b"\x89PNG scan")),
    ]
    assert raw_upload["sha256"] == hashlib.sha256(PDF).hexdigest()
    stored = blob_dir / "sha256" / raw_upload["sha256"][:2] / raw_upload["sha256"][2:4] / raw_upload["sha256"]
    assert stored.read_bytes() == PDF
    assert multipart["title"] == "ID scan"
    assert {d["actor"] for d in card["documents"] if d["kind"] == "upload"} == {"alice"}

    # purchases and payments
    (purchase,) = card["recent_purchases"]
    assert [(line["sku"], line["quantity"]) for line in purchase["lines"]] == [("SKU-1", "1"), ("SKU-2", "2")]
    assert (Decimal(purchase["amount"]), Decimal(purchase["refunded"])) == (Decimal(40), Decimal(5))
    assert card["payment_methods"] == {"shopify_payments": 1}
    assert card["average_order"] == {"USD": "40.00"}
    assert Decimal(card["lifetime_value"]["USD"]) == Decimal(35)
    assert card["first_purchase_at"] == card["last_purchase_at"]
    assert [r["reason"] for r in card["recent_refunds"]] == ["chipped cup"]

    # the sales section
    sales = card["sales"]
    assert [d["deal_id"] for d in sales["deals"]] == [deal["deal_id"]]
    assert [t["title"] for t in sales["open_tasks"]] == ["Call back"]
    assert [n["text"] for n in sales["notes"]] == ["Likes teal"]


async def test_roles_see_the_card_parts_their_policy_allows(
    database: str, pool: AsyncConnectionPool[Conn], api_keys: KeyIssuer, blob_dir: Path
) -> None:
    person = samples.sample_person(f"roles-{new_tag()}")
    customer = await _seed_person(pool, person, new_tag())
    rep = bearer(api_keys.issue(roles=["sales_rep"], principal_id="alice", team="north"))
    analyst = bearer(api_keys.issue(roles=["marketing_analyst"]))
    agent = bearer(api_keys.issue(roles=["support_agent"], channels=["chat"]))
    url = f"/v1/customers/{customer}"
    async with api_client(database, blob_dir=blob_dir) as client:
        await _ok(await client.put(f"{url}/attributes/birthday", json={"value": "1990-04-01"}, headers=rep))
        await project(pool)
        as_analyst = await _ok(await client.get(url, headers=analyst))
        as_agent = await _ok(await client.get(url, headers=agent))
        analyst_history = await client.get(f"{url}/attributes/birthday/history", headers=analyst)
        analyst_language = await client.get(f"{url}/attributes/language/history", headers=analyst)
        agent_history = await _ok(await client.get(f"{url}/attributes/birthday/history", headers=agent))
        agent_put = await client.put(f"{url}/attributes/name", json={"value": "X"}, headers=agent)

    assert person.name not in str(as_analyst) and "1990-04-01" not in str(as_analyst)
    assert {"attribute_history", "documents", "sales"}.isdisjoint(as_analyst)
    assert set(as_analyst["profile"]) == {"car", "preferences", "language"} | {
        f"consent_{c}" for c in ("email", "sms", "phone", "messaging")
    }
    assert as_analyst["profile"]["consent_email"] is True
    assert (analyst_history.status_code, analyst_history.json()["error"]["code"]) == (403, "field_hidden")
    assert analyst_language.status_code == 403  # the policy hides every field's history from analysts
    assert "sales" not in as_agent and "payment_methods" not in as_agent and "recent_refunds" not in as_agent
    assert as_agent["profile"]["birthday"] == "1990-04-01"
    assert agent_history["changes"][0]["value"] == "1990-04-01"
    assert agent_put.status_code == 403


async def test_a_merged_away_id_answers_the_survivors_card_and_refuses_commands(
    database: str, pool: AsyncConnectionPool[Conn], api_keys: KeyIssuer, blob_dir: Path
) -> None:
    tag = new_tag()
    older = samples.sample_person(f"older-{tag}")
    mail = normalise_identity(IdentityKind.EMAIL, older.email)
    phone = normalise_identity(IdentityKind.PHONE, older.phone)

    def chat(n: int, *identities: Any) -> ChatMessageReceived:
        return ChatMessageReceived(
            **_common(f"{tag}-m{n}", n, "widget"), sender=Sender(identities=identities), conversation_id="c"
        )

    survivor = (await record_interaction(pool, chat(1, mail))).customer_id
    absorbed = (await record_interaction(pool, chat(2, phone))).customer_id
    assert (await record_interaction(pool, chat(3, mail, phone))).customer_id == survivor
    await project(pool)
    rep = bearer(api_keys.issue(roles=["sales_rep"], principal_id="alice", team="north"))
    async with api_client(database, blob_dir=blob_dir) as client:
        redirected = await client.get(f"/v1/customers/{absorbed}", headers=rep)
        direct = await _ok(await client.get(f"/v1/customers/{survivor}", headers=rep))
        refused = await client.put(
            f"/v1/customers/{absorbed}/attributes/name", json={"value": "Ada"}, headers=rep
        )
        refused_upload = await client.post(f"/v1/customers/{absorbed}/documents", content=b"x", headers=rep)
        history = await _ok(
            await client.get(f"/v1/customers/{absorbed}/attributes/name/history", headers=rep)
        )

    answer = await _ok(redirected)
    assert answer["customer_id"] == str(survivor) and answer["requested_id"] == str(absorbed)
    assert redirected.headers["content-location"] == f"/v1/customers/{survivor}"
    assert "requested_id" not in direct
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "customer_merged")
    assert str(survivor) in refused.json()["error"]["message"]
    assert refused_upload.status_code == 409
    assert history["requested_id"] == str(absorbed) and history["customer_id"] == str(survivor)


async def test_search_by_name_email_and_phone_prefix_pages_through_every_match_once(
    database: str, pool: AsyncConnectionPool[Conn], api_keys: KeyIssuer, blob_dir: Path
) -> None:
    tag = new_tag()
    people = [samples.sample_person(f"search-{tag}-{n}") for n in range(5)]
    customers = []
    for n, person in enumerate(people):
        event = ChatMessageReceived(
            **_common(f"{tag}-s{n}", n, "widget"), sender=_sender(person), conversation_id=f"c{n}"
        )
        customers.append((await record_interaction(pool, event)).customer_id)
    surname = f"Qzx{tag[:6]}"
    rep = bearer(api_keys.issue(roles=["sales_rep"], principal_id="alice", team="north"))
    async with api_client(database, blob_dir=blob_dir) as client:
        for n, customer in enumerate(customers[:4]):
            await _ok(
                await client.put(
                    f"/v1/customers/{customer}/attributes/name",
                    json={"value": f"Émile{n} {surname}"},
                    headers=rep,
                )
            )
        await project(pool)
        pages, cursor = [], None
        while True:
            params = {"q": surname.lower(), "limit": "3", **({"cursor": cursor} if cursor else {})}
            page = await _ok(await client.get("/v1/customers", params=params, headers=rep))
            pages.append([item["customer_id"] for item in page["items"]])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        by_first_name = await _ok(await client.get("/v1/customers", params={"q": "emile2"}, headers=rep))
        by_email = await _ok(
            await client.get("/v1/customers", params={"q": people[4].email[:12]}, headers=rep)
        )
        digits = "".join(ch for ch in people[4].phone if ch.isdigit())
        by_phone = await _ok(await client.get("/v1/customers", params={"q": f"+{digits[:8]}"}, headers=rep))
        too_short = await client.get("/v1/customers", params={"q": "e"}, headers=rep)
        both = await client.get("/v1/customers", params={"q": "emile", "email": people[0].email}, headers=rep)
        bad_cursor = await client.get("/v1/customers", params={"q": "emile", "cursor": "bm9wZQ"}, headers=rep)
        analyst = await client.get(
            "/v1/customers",
            params={"q": surname},
            headers=bearer(api_keys.issue(roles=["marketing_analyst"])),
        )
        agent = await _ok(
            await client.get(
                "/v1/customers",
                params={"q": surname},
                headers=bearer(api_keys.issue(roles=["support_agent"], channels=["email"])),
            )
        )

    assert [len(page) for page in pages] == [3, 1]
    found = [customer for page in pages for customer in page]
    assert sorted(found) == sorted(str(c) for c in customers[:4]) and len(set(found)) == 4
    assert [item["customer_id"] for item in by_first_name["items"]] == [str(customers[2])]
    assert str(customers[4]) in [item["customer_id"] for item in by_email["items"]]
    assert str(customers[4]) in [item["customer_id"] for item in by_phone["items"]]
    assert (too_short.status_code, too_short.json()["error"]["code"]) == (422, "query_too_short")
    assert both.status_code == 422 and bad_cursor.status_code == 422
    assert (analyst.status_code, analyst.json()["error"]["code"]) == (403, "search_not_allowed")
    assert agent["items"] == []  # they chatted; this agent's channel is email


async def test_a_phone_typed_in_the_national_form_of_the_default_region_finds_its_customer(
    database: str, pool: AsyncConnectionPool[Conn], api_keys: KeyIssuer, blob_dir: Path
) -> None:
    tag = new_tag()
    local = f"{int(uuid.uuid4()) % 10**7:07d}"  # a Moscow mobile of this test's own
    moscow = normalise_identity(IdentityKind.PHONE, f"+7916{local}")
    event = ChatMessageReceived(
        **_common(f"{tag}-ru", 1, "widget"), sender=Sender(identities=(moscow,)), conversation_id="c"
    )
    customer = (await record_interaction(pool, event)).customer_id
    rep = bearer(api_keys.issue(roles=["sales_rep"], principal_id="alice", team="north"))
    typed = f"8 (916) {local[:3]}-{local[3:5]}-{local[5:]}"
    async with api_client(database, blob_dir=blob_dir, default_region="RU") as client:
        await project(pool)
        found = await _ok(await client.get("/v1/customers", params={"q": typed}, headers=rep))

    assert [item["customer_id"] for item in found["items"]] == [str(customer)]


async def test_the_timeline_filters_by_channel_and_type_with_pagination(
    database: str, pool: AsyncConnectionPool[Conn], api_keys: KeyIssuer, blob_dir: Path
) -> None:
    person = samples.sample_person(f"timeline-{new_tag()}")
    customer = await _seed_person(pool, person, new_tag())
    more = [
        ChatMessageReceived(
            **_common(f"{customer}-c{n}", 10 + n, "widget"), sender=_sender(person), conversation_id="c"
        )
        for n in range(3)
    ]
    for event in more:
        await record_interaction(pool, event)
    await project(pool)
    reader = bearer(api_keys.issue(roles=["service_account"]))
    url = f"/v1/customers/{customer}/timeline"
    async with api_client(database, blob_dir=blob_dir) as client:
        chats = await _ok(await client.get(url, params={"channel": "chat", "limit": "3"}, headers=reader))
        rest = await _ok(
            await client.get(
                url, params={"channel": "chat", "limit": "3", "cursor": chats["next_cursor"]}, headers=reader
            )
        )
        pos = await _ok(
            await client.get(url, params=[("channel", "pos"), ("channel", "voice")], headers=reader)
        )
        refunds = await _ok(await client.get(url, params={"type": "interaction.pos.refund"}, headers=reader))
        mail_as_pos = await _ok(
            await client.get(
                url, params={"channel": "pos", "type": "interaction.email.received"}, headers=reader
            )
        )
        bad_type = await client.get(url, params={"type": "customer.attribute.set"}, headers=reader)
        bad_channel = await client.get(url, params={"channel": "fax"}, headers=reader)

    assert [i["channel"] for i in chats["items"]] == ["chat"] * 3 and chats["next_cursor"] is not None
    assert [i["channel"] for i in rest["items"]] == ["chat"] and rest["next_cursor"] is None
    assert [i["event_id"] for i in chats["items"] + rest["items"]][:3] == [
        str(e.event_id) for e in reversed(more)
    ]
    assert sorted(i["event_type"] for i in pos["items"]) == [
        "interaction.pos.purchase",
        "interaction.pos.refund",
        "interaction.voice.call",
    ]
    assert [i["event_type"] for i in refunds["items"]] == ["interaction.pos.refund"]
    assert mail_as_pos["items"] == []
    assert (bad_type.status_code, bad_type.json()["error"]["code"]) == (422, "invalid_event_type")
    assert bad_channel.status_code == 422


# --- rebuild ------------------------------------------------------------------------------------------


async def test_a_rebuild_of_the_card_projection_from_the_log_equals_the_live_cards(
    database: str, fresh_database: str, pool: AsyncConnectionPool[Conn], api_keys: KeyIssuer, blob_dir: Path
) -> None:
    tag = new_tag()
    first = await _seed_person(pool, samples.sample_person(f"rebuild-a-{tag}"), f"{tag}-a")
    await project(pool)  # live: the projection follows as the history grows
    second = await _seed_person(pool, samples.sample_person(f"rebuild-b-{tag}"), f"{tag}-b")
    rep = bearer(api_keys.issue(roles=["sales_rep"], principal_id="alice", team="north"))
    async with api_client(database, blob_dir=blob_dir) as client:
        for customer, name in ((first, "Zoë Rebuild"), (second, "Ada Rebuild")):
            url = f"/v1/customers/{customer}"
            await _ok(await client.put(f"{url}/attributes/name", json={"value": name}, headers=rep))
            await project(pool)
            await _ok(await client.put(f"{url}/attributes/preferences", json={"value": ["tea"]}, headers=rep))
            await _ok(await client.delete(f"{url}/attributes/preferences", headers=rep))
            await _ok(await client.post(f"{url}/documents", content=PDF, headers=rep), 201)
    await project(pool)
    copy_log(database, fresh_database)

    async with AsyncConnectionPool[Conn](fresh_database, min_size=1, max_size=2) as fresh:
        await project(fresh)

    live, rebuilt = card_read_model(database), card_read_model(fresh_database)
    assert rebuilt == live
    cards = {row[0]: row[1] for row in live["cards"]}
    assert cards[first]["profile"]["name"] == "Zoë Rebuild"
    assert len(cards[second]["attribute_history"]["preferences"]) == 2
    assert cards[second]["document_count"] == 4
    assert (first, "zoe") in live["search"]
