"""Square, our tills and Twilio Voice on the real stack: one person's purchases, refund and calls
(answered and missed) end on one card."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import httpx
import pytest

from hub import samples_pos_voice as pv
from hub.demo import new_tag, wait_for_card
from hub.samples import sample_person
from tests.support.deployables import RunningHub

pytestmark = pytest.mark.e2e

ITEMS = [
    pv.TillItem("JKT-BLU-M", "Blue jacket", 1, "129.90", discount="13.00"),
    pv.TillItem("SCF-RED", "Scarf", 2, "19.95"),
]
TILL_TOTAL = Decimal("156.80")  # 116.90 + 39.90, no tax
SQUARE_MINOR = 4250  # 42.50 USD
REFUND_MINOR = 1250  # 12.50 USD back on the Square payment


def _timeline(client: httpx.Client, api_url: str, customer_id: str, *, until_types: int) -> list[Any]:
    """The customer's timeline once it holds ``until_types`` distinct event types (deadline: 60 s)."""
    deadline = time.monotonic() + 60
    items: list[Any] = []
    while time.monotonic() < deadline:
        items = client.get(f"{api_url}/v1/customers/{customer_id}/timeline").json()["items"]
        if len({item["event_type"] for item in items}) >= until_types:
            return items
        time.sleep(0.2)
    raise TimeoutError(f"timeline did not reach {until_types} event types; last: {items}")


def test_a_square_payment_and_refund_a_till_receipt_and_calls_by_one_person_end_in_one_card(
    hub: RunningHub,
) -> None:
    tag = new_tag()
    person = sample_person(tag)
    ingress = hub.ports.ingress_url
    square_url = f"{ingress}/webhooks/pos/square"
    twilio_url = f"{ingress}/webhooks/voice/twilio"
    square_body = pv.square_payment(person, f"sq{tag}", SQUARE_MINOR)
    till_body = pv.till_receipt(person, f"R-{tag}", ITEMS, with_email=True)
    call = pv.twilio_call(person, pv.call_sid(tag), duration_s=125)
    ringing = pv.twilio_call(person, pv.call_sid(tag), status="ringing")
    missed = pv.twilio_call(person, pv.call_sid(f"{tag}-missed"), status="no-answer")
    refund_body = pv.square_refund(f"sq{tag}", f"sq{tag}_r1", REFUND_MINOR)
    order_body = pv.square_order(f"ord{tag}", "COMPLETED")

    with httpx.Client(timeout=30) as client:
        paid = client.post(
            square_url,
            content=square_body,
            headers=pv.square_headers(square_url, square_body, hub.secrets.square),
        )
        redelivered = client.post(
            square_url,
            content=square_body,
            headers=pv.square_headers(square_url, square_body, hub.secrets.square),
        )
        bought = client.post(
            f"{ingress}/webhooks/pos/till",
            content=till_body,
            headers=pv.till_headers(till_body, hub.secrets.till),
        )
        rang = client.post(
            twilio_url,
            content=pv.form_body(ringing),
            headers=pv.twilio_headers(twilio_url, ringing, hub.secrets.twilio),
        )
        called = client.post(
            twilio_url,
            content=pv.form_body(call),
            headers=pv.twilio_headers(twilio_url, call, hub.secrets.twilio),
        )
        forged = client.post(
            twilio_url,
            content=pv.form_body(call),
            headers=pv.twilio_headers(twilio_url, call, "not-the-token"),
        )
        unanswered = client.post(
            twilio_url,
            content=pv.form_body(missed),
            headers=pv.twilio_headers(twilio_url, missed, hub.secrets.twilio),
        )
        order = client.post(
            square_url,
            content=order_body,
            headers=pv.square_headers(square_url, order_body, hub.secrets.square),
        )

    answers = (paid, redelivered, bought, rang, called, unanswered, order)
    assert [r.status_code for r in answers] == [200] * 7, [r.text for r in answers]
    assert paid.json()["accepted"] == redelivered.json()["accepted"] == 1
    assert paid.json()["event_ids"] == redelivered.json()["event_ids"]
    assert rang.json()["accepted"] == 0 and "ringing" in rang.json()["ignored"]
    assert unanswered.json()["accepted"] == 1
    assert order.json()["accepted"] == 0 and "order.updated" in order.json()["ignored"]
    assert forged.status_code == 401

    with httpx.Client(timeout=30, headers=hub.api_headers) as client:
        wait_for_card(client, hub.ports.api_url, person.email, interactions=4)

    # The refund comes later, as it would: it names only the payment, whose purchase is on the card.
    with httpx.Client(timeout=30) as client:
        refunded = [
            client.post(
                square_url,
                content=refund_body,
                headers=pv.square_headers(square_url, refund_body, hub.secrets.square),
            )
            for _ in range(2)
        ]
    assert [r.status_code for r in refunded] == [200, 200], [r.text for r in refunded]
    assert refunded[0].json()["event_ids"] == refunded[1].json()["event_ids"]

    with httpx.Client(timeout=30, headers=hub.api_headers) as client:
        first = wait_for_card(client, hub.ports.api_url, person.email, interactions=5)
        timeline = _timeline(client, hub.ports.api_url, first["customer_id"], until_types=3)
        card = client.get(f"{hub.ports.api_url}/v1/customers/{first['customer_id']}").json()
        by_card = client.get(
            f"{hub.ports.api_url}/v1/customers", params={"identity": f"loyalty:{pv.loyalty_card(person)}"}
        ).json()
        by_phone = client.get(f"{hub.ports.api_url}/v1/customers", params={"phone": person.phone}).json()

    # Redeliveries are stored once: two purchases, one refund, an answered and a missed call.
    assert card["interaction_count"] == 5
    assert {channel: stats["count"] for channel, stats in card["channels"].items()} == {"pos": 3, "voice": 2}
    assert card["purchase_count"] == 2
    assert card["refund_count"] == 1
    assert Decimal(card["purchase_totals"]["USD"]) == Decimal("42.50") + TILL_TOTAL
    assert Decimal(card["refund_totals"]["USD"]) == Decimal("12.50")
    assert Decimal(card["lifetime_value"]["USD"]) == Decimal("42.50") + TILL_TOTAL - Decimal("12.50")
    assert sorted(item["event_type"] for item in timeline) == [
        "interaction.pos.purchase",
        "interaction.pos.purchase",
        "interaction.pos.refund",
        "interaction.voice.call",
        "interaction.voice.call",
    ]
    calls = sorted(item["summary"] for item in timeline if item["channel"] == "voice")
    assert calls == ["Inbound call, 2 min 5 s (recorded)", "Inbound call, not answered"]
    assert {p["provider"] for p in card["recent_purchases"]} == {"square", "till"}
    assert [c["customer_id"] for c in by_card["items"]] == [card["customer_id"]]
    assert [c["customer_id"] for c in by_phone["items"]] == [card["customer_id"]]
