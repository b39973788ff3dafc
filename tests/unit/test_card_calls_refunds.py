"""The customer card folds calls like any interaction and counts refunds against purchases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest

from contracts import (
    CallRecorded,
    CustomerAbsorbed,
    Direction,
    Envelope,
    IdentityKind,
    IdentityLinked,
    Money,
    PurchaseLine,
    PurchaseRecorded,
    RefundRecorded,
    Sender,
    normalise_identity,
)
from contracts.read.customer_card import CustomerCard
from projections.customer_card.evolve import Fact, evolve

pytestmark = pytest.mark.unit

T0 = datetime(2025, 6, 10, 9, 0, tzinfo=UTC)
PHONE = normalise_identity(IdentityKind.PHONE, "+14155550123")
ORDER = normalise_identity(IdentityKind.EXTERNAL, "4711", provider="shopify_order")


def _envelope(minutes: int) -> dict[str, Any]:
    at = T0 + timedelta(minutes=minutes)
    return {"event_id": uuid4(), "occurred_at": at, "received_at": at, "correlation_id": "c"}


def _call(minutes: int, duration_s: int = 83) -> CallRecorded:
    return CallRecorded(
        **_envelope(minutes),
        provider="twilio",
        provider_message_id=f"CA{uuid4().hex}",
        sender=Sender(identities=(PHONE,)),
        summary="Inbound call, 1 min 23 s",
        call_id="CA1",
        direction=Direction.INBOUND,
        from_number="+14155550123",
        to_number="+15005550006",
        duration_s=duration_s,
        status="completed",
    )


def _purchase(amount: str, minutes: int, currency: str = "USD") -> PurchaseRecorded:
    money = Money(amount=Decimal(amount), currency=currency)
    return PurchaseRecorded(
        **_envelope(minutes),
        provider="shopify",
        provider_message_id=f"order-{uuid4()}",
        sender=Sender(identities=(PHONE, ORDER)),
        summary="#1001: 1 x Tea",
        order_id="4711",
        lines=(PurchaseLine(name="Tea", quantity=Decimal(1), unit_price=money, total=money),),
        total=money,
    )


def _refund(amount: str, minutes: int, currency: str = "USD") -> RefundRecorded:
    return RefundRecorded(
        **_envelope(minutes),
        provider="shopify",
        provider_message_id=f"refund:{uuid4()}",
        sender=Sender(identities=(ORDER,)),
        summary="Refund on order 4711",
        order_id="4711",
        refund_id="9001",
        amount=Money(amount=Decimal(amount), currency=currency),
    )


def _fold(customer: UUID, events: list[Envelope], card: CustomerCard | None = None) -> CustomerCard:
    start = 0 if card is None else card.last_position
    for offset, event in enumerate(events, start=1):
        card = evolve(card, Fact(start + offset, customer, event))
    assert card is not None
    return card


def test_a_call_is_counted_on_the_voice_channel_and_shown_on_the_timeline() -> None:
    call = _call(5)

    card = _fold(uuid4(), [_purchase("10.00", 0), call])

    assert card.channels["voice"].count == 1
    assert card.channels["voice"].last_at == call.occurred_at
    assert card.interaction_count == 2
    assert card.last_interaction_at == call.occurred_at
    newest = card.recent_interactions[0]
    assert (newest.event_type, newest.channel, newest.provider, newest.event_id) == (
        "interaction.voice.call",
        "voice",
        "twilio",
        call.event_id,
    )
    assert newest.summary == "Inbound call, 1 min 23 s"
    assert card.purchase_count == 1  # a call is not a purchase


def test_a_refund_counts_against_the_lifetime_value_but_not_against_the_purchase_count() -> None:
    card = _fold(uuid4(), [_purchase("100.00", 0), _purchase("20.00", 1), _refund("35.50", 2)])

    assert card.purchase_count == 2
    assert card.purchase_totals == {"USD": Decimal("120.00")}
    assert card.refund_count == 1
    assert card.refund_totals == {"USD": Decimal("35.50")}
    assert card.lifetime_value == {"USD": Decimal("84.50")}
    assert card.channels["pos"].count == 3
    assert card.recent_interactions[0].event_type == "interaction.pos.refund"
    assert len(card.recent_purchases) == 2  # refunds are not listed as purchases


def test_lifetime_value_is_kept_per_currency_and_a_refund_of_an_unseen_currency_goes_negative() -> None:
    card = _fold(uuid4(), [_purchase("100.00", 0), _refund("1500", 1, "JPY")])
    assert card.lifetime_value == {"JPY": Decimal("-1500"), "USD": Decimal("100.00")}


def test_a_refund_folded_twice_at_the_same_position_counts_once() -> None:
    customer = uuid4()
    refund = _refund("5.00", 1)
    card = _fold(customer, [_purchase("10.00", 0), refund])

    again = evolve(card, Fact(card.last_position, customer, refund))

    assert again is card
    assert card.refund_totals == {"USD": Decimal("5.00")}


def test_the_card_stores_and_reloads_refunds_and_lifetime_value_through_json() -> None:
    card = _fold(uuid4(), [_purchase("10.00", 0), _refund("2.50", 1), _call(2)])

    stored = card.model_dump(mode="json")
    reloaded = CustomerCard.model_validate(stored)

    assert stored["lifetime_value"] == {"USD": "7.50"}
    assert reloaded == card
    assert reloaded.lifetime_value == {"USD": Decimal("7.50")}


def test_a_survivor_folded_over_both_histories_has_their_refunds_and_calls() -> None:
    """A merge is applied by folding the union of both customers' events in log order (see refold)."""
    survivor, absorbed = uuid4(), uuid4()
    theirs = [_purchase("40.00", 0), _refund("15.00", 1), _call(2)]
    ours = [_purchase("10.00", 3), _call(4)]
    merge = CustomerAbsorbed(
        **_envelope(5),
        customer_id=survivor,
        absorbed_id=absorbed,
        rule="shared_identity",
        evidence_event_id=uuid4(),
        shared_identities=(PHONE,),
    )

    card = _fold(survivor, [*theirs, *ours, merge])

    assert card.refund_count == 1
    assert card.lifetime_value == {"USD": Decimal("35.00")}
    assert card.channels["voice"].count == 2
    assert card.merged_from == [absorbed]
    assert [(m.kind, m.other_customer_id, m.rule) for m in card.merge_history] == [
        ("absorbed", absorbed, "shared_identity")
    ]


def test_order_ids_are_not_listed_as_the_buyers_identities_and_its_refunds_still_count() -> None:
    """A buyer gains one order identity per order: the card would grow without bound (and every fold with
    it), so links of transaction references stay off the card while the person's own identities show."""
    customer = uuid4()
    links = [
        IdentityLinked(
            **_envelope(0),
            customer_id=customer,
            identity=identity,
            rule="new_customer",
            evidence_event_id=uuid4(),
        )
        for identity in (PHONE, ORDER)
    ]
    card = _fold(customer, [*links, _purchase("20.00", 1), _refund("5.00", 2)])
    assert [view.key for view in card.identities] == [PHONE.key]
    assert card.purchase_count == 1 and card.lifetime_value == {"USD": Decimal("15.00")}
