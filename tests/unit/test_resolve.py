"""Identity resolution by exact match: who an interaction belongs to, what is linked, what merges.

These are the tests of the resolver from before rules existed, unchanged but for the shape of
``owners`` (several customers per identity) and the rule now named on a merge: they prove that the
default rules resolve exactly as before.
"""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from contracts import Identity, IdentityKind, normalise_identity
from services.timeline.resolve import Merge, resolve

pytestmark = pytest.mark.unit

EMAIL = normalise_identity(IdentityKind.EMAIL, "ada@example.com")
PHONE = normalise_identity(IdentityKind.PHONE, "+14155550100")
HANDLE = normalise_identity(IdentityKind.HANDLE, "v_1", provider="widget")
LOYALTY = normalise_identity(IdentityKind.LOYALTY, "card-9")
NEW = UUID("00000000-0000-0000-0000-00000000000a")


def _owners(**by_identity: UUID) -> dict[str, tuple[UUID, ...]]:
    names = {"email": EMAIL, "phone": PHONE, "handle": HANDLE, "loyalty": LOYALTY}
    return {names[name].key: (customer,) for name, customer in by_identity.items()}


def test_a_sender_nobody_knows_becomes_a_new_customer_with_all_identities_linked() -> None:
    resolution = resolve([EMAIL, PHONE], owners={}, seniority={}, new_customer_id=NEW)
    assert resolution.customer_id == NEW
    assert resolution.is_new_customer
    assert resolution.new_links == (EMAIL, PHONE)
    assert resolution.merges == ()


def test_a_known_identity_wins_and_the_unknown_ones_are_linked_to_its_customer() -> None:
    known = uuid4()
    resolution = resolve([EMAIL, PHONE, HANDLE], _owners(phone=known), {known: 1}, new_customer_id=NEW)
    assert resolution.customer_id == known
    assert not resolution.is_new_customer
    assert resolution.new_links == (EMAIL, HANDLE)
    assert resolution.merges == ()


def test_a_sender_whose_identities_are_all_known_links_nothing() -> None:
    known = uuid4()
    resolution = resolve([EMAIL, PHONE], _owners(email=known, phone=known), {known: 1}, new_customer_id=NEW)
    assert resolution.customer_id == known
    assert resolution.new_links == ()
    assert resolution.merges == ()


def test_identities_of_two_customers_merge_them_and_the_older_survives() -> None:
    older, younger = uuid4(), uuid4()
    resolution = resolve(
        [EMAIL, PHONE, HANDLE],
        _owners(email=younger, phone=older),
        {older: 3, younger: 17},
        new_customer_id=NEW,
    )
    assert resolution.customer_id == older
    assert not resolution.is_new_customer
    assert resolution.merges == (Merge(absorbed=younger, shared=(EMAIL, PHONE), rule="auto:email"),)
    assert resolution.new_links == (HANDLE,)


def test_the_survivor_is_chosen_by_seniority_not_by_the_order_of_identities() -> None:
    older, younger = uuid4(), uuid4()
    owners = _owners(email=younger, phone=older)
    seniority = {older: 3, younger: 17}
    first = resolve([EMAIL, PHONE], owners, seniority, new_customer_id=NEW)
    second = resolve([PHONE, EMAIL], owners, seniority, new_customer_id=NEW)
    assert first.customer_id == second.customer_id == older
    assert first.merges[0].absorbed == second.merges[0].absorbed == younger


def test_a_merge_carries_as_evidence_only_the_identities_of_the_two_customers_involved() -> None:
    older, younger = uuid4(), uuid4()
    resolution = resolve(
        [EMAIL, PHONE, HANDLE, LOYALTY],
        _owners(email=older, phone=younger, handle=older),
        {older: 1, younger: 2},
        new_customer_id=NEW,
    )
    (merge,) = resolution.merges
    assert merge.absorbed == younger
    assert set(merge.shared) == {EMAIL, PHONE, HANDLE}
    assert LOYALTY not in merge.shared
    assert resolution.new_links == (LOYALTY,)


def test_identities_of_three_customers_give_two_merges_into_the_oldest() -> None:
    oldest, middle, youngest = uuid4(), uuid4(), uuid4()
    resolution = resolve(
        [EMAIL, PHONE, HANDLE],
        _owners(email=youngest, phone=oldest, handle=middle),
        {oldest: 1, middle: 5, youngest: 9},
        new_customer_id=NEW,
    )
    assert resolution.customer_id == oldest
    assert resolution.merges == (
        Merge(absorbed=middle, shared=(PHONE, HANDLE), rule="auto:handle"),
        Merge(absorbed=youngest, shared=(EMAIL, PHONE), rule="auto:email"),
    )
    assert resolution.new_links == ()


def test_a_customer_of_unknown_seniority_never_survives_a_known_one() -> None:
    known, unknown = uuid4(), uuid4()
    resolution = resolve(
        [EMAIL, PHONE], _owners(email=unknown, phone=known), {known: 99}, new_customer_id=NEW
    )
    assert resolution.customer_id == known
    assert resolution.merges[0].absorbed == unknown


def test_duplicate_identities_of_one_sender_are_linked_once() -> None:
    same_email = Identity(kind=IdentityKind.EMAIL, value="ada@example.com")
    resolution = resolve([EMAIL, PHONE, same_email, PHONE], owners={}, seniority={}, new_customer_id=NEW)
    assert resolution.new_links == (EMAIL, PHONE)


def test_duplicate_identities_appear_once_in_a_merge_and_in_the_links() -> None:
    older, younger = uuid4(), uuid4()
    resolution = resolve(
        [EMAIL, EMAIL, PHONE, HANDLE, HANDLE],
        _owners(email=older, phone=younger),
        {older: 1, younger: 2},
        new_customer_id=NEW,
    )
    assert resolution.merges == (Merge(absorbed=younger, shared=(EMAIL, PHONE), rule="auto:phone"),)
    assert resolution.new_links == (HANDLE,)


def test_resolution_is_a_pure_decision_that_repeats_exactly() -> None:
    older, younger = uuid4(), uuid4()
    owners = _owners(email=older, phone=younger)
    seniority = {older: 1, younger: 2}
    assert resolve([EMAIL, PHONE], owners, seniority, NEW) == resolve([EMAIL, PHONE], owners, seniority, NEW)
