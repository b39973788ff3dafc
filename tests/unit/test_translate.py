"""Pure translation of provider webhooks into contract events: identities, ids, money, errors."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from functools import partial
from typing import TypedDict

import pytest

from contracts import (
    ChatMessageReceived,
    EmailReceived,
    Identity,
    IdentityKind,
    InteractionEvent,
    Money,
    PurchaseRecorded,
    SocialMessageReceived,
    event_id_for,
)
from hub.samples import (
    SamplePerson,
    chat_message,
    email_message,
    sample_person,
    shopify_order,
    whatsapp_message,
)
from services.ingress.errors import InvalidPayload
from services.ingress.translate import (
    TRANSLATORS,
    translate_chat,
    translate_email,
    translate_shopify,
    translate_whatsapp,
)

pytestmark = pytest.mark.unit

RECEIVED_AT = datetime(2025, 6, 9, 12, 0, 0, tzinfo=UTC)


class Context(TypedDict):
    received_at: datetime
    correlation_id: str
    default_region: str


CONTEXT = Context(received_at=RECEIVED_AT, correlation_id="corr-1", default_region="US")
SENT_AT = datetime(2025, 6, 9, 11, 59, 30, tzinfo=UTC)


@pytest.fixture
def person() -> SamplePerson:
    return sample_person(7)


def plain(kind: IdentityKind, value: str) -> Identity:
    """An email or phone identity, already in normal form."""
    return Identity(kind=kind, value=value)


def handle(provider: str, value: str) -> Identity:
    return Identity(kind=IdentityKind.HANDLE, value=value, provider=provider)


def as_json(document: object) -> bytes:
    return json.dumps(document).encode()


# --- samples ------------------------------------------------------------------------------------


def test_sample_people_are_stable_per_seed_and_unique_across_seeds() -> None:
    assert sample_person("alice") == sample_person("alice")
    people = [sample_person(seed) for seed in range(500)]
    for attribute in ("email", "phone", "visitor_id", "wa_id", "shopify_customer_id"):
        assert len({getattr(p, attribute) for p in people}) == len(people), attribute


def test_one_sample_persons_four_webhooks_share_the_identities_that_link_them(person: SamplePerson) -> None:
    mail = translate_email(email_message(person, "m1@example.com", "Hi", "Hello"), **CONTEXT)[0]
    chat = translate_chat(chat_message(person, "c1", "Hello"), **CONTEXT)[0]
    wa = translate_whatsapp(whatsapp_message(person, "wamid.A1", "Hello"), **CONTEXT)[0]
    order = translate_shopify(shopify_order(person, 42, [("MUG", "Mug", 1, "9.50")]), **CONTEXT)[0]
    email_identity = plain(IdentityKind.EMAIL, person.email)
    phone_identity = plain(IdentityKind.PHONE, person.phone)
    assert email_identity in mail.sender.identities and email_identity in chat.sender.identities
    assert phone_identity in wa.sender.identities and phone_identity in order.sender.identities


# --- email (our MTA) ----------------------------------------------------------------------------


def test_email_sample_becomes_one_email_received_with_sender_recipients_and_attachment(
    person: SamplePerson,
) -> None:
    raw = email_message(
        person, "abc-123@mail.example.com", "Where is my order?", "Hi,\n\n  it is late.", sent_at=SENT_AT
    )

    [event] = translate_email(raw, **CONTEXT)

    assert isinstance(event, EmailReceived)
    assert event.provider == "mta"
    assert event.provider_message_id == "<abc-123@mail.example.com>"
    assert event.message_id == "<abc-123@mail.example.com>"
    assert event.event_id == event_id_for("mta", "<abc-123@mail.example.com>")
    assert event.sender.identities == (plain(IdentityKind.EMAIL, person.email),)
    assert event.sender.display_name == person.name
    assert event.subject == "Where is my order?"
    assert event.to == ("support@shop.example.com",)
    assert event.summary == "Hi, it is late."
    assert event.occurred_at == SENT_AT
    assert event.received_at == RECEIVED_AT
    assert event.correlation_id == "corr-1"
    [attachment] = event.attachments
    assert (attachment.filename, attachment.content_type) == ("order-question.csv", "text/csv")
    assert attachment.size_bytes == len(b"sku,quantity\nMUG-BLUE,1\n")


RAW_HTML_REPLY = b"""\
Return-Path: <Jane.Doe@Example.ORG>
From: "Doe, Jane" <Jane.Doe@Example.ORG>
To: Support <Support@Shop.Example.com>, sales@shop.example.com
Cc: Boss <BOSS@example.org>, undisclosed-recipients:;
Subject: =?utf-8?q?Re=3A_Invoice_=E2=84=96_42?=
Date: Mon, 09 Jun 2025 13:15:00 +0200
Message-ID: <CAF=reply.42@mail.example.org>
In-Reply-To: <original.41@shop.example.com>
MIME-Version: 1.0
Content-Type: text/html; charset="utf-8"
Content-Transfer-Encoding: quoted-printable

