"""Realistic sample webhooks of the point-of-sale and voice providers, with their signatures.

Square ``payment.*``, ``refund.*`` and ``order.*`` notifications, our tills' receipts, Shopify
``refunds/create`` and Twilio call status callbacks, shaped as the providers document them. Body
builders return the exact bytes the provider would POST; the ``*_headers`` helpers sign them as the
provider would. Square and Twilio sign the URL too: pass exactly the URL the request is sent to.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import format_datetime
from urllib.parse import urlencode

from hub.samples import SamplePerson
from services.ingress.verify import sign_base64, sign_hex, sign_square, sign_twilio

SQUARE_MERCHANT_ID = "ML82H4QPKMGXY"
SQUARE_LOCATION_ID = "L88917AVBK2S5"
TWILIO_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
BUSINESS_PHONE = "+15005550006"  # Twilio's magic test number: never a real line
TILL_STORE_ID = "store-042"


def _json(document: object) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def _hex(seed: str, length: int) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:length]


def loyalty_card(person: SamplePerson) -> str:
    """The person's loyalty card number, as printed on the card (16 digits)."""
    return str(int(_hex(f"loyalty:{person.email}", 15), 16) % 10**16).zfill(16)


def square_customer_id(person: SamplePerson) -> str:
    return _hex(f"square:{person.email}", 26).upper()


# --- Square ---------------------------------------------------------------------------------------


def square_payment(
    person: SamplePerson,
    payment_id: str,
    amount_minor: int,
    currency: str = "USD",
    *,
    status: str = "COMPLETED",
    event_type: str = "payment.updated",
    created_at: datetime | None = None,
    tip_minor: int = 0,
) -> bytes:
    """A ``payment.created`` / ``payment.updated`` notification of a card payment by ``person``.

    ``amount_minor`` is in the currency's minor units (cents; yen have none), as Square sends it.
    """
    moment = _square_time(created_at)
    total = amount_minor + tip_minor
    payment: dict[str, object] = {
        "id": payment_id,
        "created_at": moment,
        "updated_at": moment,
        "amount_money": {"amount": amount_minor, "currency": currency},
        "total_money": {"amount": total, "currency": currency},
        "approved_money": {"amount": total, "currency": currency},
        "status": status,
        "delay_duration": "PT168H",
        "source_type": "CARD",
        "card_details": {
            "status": "CAPTURED" if status == "COMPLETED" else "AUTHORIZED",
            "card": {
                "card_brand": "VISA",
                "last_4": "1111",
                "exp_month": 11,
                "exp_year": 2030,
                "fingerprint": "sq-1-" + _hex(payment_id, 40),
                "card_type": "CREDIT",
                "bin": "411111",
            },
            "entry_method": "KEYED",
            "cvv_status": "CVV_ACCEPTED",
            "avs_status": "AVS_ACCEPTED",
        },
        "location_id": SQUARE_LOCATION_ID,
        "order_id": "ord_" + _hex(payment_id, 24),
        "customer_id": square_customer_id(person),
        "buyer_email_address": person.email,
        "receipt_number": payment_id[:4],
        "receipt_url": f"https://squareup.com/receipt/preview/{payment_id}",
        "version_token": _hex(f"v:{payment_id}:{status}", 32),
    }
    if tip_minor:
        payment["tip_money"] = {"amount": tip_minor, "currency": currency}
    return _square_notification(event_type, "payment", payment_id, {"payment": payment}, moment, status)


