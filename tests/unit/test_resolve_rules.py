"""Identity resolution under rules: blocked values, non-merging kinds, limits, priority, separations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import Identity, IdentityKind, normalise_identity
from contracts.identity_rules import DEFAULT_RULES, IdentityRules, parse_identity_rules
from services.timeline.resolve import (
    BLOCKED,
    EXACT_MATCH,
    HELD_ELSEWHERE,
    NEW_CUSTOMER,
    SEPARATED,
    SHARED,
    TOO_SHARED,
    Merge,
    RefusedMerge,
    Skipped,
    resolve,
)
from tests.unit.test_identity_rules import BLOCKED_BY_SHIPPED_RULES, SHIPPED

pytestmark = pytest.mark.unit

ALICE_MAIL = normalise_identity(IdentityKind.EMAIL, "alice@example.com")
BOB_MAIL = normalise_identity(IdentityKind.EMAIL, "bob@example.com")
NEW_MAIL = normalise_identity(IdentityKind.EMAIL, "bob.work@example.com")
FAMILY_PHONE = normalise_identity(IdentityKind.PHONE, "+14155550123")
CARD = normalise_identity(IdentityKind.LOYALTY, "card-9")
HANDLE = normalise_identity(IdentityKind.HANDLE, "v_1", provider="widget")
SHOP_1 = normalise_identity(IdentityKind.EXTERNAL, "1001", provider="shopify")
SHOP_2 = normalise_identity(IdentityKind.EXTERNAL, "1002", provider="shopify")
ORDER = normalise_identity(IdentityKind.EXTERNAL, "7001", provider="shopify_order")
NEW = UUID("00000000-0000-0000-0000-00000000000a")

PHONES_DO_NOT_MERGE = parse_identity_rules("[kinds.phone]\nmerge = false\nmax_customers_per_value = 2\n")
ONE_SHOP_ID = parse_identity_rules("[kinds.external.providers.shopify]\nmax_per_customer = 1\n")


def _held(**by_key: Sequence[UUID]) -> dict[str, tuple[UUID, ...]]:
    return {key: tuple(customers) for key, customers in by_key.items()}


# ---- blocked values -------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "value", "provider"), BLOCKED_BY_SHIPPED_RULES)
def test_a_blocked_value_is_never_linked(kind: IdentityKind, value: str, provider: str | None) -> None:
    blocked = normalise_identity(kind, value, provider=provider)
    resolution = resolve([blocked, HANDLE], {}, {}, NEW, SHIPPED)
    assert resolution.customer_id == NEW
    assert resolution.new_links == (HANDLE,)
    assert resolution.skipped == (Skipped(blocked, BLOCKED),)


@pytest.mark.parametrize(("kind", "value", "provider"), BLOCKED_BY_SHIPPED_RULES)
def test_a_blocked_value_linked_before_the_rule_never_matches(
    kind: IdentityKind, value: str, provider: str | None
) -> None:
    blocked = normalise_identity(kind, value, provider=provider)
    holder = uuid4()
    resolution = resolve([blocked], {blocked.key: (holder,)}, {holder: 1}, NEW, SHIPPED)
    assert resolution.customer_id == NEW, "the value means nobody: the event does not go to its old holder"
    assert resolution.is_new_customer
    assert resolution.new_links == ()


def test_a_blocked_value_shared_by_two_customers_never_merges_them() -> None:
    placeholder = normalise_identity(IdentityKind.EMAIL, "test@example.com")
    alice, bob = uuid4(), uuid4()
    resolution = resolve(
        [placeholder, BOB_MAIL],
        _held(**{placeholder.key: [alice], BOB_MAIL.key: [bob]}),
        {alice: 1, bob: 2},
        NEW,
        SHIPPED,
    )
    assert (resolution.customer_id, resolution.merges) == (bob, ())


# ---- identities that may not merge: the family phone ---------------------------------------------


def test_two_people_paying_with_one_phone_are_not_merged_and_both_hold_the_phone() -> None:
    alice, bob = uuid4(), uuid4()
    held = _held(**{ALICE_MAIL.key: [alice], FAMILY_PHONE.key: [alice], BOB_MAIL.key: [bob]})

    resolution = resolve([BOB_MAIL, FAMILY_PHONE], held, {alice: 1, bob: 2}, NEW, PHONES_DO_NOT_MERGE)

    assert resolution.customer_id == bob
    assert resolution.merges == () and resolution.refused == ()
    assert resolution.shared_links == (FAMILY_PHONE,)
    assert resolution.links == ((FAMILY_PHONE, SHARED),)


def test_the_same_event_merges_the_two_people_under_the_default_rules() -> None:
    alice, bob = uuid4(), uuid4()
    held = _held(**{ALICE_MAIL.key: [alice], FAMILY_PHONE.key: [alice], BOB_MAIL.key: [bob]})
    resolution = resolve([BOB_MAIL, FAMILY_PHONE], held, {alice: 1, bob: 2}, NEW)
    assert resolution.customer_id == alice
    assert resolution.merges == (Merge(bob, (BOB_MAIL, FAMILY_PHONE), "auto:email"),)


def test_an_event_known_only_by_a_shared_phone_goes_to_its_oldest_holder() -> None:
    alice, bob = uuid4(), uuid4()
    for order in ([alice, bob], [bob, alice]):
        resolution = resolve(
            [FAMILY_PHONE], _held(**{FAMILY_PHONE.key: order}), {alice: 1, bob: 2}, NEW, PHONES_DO_NOT_MERGE
        )
        assert (resolution.customer_id, resolution.is_new_customer) == (alice, False)
        assert resolution.links == ()


def test_a_new_email_with_a_shared_phone_makes_a_new_customer_instead_of_guessing() -> None:
    alice, bob = uuid4(), uuid4()
    held = _held(**{FAMILY_PHONE.key: [alice, bob]})
    resolution = resolve([NEW_MAIL, FAMILY_PHONE], held, {alice: 1, bob: 2}, NEW, PHONES_DO_NOT_MERGE)
    assert (resolution.customer_id, resolution.is_new_customer) == (NEW, True)
    assert resolution.links == ((NEW_MAIL, NEW_CUSTOMER), (FAMILY_PHONE, SHARED))


def test_a_new_email_paid_with_a_phone_of_one_other_customer_is_not_glued_to_that_customer() -> None:
    alice = uuid4()
    held = _held(**{FAMILY_PHONE.key: [alice]})
    resolution = resolve([NEW_MAIL, FAMILY_PHONE], held, {alice: 1}, NEW, PHONES_DO_NOT_MERGE)
    assert (resolution.customer_id, resolution.is_new_customer) == (NEW, True)
    assert resolution.links == ((NEW_MAIL, NEW_CUSTOMER), (FAMILY_PHONE, SHARED))


def test_a_phone_that_may_not_merge_still_finds_its_customer_for_an_event_known_only_by_it() -> None:
    alice = uuid4()
    held = _held(**{FAMILY_PHONE.key: [alice]})
    resolution = resolve([FAMILY_PHONE], held, {alice: 1}, NEW, PHONES_DO_NOT_MERGE)
    assert (resolution.customer_id, resolution.is_new_customer, resolution.links) == (alice, False, ())


def test_a_new_phone_is_linked_to_the_customer_a_merging_identity_found() -> None:
    alice = uuid4()
    held = _held(**{ALICE_MAIL.key: [alice]})
    resolution = resolve([ALICE_MAIL, FAMILY_PHONE], held, {alice: 1}, NEW, PHONES_DO_NOT_MERGE)
    assert resolution.customer_id == alice
    assert resolution.links == ((FAMILY_PHONE, EXACT_MATCH),)


def test_an_email_held_by_two_customers_is_ambiguous_and_proves_no_merge() -> None:
    alice, bob, carol = uuid4(), uuid4(), uuid4()
    held = _held(**{ALICE_MAIL.key: [alice, bob], CARD.key: [carol]})
    resolution = resolve([ALICE_MAIL, CARD], held, {alice: 1, bob: 2, carol: 3}, NEW)
    assert resolution.customer_id == carol
    assert resolution.merges == ()
    assert resolution.shared_links == (ALICE_MAIL,)


# ---- max_customers_per_value -----------------------------------------------------------------------


def test_a_phone_may_be_attached_to_one_customer_more_than_its_limit_which_proves_it_too_shared() -> None:
    alice, bob, carol = uuid4(), uuid4(), uuid4()
    held = _held(**{FAMILY_PHONE.key: [alice, bob], CARD.key: [carol]})
    resolution = resolve([CARD, FAMILY_PHONE], held, {alice: 1, bob: 2, carol: 3}, NEW, PHONES_DO_NOT_MERGE)
    assert resolution.shared_links == (FAMILY_PHONE,)


def test_a_phone_shared_by_more_customers_than_its_limit_stops_matching_and_linking() -> None:
    a, b, c, d = uuid4(), uuid4(), uuid4(), uuid4()
    held = _held(**{FAMILY_PHONE.key: [a, b, c], CARD.key: [d]})
    seniority = {a: 1, b: 2, c: 3, d: 4}

    alone = resolve([FAMILY_PHONE], held, seniority, NEW, PHONES_DO_NOT_MERGE)
    with_card = resolve([CARD, FAMILY_PHONE], held, seniority, NEW, PHONES_DO_NOT_MERGE)

    assert (alone.customer_id, alone.is_new_customer, alone.links) == (NEW, True, ())
    assert alone.skipped == (Skipped(FAMILY_PHONE, TOO_SHARED),)
    assert (with_card.customer_id, with_card.links) == (d, ())
    assert with_card.skipped == (Skipped(FAMILY_PHONE, TOO_SHARED),)


# ---- max_per_customer ----------------------------------------------------------------------------


def test_a_second_shop_customer_id_is_not_linked_to_a_customer_that_has_one() -> None:
    alice = uuid4()
    held = _held(**{ALICE_MAIL.key: [alice], SHOP_1.key: [alice]})
    holdings = {alice: [ALICE_MAIL.key, SHOP_1.key]}
    resolution = resolve([ALICE_MAIL, SHOP_2, ORDER], held, {alice: 1}, NEW, ONE_SHOP_ID, holdings=holdings)
    assert resolution.customer_id == alice
    assert resolution.new_links == (ORDER,), "order ids are not limited"
    assert resolution.skipped == (Skipped(SHOP_2, "limit:external:shopify"),)


def test_of_two_new_shop_ids_in_one_event_the_first_is_linked() -> None:
    resolution = resolve([SHOP_2, SHOP_1, ALICE_MAIL], {}, {}, NEW, ONE_SHOP_ID, holdings={})
    assert resolution.new_links == (SHOP_2, ALICE_MAIL)
    assert resolution.skipped == (Skipped(SHOP_1, "limit:external:shopify"),)


def test_a_merge_that_would_give_a_customer_two_shop_ids_is_refused() -> None:
    alice, bob = uuid4(), uuid4()
    held = _held(**{ALICE_MAIL.key: [alice], CARD.key: [bob]})
    holdings = {alice: [ALICE_MAIL.key, SHOP_1.key], bob: [CARD.key, SHOP_2.key]}

    resolution = resolve([ALICE_MAIL, CARD], held, {alice: 1, bob: 2}, NEW, ONE_SHOP_ID, holdings=holdings)

    assert resolution.merges == ()
    assert resolution.refused == (RefusedMerge(bob, alice, "limit:external:shopify", (ALICE_MAIL, CARD)),)
    assert resolution.customer_id == bob, "the loyalty card outranks the email"
    assert resolution.skipped == (Skipped(ALICE_MAIL, HELD_ELSEWHERE),), "alice keeps her email"
    assert resolution.survivor is None


def test_a_merge_of_customers_holding_the_same_shop_id_is_not_refused() -> None:
    alice, bob = uuid4(), uuid4()
    held = _held(**{ALICE_MAIL.key: [alice], CARD.key: [bob]})
    holdings = {alice: [ALICE_MAIL.key, SHOP_1.key], bob: [CARD.key, SHOP_1.key]}
    resolution = resolve([ALICE_MAIL, CARD], held, {alice: 1, bob: 2}, NEW, ONE_SHOP_ID, holdings=holdings)
    assert resolution.merges == (Merge(bob, (ALICE_MAIL, CARD), "auto:loyalty"),)


# ---- priority --------------------------------------------------------------------------------------


def test_priority_decides_where_an_event_goes_when_its_customers_stay_apart() -> None:
    alice, bob = uuid4(), uuid4()
    held = _held(**{ALICE_MAIL.key: [alice], CARD.key: [bob]})
    separated = [frozenset((alice, bob))]
    email_first = parse_identity_rules("[kinds.email]\npriority = 90\n")

    by_default = resolve([ALICE_MAIL, CARD], held, {alice: 1, bob: 2}, NEW, separated=separated)
    by_email = resolve([ALICE_MAIL, CARD], held, {alice: 1, bob: 2}, NEW, email_first, separated)

    assert by_default.customer_id == bob
    assert by_email.customer_id == alice


def test_priority_does_not_choose_the_survivor_of_a_merge_the_oldest_customer_survives() -> None:
    alice, bob = uuid4(), uuid4()
    held = _held(**{ALICE_MAIL.key: [alice], CARD.key: [bob]})
    resolution = resolve([ALICE_MAIL, CARD], held, {alice: 1, bob: 2}, NEW)
    assert (resolution.customer_id, resolution.survivor) == (alice, alice)


def test_a_merging_identity_decides_before_a_non_merging_one_of_higher_priority() -> None:
    alice, bob = uuid4(), uuid4()
    rules = parse_identity_rules("[kinds.phone]\nmerge = false\npriority = 99\n")
    held = _held(**{FAMILY_PHONE.key: [alice], BOB_MAIL.key: [bob]})
    resolution = resolve([FAMILY_PHONE, BOB_MAIL], held, {alice: 1, bob: 2}, NEW, rules)
    assert (resolution.customer_id, resolution.merges) == (bob, ())
    assert resolution.shared_links == (FAMILY_PHONE,)


def test_of_two_weak_identities_the_one_of_higher_priority_decides() -> None:
    alice, bob = uuid4(), uuid4()
    rules = parse_identity_rules("[kinds.phone]\nmerge = false\n[kinds.handle]\nmerge = false\n")
    held = _held(**{FAMILY_PHONE.key: [alice], HANDLE.key: [bob]})
    resolution = resolve([FAMILY_PHONE, HANDLE], held, {alice: 1, bob: 2}, NEW, rules)
    assert resolution.customer_id == bob, "handle (20) outranks phone (10), whatever the order"
    assert resolution.shared_links == (FAMILY_PHONE,)


# ---- separated pairs -----------------------------------------------------------------------------


def test_customers_a_staff_member_separated_are_never_merged_again_automatically() -> None:
    alice, bob = uuid4(), uuid4()
    held = _held(**{ALICE_MAIL.key: [alice], BOB_MAIL.key: [bob]})
    resolution = resolve(
        [ALICE_MAIL, BOB_MAIL, HANDLE], held, {alice: 1, bob: 2}, NEW, separated={frozenset((alice, bob))}
    )
    assert resolution.merges == ()
    assert resolution.refused == (RefusedMerge(bob, alice, SEPARATED, (ALICE_MAIL, BOB_MAIL)),)
    assert resolution.customer_id == alice, "same priority: the event's order decides"
    assert resolution.new_links == (HANDLE,)
    assert resolution.skipped == (Skipped(BOB_MAIL, HELD_ELSEWHERE),)


def test_a_separation_from_a_customer_absorbed_in_the_same_event_also_refuses() -> None:
    oldest, middle, youngest = uuid4(), uuid4(), uuid4()
    held = _held(**{ALICE_MAIL.key: [oldest], BOB_MAIL.key: [middle], CARD.key: [youngest]})
    resolution = resolve(
        [ALICE_MAIL, BOB_MAIL, CARD],
        held,
        {oldest: 1, middle: 2, youngest: 3},
        NEW,
        separated=[frozenset((middle, youngest))],
    )
    assert resolution.merges == (Merge(middle, (ALICE_MAIL, BOB_MAIL), "auto:email"),)
    assert [(r.customer, r.reason) for r in resolution.refused] == [(youngest, SEPARATED)]
    assert resolution.customer_id == youngest, "its loyalty card has the highest priority"
    assert resolution.survivor == oldest


def test_a_separated_pair_elsewhere_does_not_stop_this_merge() -> None:
    alice, bob = uuid4(), uuid4()
    held = _held(**{ALICE_MAIL.key: [alice], BOB_MAIL.key: [bob]})
    resolution = resolve(
        [ALICE_MAIL, BOB_MAIL], held, {alice: 1, bob: 2}, NEW, separated=[frozenset((alice, uuid4()))]
    )
    assert [m.absorbed for m in resolution.merges] == [bob]


# ---- merge rules and evidence ---------------------------------------------------------------------


def test_a_merge_is_named_after_the_identity_that_tied_the_absorbed_customer_in() -> None:
    alice, bob = uuid4(), uuid4()
    held = _held(**{ALICE_MAIL.key: [alice], CARD.key: [bob], HANDLE.key: [bob]})
    resolution = resolve([HANDLE, ALICE_MAIL, CARD], held, {alice: 1, bob: 2}, NEW)
    (merge,) = resolution.merges
    assert merge.rule == "auto:loyalty", "the highest-priority identity of the absorbed customer"
    assert merge.shared == (HANDLE, ALICE_MAIL, CARD)


def test_a_kind_that_may_not_merge_is_no_evidence_of_a_merge_other_kinds_prove() -> None:
    alice, bob = uuid4(), uuid4()
    held = _held(**{ALICE_MAIL.key: [alice], FAMILY_PHONE.key: [alice], CARD.key: [bob]})
    resolution = resolve([FAMILY_PHONE, ALICE_MAIL, CARD], held, {alice: 1, bob: 2}, NEW, PHONES_DO_NOT_MERGE)
    assert resolution.merges == (Merge(bob, (ALICE_MAIL, CARD), "auto:loyalty"),)


def test_an_event_of_only_blocked_identities_gets_a_customer_of_its_own() -> None:
    placeholder = normalise_identity(IdentityKind.EMAIL, "noreply@shop.example")
    resolution = resolve([placeholder], {}, {}, NEW, SHIPPED)
    assert (resolution.customer_id, resolution.is_new_customer, resolution.links) == (NEW, True, ())


# ---- the default rules are the resolver from before rules ----------------------------------------


def _exact_match(
    identities: Sequence[Identity], owners: Mapping[str, UUID], seniority: Mapping[UUID, int]
) -> tuple[UUID, tuple[Identity, ...], tuple[tuple[UUID, tuple[Identity, ...]], ...]]:
    """The resolver as it was before rules (copied from the history): customer, links, merges."""
    unique = list({identity.key: identity for identity in identities}.values())
    known = [(identity, owners[identity.key]) for identity in unique if identity.key in owners]
    if not known:
        return NEW, tuple(unique), ()
    customers = sorted({c for _, c in known}, key=lambda c: (seniority.get(c, 2**63), str(c)))
    survivor = customers[0]
    merges = tuple(
        (absorbed, tuple(identity for identity, owner in known if owner in (absorbed, survivor)))
        for absorbed in customers[1:]
    )
    return survivor, tuple(i for i in unique if i.key not in owners), merges


POOL = [ALICE_MAIL, BOB_MAIL, NEW_MAIL, FAMILY_PHONE, CARD, HANDLE, SHOP_1, SHOP_2, ORDER]
CUSTOMERS = [UUID(int=n) for n in range(1, 5)]


@given(
    identities=st.lists(st.sampled_from(POOL), min_size=1, max_size=6),
    owned=st.dictionaries(st.sampled_from([i.key for i in POOL]), st.sampled_from(CUSTOMERS), max_size=6),
    ages=st.permutations(range(len(CUSTOMERS))),
)
def test_the_default_rules_decide_exactly_as_the_exact_match_resolver_did(
    identities: list[Identity], owned: dict[str, UUID], ages: list[int]
) -> None:
    seniority = dict(zip(CUSTOMERS, ages, strict=True))
    rules: IdentityRules = DEFAULT_RULES
    resolution = resolve(identities, {k: (c,) for k, c in owned.items()}, seniority, NEW, rules)
    customer, links, merges = _exact_match(identities, owned, seniority)
    assert resolution.customer_id == customer
    assert resolution.new_links == links
    assert tuple((m.absorbed, m.shared) for m in resolution.merges) == merges
    assert resolution.shared_links == resolution.refused == resolution.skipped == ()
