"""A follower that is catching up takes bigger batches, and small ones again once it has caught up."""

from __future__ import annotations

import pytest

from plumbing.projection import next_batch_size

pytestmark = pytest.mark.unit


def test_batches_double_while_they_come_back_full_up_to_the_catch_up_size() -> None:
    sizes = [500]
    for _ in range(5):
        sizes.append(next_batch_size(sizes[-1], sizes[-1], 500, 4000))

    assert sizes == [500, 1000, 2000, 4000, 4000, 4000]


def test_a_batch_that_is_not_full_means_caught_up_and_the_next_is_the_live_size_again() -> None:
    assert next_batch_size(4000, 3999, 500, 4000) == 500
    assert next_batch_size(500, 0, 500, 4000) == 500


def test_a_catch_up_size_below_the_live_size_never_shrinks_batches() -> None:
    assert next_batch_size(500, 500, 500, 100) == 500
