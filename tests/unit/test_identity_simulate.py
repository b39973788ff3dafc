"""The simulate replay, pure: staff links, staff merges and unmerged pairs count as the writer would."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from contracts import (
    ChatMessageReceived,
    CustomerAbsorbed,
    CustomerUnmerged,
    Envelope,
    Identity,
    IdentityKind,
    IdentityLinked,
    Sender,
    derived_event_id,
    event_id_for,
    normalise_identity,
)
from contracts.identity_rules import DEFAULT_RULES, parse_identity_rules
from hub.identity_simulate import compare, history_of, replay

pytestmark = pytest.mark.unit

T0 = datetime(2025, 6, 9, 12, 0, tzinfo=UTC)
ALICE = normalise_identity(IdentityKind.EMAIL, "alice@example.com")
BOB = normalise_identity(IdentityKind.EMAIL, "bob@example.com")
INSTAGRAM = normalise_identity(IdentityKind.HANDLE, "1784", provider="instagram")
PHONE = normalise_identity(IdentityKind.PHONE, "+14155550123")
PHONES_DO_NOT_MERGE = parse_identity_rules("[kinds.phone]\nmerge = false\n")


def _envelope(tag: str) -> dict[str, object]:
    return {
        "event_id": event_id_for("test", tag),
        "occurred_at": T0,
        "received_at": T0,
        "correlation_id": tag,
    }


def _chat(tag: str, *identities: Identity) -> ChatMessageReceived:
    return ChatMessageReceived(
        **_envelope(tag),  # type: ignore[arg-type]
        provider="widget",
        provider_message_id=tag,
        sender=Sender(identities=identities),
        conversation_id="c",
    )


def _customer_of(tag: str) -> UUID:
    """The id the writer gives a customer that event ``tag`` creates."""
    return derived_event_id(event_id_for("test", tag), "customer")


def _staff_link(tag: str, customer: UUID, identity: Identity) -> IdentityLinked:
    return IdentityLinked(
        **_envelope(tag),  # type: ignore[arg-type]
        customer_id=customer,
        identity=identity,
        rule="staff",
        evidence_event_id=event_id_for("test", tag),
        actor="anna",
    )


def _log(*events: Envelope) -> list[tuple[int, Envelope]]:
    return list(enumerate(events, start=1))


def test_a_staff_link_makes_later_messages_of_that_identity_land_on_the_customer() -> None:
    alice = _customer_of("a1")
    history = history_of(
        _log(_chat("a1", ALICE), _staff_link("s1", alice, INSTAGRAM), _chat("a2", INSTAGRAM))
    )

    run = replay(history, DEFAULT_RULES)

    assert run.customer_of(event_id_for("test", "a2")) == alice


def test_a_staff_link_of_an_identity_another_customer_holds_is_not_applied_as_the_api_refuses_it() -> None:
    alice, bob = _customer_of("a1"), _customer_of("b1")
    history = history_of(
        _log(
            _chat("a1", ALICE),
            _chat("b1", BOB, INSTAGRAM),
            _staff_link("s1", alice, INSTAGRAM),
            _chat("x", INSTAGRAM),
        )
    )
    assert replay(history, DEFAULT_RULES).customer_of(event_id_for("test", "x")) == bob


def test_a_staff_merge_is_replayed_in_both_runs_so_it_is_no_difference() -> None:
    alice, bob = _customer_of("a1"), _customer_of("b1")
    merge = CustomerAbsorbed(
        **_envelope("m"),  # type: ignore[arg-type]
        customer_id=alice,
        absorbed_id=bob,
        rule="staff",
        evidence_event_id=event_id_for("test", "m"),
        actor="anna",
    )
    history = history_of(_log(_chat("a1", ALICE), _chat("b1", BOB), merge, _chat("b2", BOB)))

    run = replay(history, DEFAULT_RULES)
    comparison = compare(history, DEFAULT_RULES, PHONES_DO_NOT_MERGE)

    assert run.customer_of(event_id_for("test", "b1")) == run.customer_of(event_id_for("test", "b2")) == alice
    assert (comparison.merges, comparison.splits, comparison.current_customers) == ((), (), 1)


def test_customers_a_staff_member_unmerged_stay_apart_in_both_runs() -> None:
    alice, bob = _customer_of("a1"), _customer_of("b1")
    unmerged = CustomerUnmerged(
        **_envelope("u"),  # type: ignore[arg-type]
        customer_id=alice,
        restored_id=bob,
        merge_event_id=uuid4(),
        actor="anna",
    )
    history = history_of(_log(_chat("a1", ALICE), _chat("b1", BOB), _chat("both", ALICE, BOB), unmerged))

    assert history.separated == frozenset({frozenset((alice, bob))})
    run = replay(history, DEFAULT_RULES)
    assert run.customer_of(event_id_for("test", "b1")) == bob
    assert run.customer_of(event_id_for("test", "a1")) == alice


def test_interactions_are_compared_by_where_they_land_not_by_customer_ids() -> None:
    alice, bob = _customer_of("a1"), _customer_of("b1")
    history = history_of(_log(_chat("a1", ALICE, PHONE), _chat("b1", BOB), _chat("pay", BOB, PHONE)))

    comparison = compare(history, PHONES_DO_NOT_MERGE, DEFAULT_RULES)
    back = compare(history, DEFAULT_RULES, PHONES_DO_NOT_MERGE)

    assert [(m.customers, m.into, m.interactions) for m in comparison.merges] == [
        (tuple(sorted([alice, bob], key=str)), alice, 3)
    ]
    assert [(s.customer, dict(s.into)) for s in back.splits] == [(alice, {alice: 1, bob: 2})]
