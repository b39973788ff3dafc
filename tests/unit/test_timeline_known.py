"""The batch writer's in-memory identity facts: they change as the store would, and they decide as the
resolver decides on the same facts read from the store."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from contracts import (
    ChatMessageReceived,
    Identity,
    IdentityKind,
    IdentityLinked,
    Sender,
    derived_event_id,
    event_id_for,
    normalise_identity,
)
from contracts.identity_rules import DEFAULT_RULES, IdentityRules, parse_identity_rules
from services.timeline.known import NEW_CUSTOMER_SENIORITY, KnownIdentities
from services.timeline.resolve import Merge, Resolution, resolve
from services.timeline.store import _link_events
from tests.unit.test_identity_rules import SHIPPED

pytestmark = pytest.mark.unit

AT = datetime(2025, 6, 9, 12, 0, tzinfo=UTC)
A, B, C = (UUID(int=n) for n in (1, 2, 3))
MAIL = normalise_identity(IdentityKind.EMAIL, "ada@example.com")
WORK_MAIL = normalise_identity(IdentityKind.EMAIL, "ada@work.example.com")
PHONE = normalise_identity(IdentityKind.PHONE, "+14155550123")
SHOP = normalise_identity(IdentityKind.EXTERNAL, "1001", provider="shopify")
ORDER = normalise_identity(IdentityKind.EXTERNAL, "7001", provider="shopify_order")
BLOCKED_MAIL = normalise_identity(IdentityKind.EMAIL, "test@example.com")  # blocked by the shipped rules
FAMILY = parse_identity_rules(
    "[kinds.phone]\nmerge = false\nmax_customers_per_value = 2\n[kinds.email]\nmax_per_customer = 1\n"
)


def _chat(n: int, *identities: Identity) -> ChatMessageReceived:
    return ChatMessageReceived(
        event_id=event_id_for("widget", f"m{n}"),
        occurred_at=AT,
        received_at=AT,
        correlation_id=f"c{n}",
        provider="widget",
        provider_message_id=f"m{n}",
        sender=Sender(identities=identities),
        conversation_id="conv",
    )


def _known(owners: dict[str, list[UUID]], holdings: dict[UUID, set[str]] | None = None) -> KnownIdentities:
    return KnownIdentities.read(owners, {A: 10, B: 20, C: 30}, set(), holdings)


def test_a_merge_moves_the_absorbed_customers_identities_to_the_survivor_held_once() -> None:
    known = _known(
        {MAIL.key: [A], PHONE.key: [B], SHOP.key: [A, B]},
        {A: {MAIL.key, SHOP.key}, B: {PHONE.key, SHOP.key, "email:old@example.com"}},
    )
    known.record(Resolution(A, False, (), (Merge(B, (PHONE,), "auto:phone"),), survivor=A))
    assert known.owners == {MAIL.key: [A], PHONE.key: [A], SHOP.key: [A]}
    assert known.holdings == {A: {MAIL.key, SHOP.key, PHONE.key, "email:old@example.com"}}


def test_links_add_holders_but_order_references_are_no_holding() -> None:
    known = _known({PHONE.key: [A]}, {A: {PHONE.key}})
    new = derived_event_id(event_id_for("widget", "m1"), "customer")
    known.record(Resolution(new, True, (MAIL, ORDER), (), shared_links=(PHONE,)))
    assert known.owners == {PHONE.key: [A, new], MAIL.key: [new], ORDER.key: [new]}
    assert known.holdings == {A: {PHONE.key}, new: {PHONE.key, MAIL.key}}


def test_customers_a_batch_creates_are_younger_than_every_stored_one_in_batch_order() -> None:
    known = _known({})
    first, second = UUID(int=7), UUID(int=8)
    known.record(Resolution(first, True, (MAIL,), ()))
    known.record(Resolution(second, True, (PHONE,), ()))
    assert known.seniority[C] < known.seniority[first] == NEW_CUSTOMER_SENIORITY < known.seniority[second]


def test_link_events_made_without_validation_are_valid_as_made() -> None:
    event = _chat(1, MAIL, ORDER)
    resolution = Resolution(A, True, (MAIL, ORDER), ())
    for new in _link_events(event, resolution):
        assert IdentityLinked.model_validate(new.event.model_dump(mode="json")) == new.event


def test_order_references_are_never_limited_per_customer_even_where_their_kind_is() -> None:
    """A buyer gains one per order: a limit would refuse buyers, and counting them would make the writer
    read every order of a customer (they are kept apart from the person identities it reads)."""
    rules = parse_identity_rules(
        "[kinds.external]\nmax_per_customer = 1\n"
        "[kinds.external.providers.shopify_order]\nmax_per_customer = 1\n"
    )
    assert rules.max_per_customer((IdentityKind.EXTERNAL, "shopify_order")) is None
    assert rules.max_per_customer((IdentityKind.EXTERNAL, "square_payment")) is None
    assert rules.max_per_customer((IdentityKind.EXTERNAL, "shopify")) == 1


IDENTITIES = (MAIL, WORK_MAIL, PHONE, SHOP, ORDER, BLOCKED_MAIL)
holders = st.lists(st.sampled_from((A, B, C)), max_size=3, unique=True)


@settings(max_examples=300, deadline=None)
@given(
    owners=st.fixed_dictionaries({i.key: holders for i in IDENTITIES}),
    sent=st.lists(st.sampled_from(IDENTITIES), min_size=1, max_size=4),
    rules=st.sampled_from((DEFAULT_RULES, SHIPPED, FAMILY)),
    separated=st.booleans(),
)
@example(owners={MAIL.key: [A]}, sent=[MAIL, BLOCKED_MAIL], rules=SHIPPED, separated=False)  # shortcut
@example(owners={PHONE.key: [A, B]}, sent=[PHONE, MAIL], rules=FAMILY, separated=True)  # shared phone
def test_the_in_memory_facts_decide_as_the_resolver_decides_on_the_same_facts(
    owners: dict[str, list[UUID]], sent: list[Identity], rules: IdentityRules, separated: bool
) -> None:
    """Including the shortcut for senders one customer holds entirely (KnownIdentities._known_customer)."""
    owners = {key: held for key, held in owners.items() if held}
    pairs = {frozenset((A, B))} if separated else set()
    holdings = {c: {k for k, held in owners.items() if c in held and k != ORDER.key} for c in (A, B, C)}
    known = KnownIdentities.read(owners, {A: 10, B: 20, C: 30}, pairs, holdings)
    event = _chat(1, *sent)
    mine = {i.key: tuple(owners[i.key]) for i in sent if owners.get(i.key)}
    candidates = {c for held in mine.values() for c in held}
    expected = resolve(
        sent,
        mine,
        {c: {A: 10, B: 20, C: 30}[c] for c in candidates},
        derived_event_id(event.event_id, "customer"),
        rules,
        separated=pairs,
        holdings={c: holdings[c] for c in candidates},
    )
    assert known.resolve(event, rules) == expected
