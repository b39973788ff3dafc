"""Co-purchase recommendations and the popularity baseline on a basket set computed by hand."""

from __future__ import annotations

import uuid

import pytest

from services.api.analytics_recommend import popular, recommend

pytestmark = pytest.mark.unit

ME = uuid.UUID(int=99)
OWNED = {
    uuid.UUID(int=1): frozenset({"A", "B"}),
    uuid.UUID(int=2): frozenset({"A", "B"}),
    uuid.UUID(int=3): frozenset({"A", "C"}),
    uuid.UUID(int=4): frozenset({"B"}),
    uuid.UUID(int=5): frozenset({"D"}),
    ME: frozenset({"A"}),
}


def test_recommends_what_buyers_of_my_items_also_bought_with_support_confidence_and_lift() -> None:
    found = recommend(OWNED, ME, names={"B": "Blue mug"})
    # 5 other buyers; A: 3 of them, B: 3, C: 1. A&B: 2 -> confidence 2/3, lift (2/3)/(3/5) = 10/9;
    # A&C: 1 -> confidence 1/3, lift (1/3)/(1/5) = 5/3. D was never bought with A: no evidence, no pick.
    assert [(r.item, r.name, r.support) for r in found] == [("B", "Blue mug", 2), ("C", "C", 1)]
    b, c = found
    assert (b.confidence, b.lift) == (pytest.approx(2 / 3), pytest.approx(10 / 9))
    assert (c.confidence, c.lift) == (pytest.approx(1 / 3), pytest.approx(5 / 3))
    (evidence,) = b.evidence
    assert (evidence.because_of, evidence.customers_with_both, evidence.customers_with_because) == ("A", 2, 3)


def test_never_recommends_an_item_the_customer_owns_and_respects_min_support() -> None:
    owned = {**OWNED, ME: frozenset({"A", "B"})}
    assert all(r.item not in {"A", "B"} for r in recommend(owned, ME))
    assert [r.item for r in recommend(OWNED, ME, min_support=2)] == ["B"]
    assert recommend(OWNED, uuid.uuid4()) == []  # owns nothing: no evidence for anything


def test_popularity_baseline_ranks_by_buyers_and_skips_owned_items() -> None:
    assert popular(OWNED, ME) == ["B", "C", "D"]
    assert popular(OWNED, ME, limit=1) == ["B"]
