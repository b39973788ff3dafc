"""Square, our tills, Shopify refunds and Twilio Voice: translation, signatures, contracts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from functools import partial
from typing import TypedDict

import pytest
from pydantic import SecretStr
from starlette.datastructures import Headers

from contracts import (
    CallRecorded,
    Channel,
    Direction,
    Identity,
    IdentityKind,
    Money,
    PurchaseRecorded,
    RefundRecorded,
    event_class,
    event_id_for,
    normalise_identity,
    parse_event,
)
from hub import samples_pos_voice as pv
from hub.samples import sample_person, shopify_order
from services.ingress.delivery import Delivery
from services.ingress.endpoints import ENDPOINTS
from services.ingress.errors import IgnoredDelivery, InvalidPayload, InvalidSignature, UnsupportedEventType
from services.ingress.providers import square as square_provider
from services.ingress.providers import till as till_provider
from services.ingress.providers import twilio as twilio_provider
from services.ingress.translate import TRANSLATORS, shopify, shopify_refunds, square, till, twilio_voice
from services.ingress.verify import sign_hex, sign_square, sign_twilio

pytestmark = pytest.mark.unit


class Context(TypedDict):
    received_at: datetime
    correlation_id: str
    default_region: str


RECEIVED_AT = datetime(2025, 6, 10, 12, 0, tzinfo=UTC)
CONTEXT = Context(received_at=RECEIVED_AT, correlation_id="corr-1", default_region="US")
RETRY = Context(received_at=RECEIVED_AT + timedelta(hours=1), correlation_id="retry", default_region="US")
PERSON = sample_person(11)


def plain(kind: IdentityKind, value: str) -> Identity:
    return normalise_identity(kind, value)


# --- Square: payment.created / payment.updated -> PurchaseRecorded -------------------------------

# Shaped like the payment.updated example of Square's webhook reference.
SQUARE_DOCS_LITERAL = b"""{
  "merchant_id": "6SSW7HV8K2ST5",
  "type": "payment.updated",
  "event_id": "6a8f5f28-54a1-4eb0-a98a-3111513fd4fc",
  "created_at": "2020-02-06T21:27:34.308Z",
  "data": {
    "type": "payment",
    "id": "hYy9pRFVxpDsO1FB05SunFWUe9JZY",
    "object": {
      "payment": {
        "amount_money": {"amount": 100, "currency": "USD"},
        "approved_money": {"amount": 100, "currency": "USD"},
        "card_details": {
          "avs_status": "AVS_ACCEPTED",
          "card": {"bin": "540988", "card_brand": "MASTERCARD", "card_type": "CREDIT",
                   "exp_month": 11, "exp_year": 2022, "last_4": "9029"},
          "card_payment_timeline": {"authorized_at": "2020-11-22T21:16:51.198Z",
                                    "captured_at": "2020-11-22T21:19:00.832Z"},
          "cvv_status": "CVV_ACCEPTED",
          "entry_method": "KEYED",
          "status": "CAPTURED"
        },
        "created_at": "2020-11-22T21:16:51.086Z",
        "customer_id": "RDX9Z4XTIZR7MRZJUXNY9HUK6I",
        "buyer_email_address": "Buyer@Example.com",
        "delay_action": "CANCEL",
        "delay_duration": "PT168H",
        "id": "hYy9pRFVxpDsO1FB05SunFWUe9JZY",
        "location_id": "S8GWD5R9QB376",
        "order_id": "03O3USaPaAaFnI6kkwB1JxGgBsUZY",
        "receipt_number": "hYy9",
        "receipt_url": "https://squareup.com/receipt/preview/hYy9pRFVxpDsO1FB05SunFWUe9JZY",
        "source_type": "CARD",
        "status": "COMPLETED",
        "total_money": {"amount": 100, "currency": "USD"},
        "updated_at": "2020-11-22T21:19:00.831Z",
        "version": 1
      }
    }
  }
}"""


def test_square_docs_completed_payment_becomes_a_purchase_of_one_line_in_exact_dollars() -> None:
    [event] = square.translate(SQUARE_DOCS_LITERAL, **CONTEXT)

    assert isinstance(event, PurchaseRecorded)
    assert event.provider == "square"
    assert event.provider_message_id == "hYy9pRFVxpDsO1FB05SunFWUe9JZY"
    assert event.event_id == event_id_for("square", "hYy9pRFVxpDsO1FB05SunFWUe9JZY")
    assert event.order_id == "03O3USaPaAaFnI6kkwB1JxGgBsUZY"
    assert event.total == Money(amount=Decimal("1.00"), currency="USD")
    assert [(line.name, line.quantity, line.total) for line in event.lines] == [
        ("Square payment", Decimal(1), Money(amount=Decimal("1.00"), currency="USD"))
    ]
    assert event.sender.identities == (
        plain(IdentityKind.EMAIL, "buyer@example.com"),
        Identity(kind=IdentityKind.EXTERNAL, value="RDX9Z4XTIZR7MRZJUXNY9HUK6I", provider="square"),
        Identity(
            kind=IdentityKind.EXTERNAL, value="hYy9pRFVxpDsO1FB05SunFWUe9JZY", provider="square_payment"
        ),
    )
    assert [(p.method, p.status) for p in event.payments] == [("card (MASTERCARD)", "COMPLETED")]
    assert event.occurred_at == datetime(2020, 11, 22, 21, 16, 51, 86000, tzinfo=UTC)
    assert event.summary == "Square payment, receipt hYy9"


def test_square_created_and_updated_notifications_of_one_payment_are_one_event() -> None:
    created = pv.square_payment(PERSON, "pay-1", 4250, event_type="payment.created")
    updated = pv.square_payment(PERSON, "pay-1", 4250, event_type="payment.updated")

    [first] = square.translate(created, **CONTEXT)
    [second] = square.translate(updated, **CONTEXT)

    assert json.loads(created)["event_id"] != json.loads(updated)["event_id"]  # Square's own ids differ
    assert first.event_id == second.event_id == event_id_for("square", "pay-1")


def test_square_total_includes_the_tip_and_keeps_minor_units_exact() -> None:
    [event] = square.translate(pv.square_payment(PERSON, "pay-2", 1999, tip_minor=300), **CONTEXT)
    assert isinstance(event, PurchaseRecorded)
    assert event.total == Money(amount=Decimal("22.99"), currency="USD")


def test_square_yen_have_no_minor_unit_so_1500_is_1500_yen() -> None:
    [event] = square.translate(pv.square_payment(PERSON, "pay-3", 1500, "JPY"), **CONTEXT)
    assert isinstance(event, PurchaseRecorded)
    assert event.total == Money(amount=Decimal("1500"), currency="JPY")
    assert event.lines[0].unit_price.amount == Decimal(1500)


@pytest.mark.parametrize(
    ("minor", "currency", "amount"),
    [
        (1, "USD", "0.01"),
        (1999, "EUR", "19.99"),
        (1999, "JPY", "1999"),
        (1999, "KRW", "1999"),
        (1999, "KWD", "1.999"),
    ],
)
def test_square_minor_units_use_the_currencys_exponent(minor: int, currency: str, amount: str) -> None:
    assert square.minor_to_decimal(minor, currency) == Decimal(amount)


@pytest.mark.parametrize("status", ["APPROVED", "PENDING", "CANCELED", "FAILED"])
def test_square_payment_that_is_not_completed_is_ignored_with_its_status(status: str) -> None:
    with pytest.raises(IgnoredDelivery, match=f"status {status.lower()} is not a completed purchase"):
        square.translate(pv.square_payment(PERSON, "pay-4", 100, status=status), **CONTEXT)


def test_square_event_of_another_type_is_unsupported() -> None:
    raw = SQUARE_DOCS_LITERAL.replace(b'"payment.updated"', b'"invoice.created"')
    with pytest.raises(UnsupportedEventType, match="field type"):
        square.translate(raw, **CONTEXT)


# --- Square: refund.created / refund.updated -> RefundRecorded; order.* ignored ---------------------

# The refund.updated example of Square's webhook reference.
SQUARE_REFUND_DOCS_LITERAL = b"""{
  "merchant_id": "6SSW7HV8K2ST5",
  "type": "refund.updated",
  "event_id": "bc316346-6691-4243-88ed-6d651a0d0c47",
  "created_at": "2020-02-06T22:14:16.421Z",
  "data": {
    "type": "refund",
    "id": "KkAkhdMsgzn59SM8A89WgKwekxLZY_ptNBVqHYxt5gAdfcobBe4u1AZsXhoz06KTtuq9Ls24P",
    "object": {
      "refund": {
        "id": "KkAkhdMsgzn59SM8A89WgKwekxLZY_ptNBVqHYxt5gAdfcobBe4u1AZsXhoz06KTtuq9Ls24P",
        "created_at": "2020-02-06T21:27:41.836Z",
        "updated_at": "2020-02-06T22:14:16.381Z",
        "amount_money": {"amount": 1000, "currency": "USD"},
        "status": "COMPLETED",
        "processing_fee": [
          {"effective_at": "2020-02-06T23:27:31.000Z", "type": "INITIAL",
           "amount_money": {"amount": -59, "currency": "USD"}}
        ],
        "location_id": "NAQ1FHV6ZJ8YV",
        "order_id": "haOyDuHiqtAXMk0d8pDKXpL7Jg4F",
        "payment_id": "KkAkhdMsgzn59SM8A89WgKwekxLZY",
        "version": 10
      }
    }
  }
}"""
DOCS_REFUND_ID = "KkAkhdMsgzn59SM8A89WgKwekxLZY_ptNBVqHYxt5gAdfcobBe4u1AZsXhoz06KTtuq9Ls24P"


def test_square_docs_completed_refund_is_a_refund_linked_to_its_payment() -> None:
    [event] = square.translate(SQUARE_REFUND_DOCS_LITERAL, **CONTEXT)

    assert isinstance(event, RefundRecorded)
    assert event.provider == "square"
    assert event.provider_message_id == f"refund:{DOCS_REFUND_ID}"
    assert event.event_id == event_id_for("square", f"refund:{DOCS_REFUND_ID}")
    assert event.refund_id == DOCS_REFUND_ID
    assert event.order_id == "KkAkhdMsgzn59SM8A89WgKwekxLZY"  # the payment: the purchase's message id
    assert event.payment_id == "KkAkhdMsgzn59SM8A89WgKwekxLZY"
    assert event.amount == Money(amount=Decimal("10.00"), currency="USD")
    assert event.sender.identities == (
        Identity(
            kind=IdentityKind.EXTERNAL, value="KkAkhdMsgzn59SM8A89WgKwekxLZY", provider="square_payment"
        ),
    )
    assert event.occurred_at == datetime(2020, 2, 6, 21, 27, 41, 836000, tzinfo=UTC)
    assert (event.reason, event.lines) == (None, ())
    assert event.summary == "Refund on square payment KkAkhdMsgzn59SM8A89WgKwekxLZY"


def test_square_refund_lands_where_the_purchase_of_its_payment_did() -> None:
    [purchase] = square.translate(pv.square_payment(PERSON, "pay-9", 4250), **CONTEXT)
    [refund] = square.translate(pv.square_refund("pay-9", "pay-9_r1", 1250), **CONTEXT)

    assert set(refund.sender.identities) <= set(purchase.sender.identities)
    assert isinstance(refund, RefundRecorded)
    assert refund.order_id == purchase.provider_message_id == "pay-9"
    assert refund.amount == Money(amount=Decimal("12.50"), currency="USD")
    assert refund.reason == "Returned goods"


def test_square_created_and_updated_notifications_of_one_refund_are_one_event() -> None:
    created = pv.square_refund("pay-9", "pay-9_r1", 1250, event_type="refund.created")
    updated = pv.square_refund("pay-9", "pay-9_r1", 1250, event_type="refund.updated")

    [first] = square.translate(created, **CONTEXT)
    [again] = square.translate(created, **RETRY)
    [second] = square.translate(updated, **CONTEXT)

    assert first.event_id == again.event_id == second.event_id == event_id_for("square", "refund:pay-9_r1")


@pytest.mark.parametrize("status", ["PENDING", "REJECTED", "FAILED"])
def test_square_refund_that_is_not_completed_is_ignored_with_its_status(status: str) -> None:
    raw = pv.square_refund("pay-9", "pay-9_r2", 100, status=status, event_type="refund.created")
    with pytest.raises(
        IgnoredDelivery, match=f"^square refund status {status.lower()} is not money given back$"
    ):
        square.translate(raw, **CONTEXT)


def test_square_refund_without_its_payment_is_refused_naming_the_field() -> None:
    raw = SQUARE_REFUND_DOCS_LITERAL.replace(b'"payment_id"', b'"source_payment"')
    with pytest.raises(InvalidPayload, match=r"^field data\.object\.refund\.payment_id is missing$"):
        square.translate(raw, **CONTEXT)


@pytest.mark.parametrize("kind", ["order.created", "order.updated", "order.fulfillment.updated"])
def test_square_order_notifications_are_acknowledged_and_ignored_with_the_reason(kind: str) -> None:
    raw = pv.square_order("ord_7Tn3CzUe8yWz", "OPEN", event_type=kind)
    with pytest.raises(IgnoredDelivery, match=f"^square {kind} carries no lines or buyer"):
        square.translate(raw, **CONTEXT)


def test_square_amount_that_is_not_an_integer_of_minor_units_is_refused_naming_it() -> None:
    raw = SQUARE_DOCS_LITERAL.replace(b'"total_money": {"amount": 100', b'"total_money": {"amount": "1.00"')
    with pytest.raises(
        InvalidPayload, match=r"^field data\.object\.payment\.total_money\.amount must be an integer"
    ):
        square.translate(raw, **CONTEXT)


# --- Our tills: receipts -> PurchaseRecorded ------------------------------------------------------

ITEMS = [
    pv.TillItem("JKT-BLU-M", "Blue jacket", 1, "129.90", discount="13.00"),
    pv.TillItem("SCF-RED", "Scarf", 2, "19.95"),
    pv.TillItem("SOCK-3", "Socks", 3, "4.50", discount="1.50"),
]


def test_till_receipt_becomes_a_purchase_with_discounted_lines_loyalty_card_and_phone() -> None:
    raw = pv.till_receipt(PERSON, "R-0001", ITEMS, tax="12.00")

    [event] = till.translate(raw, **CONTEXT)

    assert isinstance(event, PurchaseRecorded)
    assert event.provider == "till"
    assert event.provider_message_id == "store-042/R-0001"
    assert event.event_id == event_id_for("till", "store-042/R-0001")
    assert event.order_id == "R-0001"
    assert [(line.sku, line.quantity, line.unit_price.amount, line.total.amount) for line in event.lines] == [
        ("JKT-BLU-M", Decimal(1), Decimal("129.90"), Decimal("116.90")),
        ("SCF-RED", Decimal(2), Decimal("19.95"), Decimal("39.90")),
        ("SOCK-3", Decimal(3), Decimal("4.50"), Decimal("12.00")),
    ]
    assert event.total == Money(amount=Decimal("180.80"), currency="USD")
    assert [(p.method, p.amount.amount) for p in event.payments] == [("card", Decimal("180.80"))]
    assert event.sender.identities == (
        Identity(kind=IdentityKind.LOYALTY, value=pv.loyalty_card(PERSON)),
        plain(IdentityKind.PHONE, PERSON.phone),
    )
    assert event.summary == "Till receipt R-0001 (store store-042): 1 x Blue jacket, 2 x Scarf, 3 x Socks"


def test_till_receipt_carries_its_discounts_codes_and_cashier() -> None:
    raw = json.loads(pv.till_receipt(PERSON, "R-0003", ITEMS, tax="12.00"))
    raw["discount_codes"] = ["STAFF15"]

    [event] = till.translate(json.dumps(raw).encode(), **CONTEXT)

    usd = partial(Money, currency="USD")
    assert [line.discount for line in event.lines] == [usd(amount=Decimal(a)) for a in ("13.00", "0", "1.50")]
    assert (event.discount, event.discount_codes) == (usd(amount=Decimal("14.50")), ("STAFF15",))
    assert event.agent_id == "cashier-17"
    assert event.discounted


def test_till_receipt_without_discounts_is_not_discounted() -> None:
    raw = pv.till_receipt(PERSON, "R-0004", [pv.TillItem("SCF-RED", "Scarf", 2, "19.95")])

    [event] = till.translate(raw, **CONTEXT)

    assert event.discount == Money(amount=Decimal(0), currency="USD")
    assert not event.discounted


def _receipt(**changes: object) -> dict[str, object]:
    receipt: dict[str, object] = json.loads(pv.till_receipt(PERSON, "R-0002", ITEMS, tax="12.00"))
    receipt.update(changes)
    return receipt


def _lines_with(index: int, **changes: object) -> list[object]:
    lines: list[dict[str, object]] = _receipt()["lines"]  # type: ignore[assignment]
    lines[index] = {**lines[index], **changes}
    return list(lines)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (
            {"lines": _lines_with(0, total="129.90")},
            r"field lines\[0\]\.total is not quantity x unit_price - discount",
        ),
        ({"lines": _lines_with(2, discount="20.00", total="-6.50")}, r"field lines\.2\.total"),
        (
            {"totals": {"subtotal": "170.00", "tax": "12.00", "total": "182.00"}},
            r"^field totals\.subtotal is",
        ),
        ({"totals": {"subtotal": "168.80", "tax": "10.00", "total": "180.80"}}, r"^field totals\.total is"),
        ({"totals": {"subtotal": "168.80", "total": "168.80"}}, r"^field payments: the payments do not"),
        ({"payments": [{"method": "card", "amount": "100.00"}]}, r"field payments"),
    ],
)
def test_till_receipt_whose_amounts_do_not_add_up_is_refused_naming_the_field(
    changes: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidPayload, match=field):
        till.translate(json.dumps(_receipt(**changes)).encode(), **CONTEXT)


def test_till_totals_that_are_wrong_after_correct_lines_name_the_total() -> None:
    raw = json.dumps(_receipt(totals={"subtotal": "168.80", "tax": "12.00", "total": "190.80"})).encode()
    with pytest.raises(InvalidPayload, match=r"^field totals\.total is not subtotal \+ tax$"):
        till.translate(raw, **CONTEXT)


def test_till_receipt_with_an_unknown_field_is_refused_naming_it_and_not_its_value() -> None:
    raw = json.dumps(_receipt(customer_notes="call me on 07700 900123")).encode()
    with pytest.raises(
        InvalidPayload, match="field customer_notes: Extra inputs are not permitted"
    ) as caught:
        till.translate(raw, **CONTEXT)
    assert "07700" not in str(caught.value)


def test_till_amounts_given_as_json_numbers_stay_exact_decimals() -> None:
    receipt = _receipt(
        lines=[{"sku": "T", "name": "Tea", "quantity": 3, "unit_price": 0.1, "total": 0.3}],
        totals={"subtotal": 0.3, "total": 0.3},
        payments=[{"method": "cash", "amount": 0.3}],
    )
    [event] = till.translate(json.dumps(receipt).encode(), **CONTEXT)
    assert event.total.amount == Decimal("0.3")


def test_till_anonymous_sale_without_card_or_contact_is_ignored() -> None:
    raw = pv.till_receipt(PERSON, "R-0003", ITEMS, with_loyalty_card=False, with_phone=False)
    with pytest.raises(IgnoredDelivery, match="anonymous sale"):
        till.translate(raw, **CONTEXT)


# --- Shopify refunds/create -> RefundRecorded -----------------------------------------------------

# Shaped like the refunds/create example of Shopify's webhook reference (two transactions: one failed).
SHOPIFY_REFUND_LITERAL = b"""{
  "id": 890088186047892319,
  "order_id": 820982911946154508,
  "created_at": "2025-06-10T08:05:00-04:00",
  "note": "Things were damaged",
  "user_id": 548380009,
  "processed_at": "2025-06-10T08:05:01-04:00",
  "restock": false,
  "duties": [],
  "return": null,
  "admin_graphql_api_id": "gid://shopify/Refund/890088186047892319",
  "refund_line_items": [
    {"id": 866550311766439020, "quantity": 1, "line_item_id": 866550311766439020, "location_id": null,
     "restock_type": "no_restock", "subtotal": 195.67, "total_tax": 3.98,
     "subtotal_set": {"shop_money": {"amount": "195.67", "currency_code": "USD"},
                      "presentment_money": {"amount": "195.67", "currency_code": "USD"}},
     "line_item": {"id": 866550311766439020, "variant_id": 808950810, "title": "IPod Nano - 8GB",
                   "quantity": 1, "sku": "IPOD2008PINK", "price": "199.00"}}
  ],
  "transactions": [
    {"id": 389404469, "order_id": 820982911946154508, "kind": "refund", "gateway": "bogus",
     "status": "success", "amount": "41.94", "currency": "USD", "parent_id": 801038806},
    {"id": 389404470, "order_id": 820982911946154508, "kind": "refund", "gateway": "bogus",
     "status": "failure", "amount": "10.00", "currency": "USD", "parent_id": 801038806},
    {"id": 389404471, "order_id": 820982911946154508, "kind": "refund", "gateway": "gift_card",
     "status": "success", "amount": "157.67", "currency": "USD", "parent_id": 801038807}
  ],
  "order_adjustments": []
}"""
ORDER_IDENTITY = Identity(kind=IdentityKind.EXTERNAL, value="820982911946154508", provider="shopify_order")


def _refund_translator(webhook_id: str | None = "wh-1") -> shopify_refunds.TranslateFn:
    return shopify_refunds.translator_for("refunds/create", webhook_id)


def test_shopify_refund_becomes_a_refund_of_its_successful_transactions_on_the_orders_identity() -> None:
    [event] = _refund_translator()(SHOPIFY_REFUND_LITERAL, **CONTEXT)

    assert isinstance(event, RefundRecorded)
    assert event.channel is Channel.POS
    assert event.provider == "shopify"
    assert event.provider_message_id == "refund:890088186047892319"
    assert event.event_id == event_id_for("shopify", "refund:890088186047892319")
    assert (event.order_id, event.refund_id) == ("820982911946154508", "890088186047892319")
    assert event.amount == Money(amount=Decimal("199.61"), currency="USD")
    assert [(line.sku, line.quantity, line.unit_price.amount, line.total.amount) for line in event.lines] == [
        ("IPOD2008PINK", Decimal(1), Decimal("199.00"), Decimal("195.67"))
    ]
    assert event.reason == "Things were damaged"
    assert event.sender.identities == (ORDER_IDENTITY,)
    assert event.occurred_at == datetime(2025, 6, 10, 8, 5, 1, tzinfo=timezone(timedelta(hours=-4)))
    assert event.summary == "Refund on order 820982911946154508: 1 x IPod Nano - 8GB"
    assert event.payment_id is None  # paid back through two transactions: no single payment


def test_shopify_refund_through_one_transaction_names_it_as_the_payment() -> None:
    document = json.loads(SHOPIFY_REFUND_LITERAL)
    document["transactions"] = [t for t in document["transactions"] if t["parent_id"] == 801038806]

    [event] = _refund_translator()(json.dumps(document).encode(), **CONTEXT)

    assert isinstance(event, RefundRecorded)
    assert (event.payment_id, event.amount.amount) == ("801038806", Decimal("41.94"))


def test_shopify_order_carries_the_identity_its_refunds_are_attributed_to() -> None:
    [order] = shopify.translate(
        shopify_order(PERSON, 820982911946154508, [("A", "Mug", 1, "9.00")]), **CONTEXT
    )
    assert ORDER_IDENTITY in order.sender.identities
    assert order.sender.identities[0] == plain(IdentityKind.EMAIL, PERSON.email)


def test_shopify_refund_sample_round_trips_through_the_translator() -> None:
    raw = pv.shopify_refund(4711, 9001, [("MUG", "Blue mug", 2, "12.50")])
    [event] = _refund_translator()(raw, **CONTEXT)
    assert isinstance(event, RefundRecorded)
    assert event.amount == Money(amount=Decimal("25.00"), currency="USD")
    assert event.lines[0].total.amount == Decimal("25.00")


def test_shopify_refund_without_its_id_dedupes_on_the_webhook_id_header() -> None:
    refund = json.loads(SHOPIFY_REFUND_LITERAL)
    del refund["id"]
    raw = json.dumps(refund).encode()

    [event] = _refund_translator("b54557e4-bdd9")(raw, **CONTEXT)

    assert event.provider_message_id == "webhook:b54557e4-bdd9"
    with pytest.raises(InvalidPayload, match="no X-Shopify-Webhook-Id header"):
        _refund_translator(None)(raw, **CONTEXT)


def test_shopify_refund_that_moved_no_money_is_ignored() -> None:
    refund = json.loads(SHOPIFY_REFUND_LITERAL)
    refund["transactions"] = [t for t in refund["transactions"] if t["status"] != "success"]
    with pytest.raises(IgnoredDelivery, match="moved no money"):
        _refund_translator()(json.dumps(refund).encode(), **CONTEXT)


@pytest.mark.parametrize("topic", [None, "", "orders/create", "orders/paid", "ORDERS/PAID"])
def test_shopify_order_topics_and_a_missing_topic_header_are_translated_as_orders(topic: str | None) -> None:
    assert shopify_refunds.translator_for(topic, None) is shopify.translate


def test_shopify_topic_this_endpoint_does_not_take_is_unsupported() -> None:
    with pytest.raises(UnsupportedEventType, match="X-Shopify-Topic"):
        shopify_refunds.translator_for("orders/updated", None)


def test_shopify_endpoint_picks_the_refund_translator_from_the_topic_header() -> None:
    [endpoint] = [e for e in ENDPOINTS if e.path == "/webhooks/pos/shopify"]
    headers = Headers({"X-Shopify-Topic": "refunds/create", "X-Shopify-Webhook-Id": "wh-9"})
    translator = endpoint.translator_for(Delivery(SHOPIFY_REFUND_LITERAL, headers))
    [event] = translator(SHOPIFY_REFUND_LITERAL, **CONTEXT)
    assert isinstance(event, RefundRecorded)


# --- Twilio Voice: status callbacks -> CallRecorded -----------------------------------------------

TWILIO_DOCS_LITERAL = (
    b"Called=%2B15005550006&ToState=CA&CallerCountry=US&Direction=inbound&Timestamp=Tue%2C+10+Jun+2025"
    b"+10%3A15%3A30+%2B0000&CallbackSource=call-progress-events&CallerState=CA&ToZip=94949"
    b"&SequenceNumber=3&CallSid=CAe03b7cd806070d1f32bdb7f1046a41c0&To=%2B15005550006&CallerZip=94107"
    b"&ToCountry=US&CalledZip=94949&ApiVersion=2010-04-01&CalledCity=NOVATO&CallStatus=completed"
    b"&Duration=2&From=%2B14155550123&CallDuration=83&AccountSid=ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
    b"&CalledCountry=US&CallerCity=SAN+FRANCISCO&ToCity=NOVATO&FromCountry=US&Caller=%2B14155550123"
    b"&FromCity=SAN+FRANCISCO&CalledState=CA&FromZip=94107&FromState=CA"
    b"&RecordingSid=RE557ce644e5ab84fa21cc21112e22c485"
    b"&RecordingUrl=https%3A%2F%2Fapi.twilio.com%2F2010-04-01%2FAccounts%2FACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
    b"%2FRecordings%2FRE557ce644e5ab84fa21cc21112e22c485&RecordingDuration=80"
)


def test_twilio_completed_inbound_call_becomes_a_call_from_the_callers_phone() -> None:
    [event] = twilio_voice.translate(TWILIO_DOCS_LITERAL, **CONTEXT)

    assert isinstance(event, CallRecorded)
    assert event.channel is Channel.VOICE
    assert event.provider == "twilio"
    assert event.provider_message_id == event.call_id == "CAe03b7cd806070d1f32bdb7f1046a41c0"
    assert event.event_id == event_id_for("twilio", "CAe03b7cd806070d1f32bdb7f1046a41c0")
    assert event.direction is Direction.INBOUND
    assert event.sender.identities == (plain(IdentityKind.PHONE, "+14155550123"),)
    assert (event.from_number, event.to_number) == ("+14155550123", "+15005550006")
    assert (event.duration_s, event.status, event.agent) == (83, "completed", None)
    assert event.recording_id == "RE557ce644e5ab84fa21cc21112e22c485"
    assert event.recording_url is not None and event.recording_url.endswith(
        "/Recordings/RE557ce644e5ab84fa21cc21112e22c485"
    )
    assert event.occurred_at == datetime(2025, 6, 10, 10, 15, 30, tzinfo=UTC)
    assert event.summary == "Inbound call, 1 min 23 s (recorded)"


@pytest.mark.parametrize("direction", ["outbound-api", "outbound-dial"])
def test_twilio_completed_outbound_call_is_attributed_to_the_number_called_and_names_the_agent(
    direction: str,
) -> None:
    params = pv.twilio_call(PERSON, pv.call_sid("out"), direction=direction, agent="alice", recorded=False)

    [event] = twilio_voice.translate(pv.form_body(params), **CONTEXT)

    assert event.direction is Direction.OUTBOUND
    assert event.sender.identities == (plain(IdentityKind.PHONE, PERSON.phone),)
    assert (event.from_number, event.agent) == ("client:alice", "alice")
    assert event.recording_id is None and event.recording_url is None
    assert event.summary == "Outbound call, 1 min 35 s"


def test_twilio_a_national_number_is_read_in_the_default_region() -> None:
    params = [
        (k, "020 7946 0018" if k == "From" else v) for k, v in pv.twilio_call(PERSON, pv.call_sid("gb"))
    ]
    [event] = twilio_voice.translate(
        pv.form_body(params), **Context(received_at=RECEIVED_AT, correlation_id="corr-1", default_region="GB")
    )
    assert event.sender.identities == (plain(IdentityKind.PHONE, "+442079460018"),)


@pytest.mark.parametrize("status", ["queued", "initiated", "ringing", "in-progress"])
def test_twilio_call_that_has_not_ended_is_ignored(status: str) -> None:
    params = pv.twilio_call(PERSON, pv.call_sid(status), status=status)
    with pytest.raises(IgnoredDelivery, match=f"status {status} is not a finished call"):
        twilio_voice.translate(pv.form_body(params), **CONTEXT)


@pytest.mark.parametrize(
    ("status", "direction", "summary"),
    [
        ("no-answer", "inbound", "Inbound call, not answered"),
        ("canceled", "inbound", "Inbound call, hung up before answer"),
        ("busy", "outbound-api", "Outbound call, busy"),
        ("failed", "outbound-dial", "Outbound call, failed"),
    ],
)
def test_twilio_missed_call_is_recorded_with_its_status_and_no_duration(
    status: str, direction: str, summary: str
) -> None:
    raw = pv.form_body(pv.twilio_call(PERSON, pv.call_sid(status), status=status, direction=direction))

    [event] = twilio_voice.translate(raw, **CONTEXT)
    [again] = twilio_voice.translate(raw, **RETRY)

    assert isinstance(event, CallRecorded)
    assert (event.status, event.duration_s, event.summary) == (status, 0, summary)
    assert event.direction is (Direction.INBOUND if direction == "inbound" else Direction.OUTBOUND)
    assert event.sender.identities == (plain(IdentityKind.PHONE, PERSON.phone),)
    assert event.event_id == again.event_id == event_id_for("twilio", pv.call_sid(status))
    assert event.recording_id is None


def test_twilio_call_from_a_withheld_number_is_ignored() -> None:
    params = [(k, "anonymous" if k == "From" else v) for k, v in pv.twilio_call(PERSON, pv.call_sid("anon"))]
    with pytest.raises(IgnoredDelivery, match="withheld"):
        twilio_voice.translate(pv.form_body(params), **CONTEXT)


def test_twilio_completed_call_without_its_duration_is_refused_naming_it() -> None:
    params = [(k, v) for k, v in pv.twilio_call(PERSON, pv.call_sid("nodur")) if k != "CallDuration"]
    with pytest.raises(InvalidPayload, match=r"^field CallDuration is missing$"):
        twilio_voice.translate(pv.form_body(params), **CONTEXT)


# --- Signatures: exactly the valid rows are accepted ----------------------------------------------

CURRENT, PREVIOUS, RETIRED = SecretStr("current-key"), SecretStr("previous-key"), SecretStr("retired-key")
SECRETS = [CURRENT, PREVIOUS]
SQUARE_URL = "https://hub.example.com/webhooks/pos/square"
TWILIO_URL = "https://hub.example.com/webhooks/voice/twilio?tenant=eu"


def _accepted(verify: object, delivery: Delivery) -> bool:
    try:
        verify(delivery, SECRETS)  # type: ignore[operator]
    except InvalidSignature:
        return False
    return True


def test_square_signature_matrix_accepts_exactly_the_valid_rows() -> None:
    body = pv.square_payment(PERSON, "pay-sig", 1000)
    good = sign_square(SQUARE_URL, body, CURRENT)
    rows = {
        "current key": (body, {"x-square-hmacsha256-signature": good}, SQUARE_URL),
        "previous key during rotation": (
            body,
            {"x-square-hmacsha256-signature": sign_square(SQUARE_URL, body, PREVIOUS)},
            SQUARE_URL,
        ),
        "missing header": (body, {}, SQUARE_URL),
        "wrong key": (
            body,
            {"x-square-hmacsha256-signature": sign_square(SQUARE_URL, body, RETIRED)},
            SQUARE_URL,
        ),
        "one byte changed": (
            body.replace(b"1000", b"1001"),
            {"x-square-hmacsha256-signature": good},
            SQUARE_URL,
        ),
        "url changed": (
            body,
            {"x-square-hmacsha256-signature": good},
            SQUARE_URL.replace("square", "squares"),
        ),
        "signed without url": (
            body,
            {"x-square-hmacsha256-signature": sign_square("", body, CURRENT)},
            SQUARE_URL,
        ),
        "not base64": (body, {"x-square-hmacsha256-signature": "%%%"}, SQUARE_URL),
    }
    accepted = {
        name
        for name, (raw, headers, url) in rows.items()
        if _accepted(square_provider.verify, Delivery(raw, Headers(headers), url))
    }
    assert accepted == {"current key", "previous key during rotation"}


def test_twilio_signature_matrix_accepts_exactly_the_valid_rows() -> None:
    params = pv.twilio_call(PERSON, pv.call_sid("sig"))
    body = pv.form_body(params)
    good = sign_twilio(TWILIO_URL, params, CURRENT)
    shuffled = pv.form_body(list(reversed(params)))
    tampered = body.replace(b"CallDuration=95", b"CallDuration=96")
    rows = {
        "current token": (body, good, TWILIO_URL),
        "previous token during rotation": (body, sign_twilio(TWILIO_URL, params, PREVIOUS), TWILIO_URL),
        "parameters in another order": (shuffled, good, TWILIO_URL),
        "explicit default port": (body, good, TWILIO_URL.replace(".com/", ".com:443/")),
        "missing header": (body, None, TWILIO_URL),
        "wrong token": (body, sign_twilio(TWILIO_URL, params, RETIRED), TWILIO_URL),
        "one value changed": (tampered, good, TWILIO_URL),
        "parameter added": (body + b"&Extra=1", good, TWILIO_URL),
        "query changed": (body, good, TWILIO_URL.replace("eu", "us")),
        "path changed": (body, good, TWILIO_URL.replace("voice", "voices")),
        "other port": (body, good, TWILIO_URL.replace(".com/", ".com:8443/")),
        "sha256 instead of sha1": (body, sign_hex(body, CURRENT), TWILIO_URL),
    }
    accepted = {
        name
        for name, (raw, header, url) in rows.items()
        if _accepted(
            twilio_provider.verify,
            Delivery(raw, Headers({"X-Twilio-Signature": header} if header else {}), url),
        )
    }
    assert accepted == {
        "current token",
        "previous token during rotation",
        "parameters in another order",
        "explicit default port",
    }


def test_twilio_signature_of_a_known_request_matches_twilios_algorithm() -> None:
    # The example of Twilio's webhook security guide: URL + sorted name/value pairs, HMAC-SHA1, base64.
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+12349013030"),
        ("Digits", "1234"),
        ("From", "+12349013030"),
        ("To", "+18005551212"),
    ]
    assert sign_twilio(url, params, "12345") == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_till_signature_matrix_accepts_exactly_the_valid_rows() -> None:
    body = pv.till_receipt(PERSON, "R-sig", ITEMS)
    good = sign_hex(body, CURRENT)
    rows = {
        "current secret": (body, good),
        "previous secret during rotation": (body, sign_hex(body, PREVIOUS)),
        "missing header": (body, None),
        "wrong secret": (body, sign_hex(body, RETIRED)),
        "one byte changed": (body.replace(b"R-sig", b"R-sih"), good),
        "no scheme prefix": (body, good.removeprefix("sha256=")),
    }
    [endpoint] = [e for e in ENDPOINTS if e.path == till_provider.PATH]
    accepted = {
        name
        for name, (raw, header) in rows.items()
        if _accepted(
            endpoint.verify, Delivery(raw, Headers({"X-Hub-Signature-256": header} if header else {}))
        )
    }
    assert accepted == {"current secret", "previous secret during rotation"}


def test_the_new_endpoints_are_served_on_their_channels_with_their_secrets() -> None:
    served = {e.path: (e.channel, e.provider) for e in ENDPOINTS}
    assert served["/webhooks/pos/square"] == ("pos", "square")
    assert served["/webhooks/pos/till"] == ("pos", "till")
    assert served["/webhooks/voice/twilio"] == ("voice", "twilio")


# --- Contracts ------------------------------------------------------------------------------------


def test_call_and_refund_events_round_trip_through_parse_event() -> None:
    [call] = twilio_voice.translate(TWILIO_DOCS_LITERAL, **CONTEXT)
    [refund] = _refund_translator()(SHOPIFY_REFUND_LITERAL, **CONTEXT)
    for event in (call, refund):
        parsed = parse_event(json.loads(event.model_dump_json()))
        assert type(parsed) is type(event)
        assert parsed == event
    assert event_class("interaction.voice.call", 1) is CallRecorded
    assert event_class("interaction.pos.refund", 1) is RefundRecorded
    assert '"amount":"199.61"' in refund.model_dump_json()  # money stays a decimal string


def test_a_call_must_have_a_voice_channel_and_a_non_negative_duration() -> None:
    [call] = twilio_voice.translate(TWILIO_DOCS_LITERAL, **CONTEXT)
    data = json.loads(call.model_dump_json())
    with pytest.raises(ValueError, match="duration_s"):
        parse_event({**data, "duration_s": -1})
    with pytest.raises(ValueError, match="channel"):
        parse_event({**data, "channel": "pos"})


def test_the_translator_table_knows_the_new_providers_by_their_stored_provider_name() -> None:
    assert TRANSLATORS["square"] is square.translate
    assert TRANSLATORS["till"] is till.translate
    assert TRANSLATORS["twilio"] is twilio_voice.translate
