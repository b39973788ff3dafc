"""Field masks remove keys entirely; paths are checked against the model they mask."""

from __future__ import annotations

import copy

import pytest

from contracts.read.customer_card import CustomerCard
from plumbing.access.masks import apply_mask, optional_view, unknown_paths

pytestmark = pytest.mark.unit

CARD = {
    "customer_id": "c-1",
    "display_name": "Ada Lovelace",
    "emails": ["ada@example.com"],
    "identities": [{"kind": "email", "value": "ada@example.com", "key": "email:ada@example.com"}],
    "channels": {"chat": {"count": 2, "last_at": "2026-01-01T00:00:00Z"}, "pos": {"count": 1}},
    "purchase_totals": {"USD": "169.80"},
}


def test_masked_fields_are_absent_not_empty() -> None:
    masked = apply_mask(CARD, ["display_name", "emails", "purchase_totals"])

    assert set(masked) == {"customer_id", "identities", "channels"}


def test_nested_list_and_map_paths_remove_only_what_they_name() -> None:
    masked = apply_mask(CARD, ["identities[].value", "channels.*.last_at"])

    assert masked["identities"] == [{"kind": "email", "key": "email:ada@example.com"}]
    assert masked["channels"] == {"chat": {"count": 2}, "pos": {"count": 1}}


def test_the_input_document_is_left_as_it_was() -> None:
    before = copy.deepcopy(CARD)

    apply_mask(CARD, ["display_name", "identities[].value", "channels.*.last_at"])

    assert before == CARD


def test_paths_to_missing_keys_are_harmless() -> None:
    assert apply_mask({"a": 1}, ["b", "a.c", "x[].y"]) == {"a": 1}


def test_paths_are_checked_against_the_model_including_computed_fields() -> None:
    good = ["emails", "identities", "identities[].value", "channels.*.last_at", "recent_purchases[].amount"]
    bad = ["email", "identities.value", "identities[].colour", "channels.*", "display_name.first"]

    assert unknown_paths(CustomerCard, good) == set()
    assert unknown_paths(CustomerCard, bad) == set(bad)


def test_the_documented_view_makes_every_field_optional() -> None:
    view = optional_view(CustomerCard, "CustomerCardView")

    assert view.model_validate({}).model_dump(exclude_unset=True) == {}
    computed = {"emails", "phones", "lifetime_value", "average_order"}
    assert set(view.model_fields) == set(CustomerCard.model_fields) | computed
    assert not any(field.is_required() for field in view.model_fields.values())