<html><head><style>p {color: red}</style></head><body><p>Thanks &amp; =
regards,</p>
<p>see   <b>attached</b></p></body></html>
"""


def test_html_only_email_is_summarised_as_text_with_tags_and_styles_removed() -> None:
    [event] = translate_email(RAW_HTML_REPLY, **CONTEXT)

    assert event.summary == "Thanks & regards, see attached"
    assert event.sender.identities == (plain(IdentityKind.EMAIL, "jane.doe@example.org"),)
    assert event.sender.display_name == "Doe, Jane"
    assert event.subject == "Re: Invoice № 42"
    assert event.to == ("support@shop.example.com", "sales@shop.example.com")
    assert event.cc == ("boss@example.org",)
    assert event.in_reply_to == "<original.41@shop.example.com>"
    assert event.occurred_at == datetime(2025, 6, 9, 11, 15, tzinfo=UTC)
    assert event.attachments == ()


def test_email_summary_is_cut_to_two_hundred_characters(person: SamplePerson) -> None:
    [event] = translate_email(email_message(person, "long@x.example", "Long", "word " * 300), **CONTEXT)
    assert len(event.summary) == 200


@pytest.mark.parametrize(
    "date_header",
    [None, "Date: not a date at all", "Date: Mon, 09 Jun 2025 13:15:00 -0000"],
    ids=["absent", "garbage", "no-offset"],
)
def test_email_without_a_usable_date_occurred_when_it_was_received(date_header: str | None) -> None:
    lines = [line for line in RAW_HTML_REPLY.split(b"\n") if not line.startswith(b"Date:")]
    if date_header is not None:
        lines.insert(0, date_header.encode())
    [event] = translate_email(b"\n".join(lines), **CONTEXT)
    assert event.occurred_at == RECEIVED_AT


def test_email_without_message_id_is_refused_naming_the_header_and_not_the_sender() -> None:
    raw = b"\n".join(line for line in RAW_HTML_REPLY.split(b"\n") if not line.startswith(b"Message-ID"))
    with pytest.raises(InvalidPayload, match="header Message-ID is missing") as caught:
        translate_email(raw, **CONTEXT)
    assert "jane" not in str(caught.value).lower()


def test_email_without_a_from_address_is_refused_naming_the_header() -> None:
    raw = b"\n".join(line for line in RAW_HTML_REPLY.split(b"\n") if not line.startswith(b"From:"))
    with pytest.raises(InvalidPayload, match="header From is missing"):
        translate_email(raw, **CONTEXT)


# --- chat widget --------------------------------------------------------------------------------


def test_chat_sample_becomes_a_chat_message_with_the_widget_handle_and_email(person: SamplePerson) -> None:
    [event] = translate_chat(
        chat_message(person, "msg-1", "Do you ship to Canada?", sent_at=SENT_AT), **CONTEXT
    )

    assert isinstance(event, ChatMessageReceived)
    assert event.provider == "widget"
    assert event.event_id == event_id_for("widget", "msg-1")
    assert event.sender.identities == (
        handle("widget", person.visitor_id),
        plain(IdentityKind.EMAIL, person.email),
    )
    assert event.sender.display_name == person.name
    assert event.conversation_id == f"conv_{person.visitor_id}"
    assert event.summary == "Do you ship to Canada?"
    assert event.occurred_at == SENT_AT


CHAT_LITERAL = {
    "message_id": "9f1c2a7e-5b0d-4e8e-9d3a-0c6c2f4b1e11",
    "conversation_id": "conv-20250609-0042",
    "sent_at": "2025-06-09T14:05:09.120+02:00",
    "text": "Hi! Is the blue mug\n\nback in stock?",
    "visitor": {
        "visitor_id": "v_8c1d",
        "email": "  Sam@Example.COM ",
        "phone": "(415) 555-0134",
        "name": "Sam",
    },
}


def test_chat_literal_payload_normalises_email_and_reads_a_local_phone_in_the_default_region() -> None:
    [event] = translate_chat(as_json(CHAT_LITERAL), **CONTEXT)

    assert event.sender.identities == (
        handle("widget", "v_8c1d"),
        plain(IdentityKind.EMAIL, "sam@example.com"),
        plain(IdentityKind.PHONE, "+14155550134"),
    )
    assert event.occurred_at == datetime(2025, 6, 9, 12, 5, 9, 120000, tzinfo=UTC)
    assert event.summary == "Hi! Is the blue mug back in stock?"


def test_chat_visitor_email_that_is_not_an_address_is_dropped_and_the_handle_kept() -> None:
    payload = {**CHAT_LITERAL, "visitor": {"visitor_id": "v_8c1d", "email": "sam at example"}}
    [event] = translate_chat(as_json(payload), **CONTEXT)
    assert event.sender.identities == (handle("widget", "v_8c1d"),)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({k: v for k, v in CHAT_LITERAL.items() if k != "message_id"}, "field message_id is missing"),
        ({**CHAT_LITERAL, "visitor": {"email": "sam@example.com"}}, "field visitor.visitor_id is missing"),
        ({**CHAT_LITERAL, "sent_at": "2025-06-09T14:05:09"}, "field sent_at must include a UTC offset"),
        ({**CHAT_LITERAL, "sent_at": "yesterday"}, "field sent_at must be an ISO 8601 timestamp"),
        ({**CHAT_LITERAL, "text": 42}, "field text must be a string"),
        ({**CHAT_LITERAL, "visitor": "v_8c1d"}, "field visitor must be an object"),
    ],
)
def test_chat_payload_with_a_missing_or_bad_field_is_refused_naming_it(payload: object, message: str) -> None:
    with pytest.raises(InvalidPayload, match=f"^{message}$"):
        translate_chat(as_json(payload), **CONTEXT)


def test_body_that_is_not_json_is_refused() -> None:
    with pytest.raises(InvalidPayload, match="not valid JSON"):
        translate_chat(b"\xff{not json", **CONTEXT)


# --- WhatsApp Cloud API -------------------------------------------------------------------------

# The text-message example of Meta's "messages" webhook reference.
WHATSAPP_DOCS_TEXT = b"""{
  "object": "whatsapp_business_account",
  "entry": [
    {
      "id": "102290129340398",
      "changes": [
        {
          "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}],
            "messages": [
              {
                "from": "16505551234",
                "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
                "timestamp": "1749416383",
                "type": "text",
                "text": {"body": "Does it come in another color?"}
              }
            ]
          },
          "field": "messages"
        }
      ]
    }
  ]
}"""


def test_whatsapp_docs_text_message_becomes_one_social_message_from_the_senders_phone() -> None:
    [event] = translate_whatsapp(WHATSAPP_DOCS_TEXT, **CONTEXT)

    assert isinstance(event, SocialMessageReceived)
    wamid = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
    assert (event.provider, event.network, event.provider_message_id) == ("meta_whatsapp", "whatsapp", wamid)
    assert event.event_id == event_id_for("meta_whatsapp", wamid)
    assert event.sender.identities == (
        plain(IdentityKind.PHONE, "+16505551234"),
        handle("whatsapp", "16505551234"),
    )
    assert event.sender.display_name == "Sheena Nelson"
    assert event.conversation_id == "16505551234"
    assert event.summary == "Does it come in another color?"
    assert event.occurred_at == datetime.fromtimestamp(1749416383, UTC)


def whatsapp_change(contacts: list[tuple[str, str]], messages: list[dict[str, object]]) -> dict[str, object]:
    return {
        "field": "messages",
        "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": name}, "wa_id": wa_id} for wa_id, name in contacts],
            "messages": messages,
        },
    }


def wa_text(wa_id: str, wamid: str, body: str) -> dict[str, object]:
    return {"from": wa_id, "id": wamid, "timestamp": "1749416383", "type": "text", "text": {"body": body}}


def wa_image(wa_id: str, wamid: str) -> dict[str, object]:
    image = {"caption": "this one", "mime_type": "image/jpeg", "sha256": "abc=", "id": "1003383421387256"}
    return {"from": wa_id, "id": wamid, "timestamp": "1749416390", "type": "image", "image": image}


BATCH = {
    "object": "whatsapp_business_account",
    "entry": [
        {
            "id": "102290129340398",
            "changes": [
                whatsapp_change(
                    [("16505551234", "Sheena Nelson"), ("447700900123", "Ravi")],
                    [wa_text("16505551234", "wamid.A", "first"), wa_image("447700900123", "wamid.B")],
                )
            ],
        },
        {
            "id": "102290129340399",
            "changes": [
                whatsapp_change(
                    [("16505551234", "Sheena Nelson")],
                    [wa_text("16505551234", "wamid.C", "second"), wa_text("16505551234", "wamid.D", "third")],
                )
            ],
        },
    ],
}


def test_whatsapp_batch_of_two_entries_gives_each_message_its_own_event_in_order() -> None:
    events = translate_whatsapp(as_json(BATCH), **CONTEXT)

    assert [e.provider_message_id for e in events] == ["wamid.A", "wamid.B", "wamid.C", "wamid.D"]
    assert len({e.event_id for e in events}) == 4
    assert [e.summary for e in events] == ["first", "[image]", "second", "third"]
    assert [e.sender.display_name for e in events] == [
        "Sheena Nelson",
        "Ravi",
        "Sheena Nelson",
        "Sheena Nelson",
    ]
    assert events[1].sender.identities[0] == plain(IdentityKind.PHONE, "+447700900123")
    assert events[1].conversation_id == "447700900123"


WHATSAPP_STATUSES_ONLY = {
    "object": "whatsapp_business_account",
    "entry": [
        {
            "id": "102290129340398",
            "changes": [
                {
                    "field": "messages",
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {
                            "display_phone_number": "15550783881",
                            "phone_number_id": "106540352242922",
                        },
                        "statuses": [
                            {
                                "id": "wamid.HBgLMTY0NzM4NzQ0NjYVAgARGBI3MUE3RjQ5NEIzRkM0MkQ2NjQA",
                                "status": "delivered",
                                "timestamp": "1750030073",
                                "recipient_id": "16505551234",
                                "pricing": {"billable": True, "pricing_model": "PMP", "category": "utility"},
                            }
                        ],
                    },
                }
            ],
        }
    ],
}


def test_whatsapp_payload_with_only_status_updates_gives_no_events() -> None:
    assert translate_whatsapp(as_json(WHATSAPP_STATUSES_ONLY), **CONTEXT) == []


def test_whatsapp_changes_for_other_subscription_fields_give_no_events() -> None:
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {"id": "1", "changes": [{"field": "account_update", "value": {"event": "VERIFIED_ACCOUNT"}}]}
        ],
    }
    assert translate_whatsapp(as_json(payload), **CONTEXT) == []


def test_whatsapp_sender_whose_number_is_not_a_possible_phone_keeps_the_whatsapp_handle() -> None:
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [whatsapp_change([], [wa_text("123", "wamid.X", "hi")])]}],
    }
    [event] = translate_whatsapp(as_json(payload), **CONTEXT)
    assert event.sender.identities == (handle("whatsapp", "123"),)
    assert event.sender.display_name is None


def test_whatsapp_message_without_a_sender_is_refused_naming_its_exact_position() -> None:
    broken = json.loads(json.dumps(BATCH))
    del broken["entry"][0]["changes"][0]["value"]["messages"][1]["from"]
    with pytest.raises(
        InvalidPayload, match=r"^field entry\[0\]\.changes\[0\]\.value\.messages\[1\]\.from is missing$"
    ):
        translate_whatsapp(as_json(broken), **CONTEXT)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda m: m.update(timestamp="soon"), r"messages\[0\]\.timestamp must be unix seconds"),
        (lambda m: m.pop("text"), r"messages\[0\]\.text is missing"),
        (lambda m: m.pop("id"), r"messages\[0\]\.id is missing"),
    ],
)
def test_whatsapp_message_with_a_bad_field_is_refused_naming_it(
    mutate: Callable[[dict[str, object]], object], message: str
) -> None:
    message_body = wa_text("16505551234", "wamid.A", "secret words")
    mutate(message_body)
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [whatsapp_change([], [message_body])]}],
    }
    with pytest.raises(InvalidPayload, match=message) as caught:
        translate_whatsapp(as_json(payload), **CONTEXT)
    assert "secret words" not in str(caught.value) and "16505551234" not in str(caught.value)


def test_payload_for_another_meta_product_is_refused() -> None:
    with pytest.raises(InvalidPayload, match="field object must be whatsapp_business_account"):
        translate_whatsapp(as_json({"object": "page", "entry": []}), **CONTEXT)


# --- Shopify ------------------------------------------------------------------------------------


def test_shopify_sample_order_becomes_a_purchase_with_lines_total_and_payment(person: SamplePerson) -> None:
    raw = shopify_order(
        person, 820982911946154508, [("MUG-BLUE", "Blue mug", 2, "12.50"), ("TEA", "Tea", 1, "4.00")]
    )

    [event] = translate_shopify(raw, **CONTEXT)

    assert isinstance(event, PurchaseRecorded)
    assert event.provider == "shopify"
    assert event.provider_message_id == event.order_id == "820982911946154508"
    assert event.event_id == event_id_for("shopify", "820982911946154508")
    assert event.sender.identities == (
        plain(IdentityKind.EMAIL, person.email),
        plain(IdentityKind.PHONE, person.phone),
        Identity(kind=IdentityKind.EXTERNAL, value=str(person.shopify_customer_id), provider="shopify"),
        Identity(kind=IdentityKind.EXTERNAL, value="820982911946154508", provider="shopify_order"),
    )
    assert event.sender.display_name == person.name
    assert [(line.sku, line.name, line.quantity) for line in event.lines] == [
        ("MUG-BLUE", "Blue mug", Decimal(2)),
        ("TEA", "Tea", Decimal(1)),
    ]
    assert event.lines[0].total == Money(amount=Decimal("25.00"), currency="USD")
    assert event.total == Money(amount=Decimal("29.00"), currency="USD")
    [payment] = event.payments
    assert (payment.method, payment.status, payment.amount) == ("shopify_payments", "paid", event.total)


def test_shopify_money_is_exact_decimal_never_float(person: SamplePerson) -> None:
    lines = [("A", "Apple", 1, "19.99"), ("B", "Banana", 1, "19.99"), ("C", "Cherry", 3, "19.99")]
    [event] = translate_shopify(shopify_order(person, 1, lines, currency="EUR"), **CONTEXT)

    assert [line.total.amount for line in event.lines] == [
        Decimal("19.99"),
        Decimal("19.99"),
        Decimal("59.97"),
    ]
    assert event.total == Money(amount=Decimal("99.95"), currency="EUR")
    assert sum(line.total.amount for line in event.lines) == event.total.amount
    assert all(isinstance(line.unit_price.amount, Decimal) for line in event.lines)


# A Shopify POS sale shaped like the orders/create example in Shopify's webhook reference: no email,
# a phone typed without country code, a gateway-less cash payment and a null SKU.
SHOPIFY_POS_LITERAL = b"""{
  "id": 450789469,
  "admin_graphql_api_id": "gid://shopify/Order/450789469",
  "name": "#1001",
  "email": null,
  "phone": null,
  "created_at": "2025-06-09T08:30:00-04:00",
  "currency": "CAD",
  "presentment_currency": "CAD",
  "subtotal_price": "597.00",
  "total_price": "674.61",
  "total_tax": "77.61",
  "financial_status": "paid",
  "gateway": null,
  "payment_gateway_names": [],
  "source_name": "pos",
  "location_id": 655441491,
  "customer": {
    "id": 207119551,
    "email": null,
    "phone": "(604) 555-0182",
    "first_name": "Bob",
    "last_name": "Norman"
  },
  "line_items": [
    {"id": 466157049, "sku": "IPOD2008GREEN", "title": "IPod Nano - 8gb", "quantity": 1, "price": "199.00"},
    {"id": 518995019, "sku": null, "title": "Gift wrap", "quantity": 2, "price": 199.00}
  ]
}"""


def test_shopify_pos_literal_order_links_the_customer_by_phone_and_shop_id() -> None:
    [event] = translate_shopify(SHOPIFY_POS_LITERAL, **CONTEXT)

    assert event.sender.identities == (
        plain(IdentityKind.PHONE, "+16045550182"),
        Identity(kind=IdentityKind.EXTERNAL, value="207119551", provider="shopify"),
        Identity(kind=IdentityKind.EXTERNAL, value="450789469", provider="shopify_order"),
    )
    assert event.sender.display_name == "Bob Norman"
    assert event.occurred_at == datetime(2025, 6, 9, 8, 30, tzinfo=timezone(timedelta(hours=-4)))
    assert event.lines[1].sku is None
    assert event.lines[1].total == Money(amount=Decimal("398.00"), currency="CAD")
    assert event.total == Money(amount=Decimal("674.61"), currency="CAD")
    assert event.payments[0].method == "unknown"
    assert event.summary == "#1001 (pos): 1 x IPod Nano - 8gb, 2 x Gift wrap"


def shopify_literal(**changes: object) -> dict[str, object]:
    order: dict[str, object] = json.loads(SHOPIFY_POS_LITERAL)
    order.update(changes)
    return order


def _discounted_shopify_order() -> dict[str, object]:
    """The POS literal with a 10% code on its first line, as Shopify reports a discount."""
    order = shopify_literal(
        total_discounts="19.90",
        discount_codes=[{"code": "SPRING10", "amount": "19.90", "type": "percentage"}],
    )
    items: list[dict[str, object]] = order["line_items"]  # type: ignore[assignment]
    items[0]["discount_allocations"] = [{"amount": "19.90", "discount_application_index": 0}]
    items[1]["discount_allocations"] = []
    return order


def test_shopify_discounts_are_carried_so_the_order_counts_as_discounted() -> None:
    [event] = translate_shopify(as_json(_discounted_shopify_order()), **CONTEXT)

    cad = partial(Money, currency="CAD")
    assert (event.discount, event.discount_codes) == (cad(amount=Decimal("19.90")), ("SPRING10",))
    assert [(line.total, line.discount) for line in event.lines] == [
        (cad(amount=Decimal("179.10")), cad(amount=Decimal("19.90"))),
        (cad(amount=Decimal("398.00")), cad(amount=Decimal(0))),
    ]
    assert event.discounted


def test_a_shopify_order_without_discount_fields_is_not_discounted_and_says_nothing_of_it() -> None:
    [event] = translate_shopify(SHOPIFY_POS_LITERAL, **CONTEXT)

    assert (event.discount, event.discount_codes, event.lines[0].discount) == (None, (), None)
    assert not event.discounted


def test_shopify_guest_order_without_a_customer_is_attributed_by_its_email() -> None:
    [event] = translate_shopify(as_json(shopify_literal(customer=None, email="Guest@Example.com")), **CONTEXT)
    assert event.sender.identities == (
        plain(IdentityKind.EMAIL, "guest@example.com"),
        Identity(kind=IdentityKind.EXTERNAL, value="450789469", provider="shopify_order"),
    )
    assert event.sender.display_name is None


def test_shopify_falls_back_to_the_deprecated_gateway_field_for_the_payment_method() -> None:
    [event] = translate_shopify(as_json(shopify_literal(gateway="cash")), **CONTEXT)
    assert event.payments[0].method == "cash"


def test_shopify_order_with_no_usable_identity_is_refused_naming_what_failed() -> None:
    payload = shopify_literal(customer=None, email="not-an-email")
    with pytest.raises(
        InvalidPayload, match="no usable sender identity: field email is not a valid email"
    ) as caught:
        translate_shopify(as_json(payload), **CONTEXT)
    assert "not-an-email" not in str(caught.value)


def test_shopify_bad_email_is_dropped_when_a_phone_remains() -> None:
    [event] = translate_shopify(as_json(shopify_literal(email="nope")), **CONTEXT)
    assert [identity.kind for identity in event.sender.identities] == [
        IdentityKind.PHONE,
        IdentityKind.EXTERNAL,
        IdentityKind.EXTERNAL,  # the order's own identity, for its refunds
    ]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"id": None}, r"^field id is missing$"),
        ({"currency": None}, r"^field currency is missing$"),
        ({"total_price": "lots"}, r"^field total_price must be a decimal number$"),
        ({"created_at": "2025-06-09T08:30:00"}, r"^field created_at must include a UTC offset$"),
        ({"line_items": []}, r"^field line_items is empty$"),
        ({"line_items": [{"title": "Mug", "quantity": 1}]}, r"^field line_items\[0\]\.price is missing$"),
        (
            {"line_items": [{"title": "Mug", "quantity": 0, "price": "1"}]},
            r"line_items\[0\]\.quantity must be positive",
        ),
        (
            {"line_items": [{"title": "Mug", "quantity": 1, "price": "1.00001"}]},
            r"field line_items\[0\]\.price",
        ),
        ({"currency": "dollars"}, r"currency"),
    ],
)
def test_shopify_order_with_a_missing_or_bad_field_is_refused_naming_it(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidPayload, match=message):
        translate_shopify(as_json(shopify_literal(**changes)), **CONTEXT)


# --- every translator -----------------------------------------------------------------------------

SAMPLES: dict[str, Callable[[SamplePerson], bytes]] = {
    "mta": lambda p: email_message(p, "same@example.com", "Hi", "Hello", sent_at=SENT_AT),
    "widget": lambda p: chat_message(p, "same-chat", "Hello", sent_at=SENT_AT),
    "meta_whatsapp": lambda p: whatsapp_message(p, "wamid.same", "Hello", sent_at=SENT_AT),
    "shopify": lambda p: shopify_order(p, 99, [("X", "Thing", 1, "1.00")], created_at=SENT_AT),
}


@pytest.mark.parametrize("provider", sorted(SAMPLES))
def test_the_same_payload_translated_twice_gets_the_same_event_ids(
    provider: str, person: SamplePerson
) -> None:
    raw = SAMPLES[provider](person)
    translate = TRANSLATORS[provider]
    later = Context(
        received_at=RECEIVED_AT + timedelta(hours=1), correlation_id="corr-2", default_region="US"
    )

    first: Sequence[InteractionEvent] = translate(raw, **CONTEXT)
    second: Sequence[InteractionEvent] = translate(raw, **later)

    assert [e.event_id for e in first] == [e.event_id for e in second]
    assert [e.event_id for e in first] == [event_id_for(provider, e.provider_message_id) for e in first]
    assert all(e.provider == provider for e in first)


def test_a_shopify_order_in_a_currency_iso_4217_does_not_list_is_refused_naming_the_code() -> None:
    with pytest.raises(InvalidPayload, match="currency XBT is not an ISO 4217 code"):
        translate_shopify(as_json(shopify_literal(currency="XBT")), **CONTEXT)
