"""The customer card's pure evolve: card + fact -> card, idempotent by position, never in place."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar, Literal
from uuid import UUID, uuid4

import pytest

from contracts import (
    ChatMessageReceived,
    CustomerAbsorbed,
    CustomerMergedInto,
    CustomerRestored,
    CustomerUnmerged,
    EmailReceived,
    Envelope,
    Identity,
    IdentityKind,
    IdentityLinked,
    InteractionEvent,
    Money,
    PurchaseLine,
    PurchaseRecorded,
    Sender,
    SocialMessageReceived,
    normalise_identity,
)
from contracts.read.customer_card import RECENT_INTERACTIONS, RECENT_PURCHASES, CustomerCard
from projections.customer_card.evolve import Fact, evolve

pytestmark = pytest.mark.unit

T0 = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)
EMAIL = normalise_identity(IdentityKind.EMAIL, "ada@example.com")
PHONE = normalise_identity(IdentityKind.PHONE, "+14155550100")
HANDLE = normalise_identity(IdentityKind.HANDLE, "v_1", provider="widget")


def _at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _envelope(minutes: int) -> dict[str, Any]:
    return {
        "event_id": uuid4(),
        "occurred_at": _at(minutes),
        "received_at": _at(minutes),
        "correlation_id": "c",
    }


def _interaction(
    channel: str,
    minutes: int,
    *,
    name: str | None = "Ada Lovelace",
    identities: tuple[Identity, ...] = (EMAIL,),
) -> InteractionEvent:
    common: dict[str, Any] = {
        **_envelope(minutes),
        "provider_message_id": f"m-{uuid4()}",
        "sender": Sender(identities=identities, display_name=name),
        "summary": f"{channel} at {minutes}",
    }
    if channel == "email":
        return EmailReceived(**common, provider="mailgun", subject="Hello")
    if channel == "chat":
        return ChatMessageReceived(**common, provider="widget", conversation_id="conv")
    if channel == "social":
        return SocialMessageReceived(**common, provider="meta", network="whatsapp", conversation_id="wa")
    raise AssertionError(channel)


def _purchase(amount: str, currency: str, minutes: int) -> PurchaseRecorded:
    money = Money(amount=Decimal(amount), currency=currency)
    return PurchaseRecorded(
        **_envelope(minutes),
        provider="shopify",
        provider_message_id=f"order-{uuid4()}",
        sender=Sender(identities=(EMAIL,)),
        summary="order",
        order_id=f"#{minutes}",
        lines=(PurchaseLine(name="Tea", quantity=Decimal("1"), unit_price=money, total=money),),
        total=money,
    )


def _linked(customer: UUID, identity: Identity, minutes: int) -> IdentityLinked:
    return IdentityLinked(
        **_envelope(minutes),
        customer_id=customer,
        identity=identity,
        rule="new_customer",
        evidence_event_id=uuid4(),
    )


def _fold(
    customer: UUID, events: list[tuple[int, Envelope]], card: CustomerCard | None = None
) -> CustomerCard:
    for position, event in events:
        card = evolve(card, Fact(position, customer, event))
    assert card is not None
    return card


class _Unrelated(Envelope):
    """An event type the card does not use (e.g. a deal event on another stream)."""

    EVENT_TYPE: ClassVar[str] = "deal.opened"
    event_type: Literal["deal.opened"] = "deal.opened"
    schema_version: Literal[1] = 1


# --- building a card ------------------------------------------------------------------------------


def test_a_card_is_built_from_identity_links_and_interactions_of_every_channel() -> None:
    customer = uuid4()
    card = _fold(
        customer,
        [
            (1, _linked(customer, EMAIL, 0)),
            (2, _linked(customer, PHONE, 0)),
            (3, _interaction("email", 0)),
            (4, _interaction("chat", 5)),
            (5, _interaction("chat", 7)),
            (6, _interaction("social", 9)),
            (7, _purchase("12.50", "USD", 11)),
        ],
    )
    assert card.customer_id == customer
    assert [view.key for view in card.identities] == [EMAIL.key, PHONE.key]
    assert card.emails == ["ada@example.com"]
    assert card.phones == ["+14155550100"]
    assert {name: stats.count for name, stats in card.channels.items()} == {
        "email": 1,
        "chat": 2,
        "social": 1,
        "pos": 1,
    }
    assert card.channels["chat"].last_at == _at(7)
    assert card.interaction_count == 5
    assert card.last_interaction_at == _at(11)
    assert card.display_name == "Ada Lovelace"
    assert card.created_at == _at(0)
    assert card.updated_at == _at(11)
    assert card.last_position == 7
    assert [view.position for view in card.recent_interactions] == [7, 6, 5, 4, 3]
    assert card.purchase_count == 1
    assert card.purchase_totals == {"USD": Decimal("12.50")}


def test_the_last_interaction_time_is_the_latest_even_when_events_arrive_out_of_order() -> None:
    customer = uuid4()
    card = _fold(customer, [(1, _interaction("email", 30)), (2, _interaction("email", 10))])
    assert card.last_interaction_at == _at(30)
    assert card.channels["email"].last_at == _at(30)
    assert card.created_at == _at(10)


def test_recent_interactions_are_newest_first_and_capped() -> None:
    customer = uuid4()
    count = RECENT_INTERACTIONS + 5
    card = _fold(customer, [(n, _interaction("chat", n)) for n in range(1, count + 1)])
    assert card.interaction_count == count
    assert len(card.recent_interactions) == RECENT_INTERACTIONS
    assert [view.position for view in card.recent_interactions] == list(range(count, 5, -1))


def test_recent_purchases_are_newest_first_and_capped() -> None:
    customer = uuid4()
    count = RECENT_PURCHASES + 3
    card = _fold(customer, [(n, _purchase("1", "USD", n)) for n in range(1, count + 1)])
    assert card.purchase_count == count
    assert len(card.recent_purchases) == RECENT_PURCHASES
    assert card.recent_purchases[0].position == count
    assert card.purchase_totals == {"USD": Decimal(count)}


def test_purchase_totals_are_exact_per_currency() -> None:
    customer = uuid4()
    card = _fold(
        customer,
        [
            (1, _purchase("0.10", "USD", 1)),
            (2, _purchase("0.20", "USD", 2)),
            (3, _purchase("0.0001", "EUR", 3)),
            (4, _purchase("99999.9999", "EUR", 4)),
        ],
    )
    assert card.purchase_totals == {"USD": Decimal("0.30"), "EUR": Decimal("100000.0000")}
    assert all(isinstance(total, Decimal) for total in card.purchase_totals.values())
    assert card.recent_purchases[0].amount == Decimal("99999.9999")


def test_an_identity_linked_twice_appears_once() -> None:
    customer = uuid4()
    card = _fold(customer, [(1, _linked(customer, EMAIL, 0)), (2, _linked(customer, EMAIL, 1))])
    assert [view.key for view in card.identities] == [EMAIL.key]


def test_a_nameless_interaction_keeps_the_display_name_already_known() -> None:
    customer = uuid4()
    card = _fold(customer, [(1, _interaction("chat", 0)), (2, _interaction("chat", 1, name=None))])
    assert card.display_name == "Ada Lovelace"


# --- idempotence and purity -----------------------------------------------------------------------


def test_applying_a_fact_twice_changes_nothing() -> None:
    customer = uuid4()
    fact = Fact(1, customer, _purchase("5", "USD", 0))
    once = evolve(None, fact)
    twice = evolve(once, fact)
    assert twice is once
    assert twice is not None and twice.purchase_totals == {"USD": Decimal("5")}
    assert twice.interaction_count == 1


def test_a_fact_older_than_the_card_is_ignored() -> None:
    customer = uuid4()
    card = _fold(customer, [(1, _interaction("chat", 0)), (5, _interaction("chat", 1))])
    assert evolve(card, Fact(3, customer, _interaction("email", 2))) is card


def test_replaying_a_whole_history_on_its_own_result_changes_nothing() -> None:
    customer = uuid4()
    history: list[tuple[int, Envelope]] = [
        (1, _linked(customer, EMAIL, 0)),
        (2, _interaction("chat", 1)),
        (3, _purchase("3.33", "USD", 2)),
    ]
    card = _fold(customer, history)
    assert _fold(customer, history, card) == card


def test_the_input_card_is_never_mutated() -> None:
    customer = uuid4()
    card = _fold(customer, [(1, _linked(customer, EMAIL, 0)), (2, _interaction("chat", 1))])
    before = card.model_dump()
    for position, event in [
        (3, _linked(customer, PHONE, 2)),
        (4, _interaction("chat", 3)),
        (5, _purchase("7", "EUR", 4)),
        (6, CustomerMergedInto(**_merge_fields(customer, uuid4()))),
    ]:
        after = evolve(card, Fact(position, customer, event))
        assert after is not card
        assert card.model_dump() == before


def test_an_unknown_event_type_leaves_the_card_unchanged() -> None:
    customer = uuid4()
    card = _fold(customer, [(1, _interaction("chat", 0))])
    assert evolve(card, Fact(2, customer, _Unrelated(**_envelope(1)))) is card
    assert evolve(None, Fact(2, customer, _Unrelated(**_envelope(1)))) is None


# --- merges ---------------------------------------------------------------------------------------


def _merge_fields(customer: UUID, other: UUID) -> dict[str, Any]:
    return {
        **_envelope(100),
        "customer_id": customer,
        "survivor_id": other,
        "rule": "exact_match",
        "evidence_event_id": uuid4(),
        "shared_identities": (EMAIL,),
    }


def _absorbed_event(survivor: UUID, absorbed: UUID, minutes: int) -> CustomerAbsorbed:
    return CustomerAbsorbed(
        **_envelope(minutes),
        customer_id=survivor,
        absorbed_id=absorbed,
        rule="exact_match",
        evidence_event_id=uuid4(),
        shared_identities=(EMAIL, PHONE),
    )


def test_the_merged_into_event_points_the_absorbed_card_at_its_survivor() -> None:
    absorbed, survivor = uuid4(), uuid4()
    card = _fold(absorbed, [(1, _interaction("chat", 0))])
    after = evolve(card, Fact(2, absorbed, CustomerMergedInto(**_merge_fields(absorbed, survivor))))
    assert after is not None
    assert after.merged_into == survivor
    assert after.interaction_count == 1
    assert after.last_position == 2


def _merged(
    survivor: UUID, theirs: list[tuple[int, Envelope]], ours: list[tuple[int, Envelope]], merge: Fact
) -> CustomerCard:
    """What the projection does on a merge (see refold): fold both histories in log order, then the mark."""
    history = sorted([*theirs, *ours], key=lambda pair: pair[0])
    return _fold(survivor, [*history, (merge.position, merge.event)])


def test_absorbing_a_customer_folds_its_history_into_the_survivor() -> None:
    survivor, absorbed = uuid4(), uuid4()
    theirs = [
        (2, _linked(absorbed, PHONE, 2)),
        (3, _linked(absorbed, HANDLE, 2)),
        (4, _interaction("chat", 3, name="A. Lovelace")),
        (6, _purchase("0.10", "USD", 5)),
        (7, _purchase("4", "GBP", 6)),
        (8, _interaction("social", 7)),
    ]
    ours = [
        (1, _linked(survivor, EMAIL, 0)),
        (5, _interaction("chat", 4)),
        (9, _purchase("0.20", "USD", 8)),
        (10, _linked(survivor, PHONE, 9)),
    ]
    merged = _merged(survivor, theirs, ours, Fact(11, survivor, _absorbed_event(survivor, absorbed, 10)))
    assert sorted(view.key for view in merged.identities) == sorted([EMAIL.key, PHONE.key, HANDLE.key])
    assert {name: stats.count for name, stats in merged.channels.items()} == {
        "chat": 2,
        "pos": 3,
        "social": 1,
    }
    assert merged.channels["pos"].last_at == _at(8)
    assert merged.interaction_count == 6
    assert merged.last_interaction_at == _at(8)
    assert merged.purchase_count == 3
    assert merged.purchase_totals == {"USD": Decimal("0.30"), "GBP": Decimal("4")}
    assert [view.position for view in merged.recent_interactions] == [9, 8, 7, 6, 5, 4]
    assert [view.position for view in merged.recent_purchases] == [9, 7, 6]
    assert merged.created_at == _at(0)
    assert merged.merged_from == [absorbed]
    assert merged.merged_into is None
    assert merged.last_position == 11
    assert [(m.kind, m.other_customer_id, m.position) for m in merged.merge_history] == [
        ("absorbed", absorbed, 11)
    ]


def test_absorbing_keeps_the_recent_lists_capped() -> None:
    survivor, absorbed = uuid4(), uuid4()
    half = RECENT_INTERACTIONS
    theirs = [(2 * n, _interaction("chat", n)) for n in range(1, half + 1)]
    ours = [(2 * n + 1, _interaction("email", n)) for n in range(1, half + 1)]
    merged = _merged(survivor, theirs, ours, Fact(1000, survivor, _absorbed_event(survivor, absorbed, 999)))
    assert merged.interaction_count == 2 * half
    positions = [view.position for view in merged.recent_interactions]
    assert len(positions) == RECENT_INTERACTIONS
    assert positions == sorted(positions, reverse=True)
    assert positions[0] == 2 * half + 1


def test_absorbing_a_customer_that_itself_absorbed_another_carries_both_ids() -> None:
    survivor, absorbed, earlier = uuid4(), uuid4(), uuid4()
    theirs = [(1, _interaction("chat", 0)), (2, _absorbed_event(absorbed, earlier, 1))]
    ours = [(3, _interaction("chat", 1))]
    merged = _merged(survivor, theirs, ours, Fact(4, survivor, _absorbed_event(survivor, absorbed, 2)))
    assert merged.merged_from == [earlier, absorbed]


def test_the_unmerge_and_restore_marks_are_recorded_and_restore_clears_merged_into() -> None:
    survivor, absorbed = uuid4(), uuid4()
    merged_into = CustomerMergedInto(**_merge_fields(absorbed, survivor))
    unmerge_id, merge_id = uuid4(), uuid4()
    restored = CustomerRestored(
        **_envelope(200),
        customer_id=absorbed,
        survivor_id=survivor,
        merge_event_id=merge_id,
        unmerge_event_id=unmerge_id,
        returned_identities=(PHONE,),
        actor="staff:kim",
    )
    card = _fold(absorbed, [(1, _interaction("chat", 0)), (2, merged_into), (5, restored)])
    assert card.merged_into is None
    assert [(m.kind, m.other_customer_id, m.merge_event_id, m.actor) for m in card.merge_history] == [
        ("merged_into", survivor, None, None),
        ("restored", survivor, merge_id, "staff:kim"),
    ]
    unmerged = CustomerUnmerged(
        **_envelope(200),
        customer_id=survivor,
        restored_id=absorbed,
        merge_event_id=merge_id,
        returned_identities=(PHONE,),
        actor="staff:kim",
        reason="two people",
    )
    ours = _fold(survivor, [(3, _interaction("email", 0)), (4, unmerged)])
    assert [(m.kind, m.other_customer_id, m.identities) for m in ours.merge_history] == [
        ("unmerged", absorbed, [PHONE.key])
    ]
    assert ours.interaction_count == 1


def test_each_identity_shows_its_source_channel_and_first_and_last_seen_even_out_of_order() -> None:
    customer = uuid4()
    staff_link = _linked(customer, HANDLE, 0).model_copy(update={"rule": "staff"})
    card = _fold(
        customer,
        [
            (1, _linked(customer, EMAIL, 5)),
            (2, _interaction("chat", 5, identities=(EMAIL,))),
            (3, _interaction("email", 2, identities=(EMAIL,))),  # delivered late: the earliest contact
            (4, _interaction("social", 9, identities=(EMAIL,))),
            (5, staff_link),
            (6, _interaction("chat", 7, identities=(HANDLE,))),
        ],
    )
    email, handle = card.identities
    assert (email.source, email.first_seen_at, email.last_seen_at) == ("email", _at(2), _at(9))
    assert (handle.source, handle.first_seen_at, handle.last_seen_at) == ("staff", _at(7), _at(7))