def square_refund(
    payment_id: str,
    refund_id: str,
    amount_minor: int,
    currency: str = "USD",
    *,
    status: str = "COMPLETED",
    event_type: str = "refund.updated",
    reason: str | None = "Returned goods",
    created_at: datetime | None = None,
) -> bytes:
    """A ``refund.created`` / ``refund.updated`` notification of a refund of payment ``payment_id``.

    As in Square's reference example, the refund names its payment and an order of its own, never
    the buyer.
    """
    moment = _square_time(created_at)
    refund: dict[str, object] = {
        "id": refund_id,
        "created_at": moment,
        "updated_at": moment,
        "amount_money": {"amount": amount_minor, "currency": currency},
        "status": status,
        "processing_fee": [
            {
                "effective_at": moment,
                "type": "INITIAL",
                "amount_money": {"amount": -(amount_minor * 3 // 100), "currency": currency},
            }
        ],
        "location_id": SQUARE_LOCATION_ID,
        "order_id": "ord_" + _hex(f"refund:{refund_id}", 24),
        "payment_id": payment_id,
        "version": 10 if status == "COMPLETED" else 9,
        "destination_type": "CARD",
    }
    if reason is not None:
        refund["reason"] = reason
    return _square_notification(event_type, "refund", refund_id, {"refund": refund}, moment, status)


def square_order(order_id: str, state: str = "COMPLETED", *, event_type: str = "order.updated") -> bytes:
    """An ``order.created`` / ``order.updated`` / ``order.fulfillment.updated`` notification: only
    the order's id, state, version and location, never its lines or buyer."""
    moment = _square_time(None)
    name = event_type.replace(".", "_")  # order.updated -> data.type and object key order_updated
    summary = {
        "created_at": moment,
        "location_id": SQUARE_LOCATION_ID,
        "order_id": order_id,
        "state": state,
        "updated_at": moment,
        "version": 3,
    }
    return _square_notification(event_type, name, order_id, {name: summary}, moment, state)


def _square_time(moment: datetime | None) -> str:
    return (moment or datetime.now(UTC)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _square_notification(
    event_type: str, data_type: str, object_id: str, obj: dict[str, object], moment: str, state: str
) -> bytes:
    return _json(
        {
            "merchant_id": SQUARE_MERCHANT_ID,
            "type": event_type,
            "event_id": _uuid_text(f"{object_id}:{event_type}:{state}"),
            "created_at": moment,
            "data": {"type": data_type, "id": object_id, "object": obj},
        }
    )


def square_headers(url: str, body: bytes, secret: str) -> dict[str, str]:
    """What Square sends with ``body`` to the notification URL ``url``."""
    return {
        "Content-Type": "application/json",
        "x-square-hmacsha256-signature": sign_square(url, body, secret),
        "Square-Initial-Delivery-Timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _uuid_text(seed: str) -> str:
    digest = _hex(seed, 32)
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:]}"


# --- Our tills ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TillItem:
    """One scanned item; ``discount`` is taken off the whole line."""

    sku: str
    name: str
    quantity: int
    unit_price: str
    discount: str = "0.00"

    @property
    def total(self) -> Decimal:
        return Decimal(self.unit_price) * self.quantity - Decimal(self.discount)


def till_receipt(
    person: SamplePerson,
    receipt_id: str,
    items: list[TillItem],
    *,
    currency: str = "USD",
    tax: str = "0.00",
    with_loyalty_card: bool = True,
    with_phone: bool = True,
    with_email: bool = False,
    occurred_at: datetime | None = None,
) -> bytes:
    """A till receipt whose totals add up, paid by card; the customer shows their loyalty card."""
    subtotal = sum((item.total for item in items), Decimal(0))
    total = subtotal + Decimal(tax)
    customer = {
        **({"phone": person.phone} if with_phone else {}),
        **({"email": person.email} if with_email else {}),
    }
    return _json(
        {
            "receipt_id": receipt_id,
            "store_id": TILL_STORE_ID,
            "cashier_id": "cashier-17",
            "occurred_at": (occurred_at or datetime.now(UTC)).isoformat(timespec="seconds"),
            "currency": currency,
            "lines": [
                {
                    "sku": item.sku,
                    "name": item.name,
                    "quantity": item.quantity,
                    "unit_price": item.unit_price,
                    "discount": item.discount,
                    "total": f"{item.total:.2f}",
                }
                for item in items
            ],
            "totals": {"subtotal": f"{subtotal:.2f}", "tax": tax, "total": f"{total:.2f}"},
            "payments": [{"method": "card", "amount": f"{total:.2f}"}],
            **({"loyalty_card": loyalty_card(person)} if with_loyalty_card else {}),
            **({"customer": customer} if customer else {}),
        }
    )


def till_headers(body: bytes, secret: str) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Hub-Signature-256": sign_hex(body, secret)}


# --- Shopify refunds ------------------------------------------------------------------------------


def shopify_refund(
    order_id: int,
    refund_id: int,
    lines: list[tuple[str, str, int, str]],
    currency: str = "USD",
    *,
    note: str | None = "Damaged in transit",
    created_at: datetime | None = None,
) -> bytes:
    """A ``refunds/create`` body refunding ``lines`` (``(sku, title, quantity, price)``) in full."""
    moment = (created_at or datetime.now(UTC)).isoformat(timespec="seconds")
    amount = sum((Decimal(price) * quantity for _, _, quantity, price in lines), Decimal(0))
    money = {"amount": f"{amount:.2f}", "currency_code": currency}
    return _json(
        {
            "id": refund_id,
            "order_id": order_id,
            "created_at": moment,
            "note": note,
            "user_id": 548380009,
            "processed_at": moment,
            "restock": True,
            "duties": [],
            "total_duties_set": {"shop_money": {**money, "amount": "0.00"}},
            "return": None,
            "admin_graphql_api_id": f"gid://shopify/Refund/{refund_id}",
            "refund_line_items": [
                {
                    "id": refund_id * 10 + index,
                    "quantity": quantity,
                    "line_item_id": order_id * 100 + index,
                    "location_id": 24826418,
                    "restock_type": "return",
                    "subtotal": float(Decimal(price) * quantity),
                    "total_tax": 0.0,
                    "subtotal_set": {
                        "shop_money": {
                            "amount": f"{Decimal(price) * quantity:.2f}",
                            "currency_code": currency,
                        }
                    },
                    "line_item": {
                        "id": order_id * 100 + index,
                        "title": title,
                        "sku": sku,
                        "quantity": quantity,
                        "price": price,
                    },
                }
                for index, (sku, title, quantity, price) in enumerate(lines, start=1)
            ],
            "transactions": [
                {
                    "id": refund_id + 1,
                    "order_id": order_id,
                    "kind": "refund",
                    "gateway": "shopify_payments",
                    "status": "success",
                    "message": "Transaction approved",
                    "created_at": moment,
                    "test": False,
                    "parent_id": refund_id - 1,
                    "processed_at": moment,
                    "source_name": "web",
                    "amount": f"{amount:.2f}",
                    "currency": currency,
                }
            ],
            "order_adjustments": [],
        }
    )


def shopify_refund_headers(
    body: bytes, secret: str, webhook_id: str = "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "refunds/create",
        "X-Shopify-Hmac-Sha256": sign_base64(body, secret),
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Shop-Domain": "example-shop.myshopify.com",
        "X-Shopify-API-Version": "2025-04",
    }


# --- Twilio Voice ---------------------------------------------------------------------------------


def call_sid(seed: str) -> str:
    return "CA" + _hex(f"call:{seed}", 32)


def twilio_call(
    person: SamplePerson,
    sid: str,
    *,
    direction: str = "inbound",
    status: str = "completed",
    duration_s: int = 95,
    agent: str | None = None,
    recorded: bool = True,
    at: datetime | None = None,
) -> list[tuple[str, str]]:
    """The form parameters of a call status callback for a call between ``person`` and the shop.

    ``direction`` is ``inbound`` (the person called), ``outbound-api`` or ``outbound-dial``; an
    ``agent`` answers or dials from the Voice SDK as ``client:<agent>``.
    """
    ours = f"client:{agent}" if agent else BUSINESS_PHONE
    caller, called = (person.phone, ours) if direction == "inbound" else (ours, person.phone)
    params = {
        "AccountSid": TWILIO_ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": sid,
        "CallStatus": status,
        "CallbackSource": "call-progress-events",
        "Called": called,
        "Caller": caller,
        "Direction": direction,
        "From": caller,
        "FromCountry": "US",
        "SequenceNumber": {"ringing": "1", "in-progress": "2"}.get(status, "3"),
        "Timestamp": format_datetime(at or datetime.now(UTC), usegmt=False),
        "To": called,
        "ToCountry": "US",
    }
    if status == "completed":
        params["CallDuration"] = str(duration_s)
        params["Duration"] = str(-(-duration_s // 60))  # billed minutes, rounded up
    if status == "completed" and recorded:
        recording = "RE" + _hex(f"rec:{sid}", 32)
        params["RecordingSid"] = recording
        params["RecordingUrl"] = (
            f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Recordings/{recording}"
        )
        params["RecordingDuration"] = str(max(duration_s - 3, 0))
    return list(params.items())


def form_body(params: list[tuple[str, str]]) -> bytes:
    """The ``application/x-www-form-urlencoded`` body Twilio POSTs."""
    return urlencode(params).encode("ascii")


def twilio_headers(url: str, params: list[tuple[str, str]], auth_token: str) -> dict[str, str]:
    """What Twilio sends with ``form_body(params)`` to ``url``."""
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": sign_twilio(url, params, auth_token),
        "I-Twilio-Idempotency-Token": _uuid_text(f"{url}:{params}"),
    }
