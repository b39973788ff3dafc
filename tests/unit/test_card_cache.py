"""The card cache: bounded by JSON bytes, least recently used out first, a card taken is the caller's."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from contracts.read.customer_card import CustomerCard
from projections.customer_card.card_cache import CardCache, RowVersion

pytestmark = pytest.mark.unit

T0 = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)


def _card() -> CustomerCard:
    return CustomerCard(customer_id=uuid4(), created_at=T0, updated_at=T0)


def test_the_cache_never_holds_more_json_bytes_than_its_bound_and_evicts_the_least_recently_used() -> None:
    cache = CardCache(max_bytes=250)
    first, second, third = _card(), _card(), _card()
    cache.keep(first, RowVersion(1, "10"), 100)
    cache.keep(second, RowVersion(2, "10"), 100)
    cache.keep(first, RowVersion(3, "11"), 100)  # used again: now the most recent
    cache.keep(third, RowVersion(4, "12"), 100)

    assert cache.bytes == 200
    assert len(cache) == 2
    assert cache.take(second.customer_id) is None
    entry = cache.take(first.customer_id)
    assert entry is not None and entry.card is first and entry.version == RowVersion(3, "11")


def test_a_card_taken_leaves_the_cache_so_a_failed_batch_cannot_leave_it_half_changed() -> None:
    cache = CardCache(max_bytes=1_000)
    card = _card()
    cache.keep(card, RowVersion(1, "10"), 100)

    assert cache.take(card.customer_id) is not None
    assert cache.take(card.customer_id) is None
    assert (len(cache), cache.bytes) == (0, 0)


def test_a_card_bigger_than_the_whole_cache_is_not_kept_and_a_zero_cache_keeps_nothing() -> None:
    small, none = CardCache(max_bytes=50), CardCache(max_bytes=0)
    card = _card()
    small.keep(card, RowVersion(1, "10"), 51)
    none.keep(card, RowVersion(1, "10"), 1)

    assert (len(small), small.bytes, len(none)) == (0, 0, 0)
    with pytest.raises(ValueError, match="max_bytes"):
        CardCache(max_bytes=-1)
