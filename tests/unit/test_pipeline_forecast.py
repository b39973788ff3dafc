"""Forecast arithmetic: exact Decimal per currency, weighted by stage probability, won and lost per period."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from contracts.read.pipeline import Bucket, PipelineSummary, summarize_buckets
from services.api.sales_config import load_rules

pytestmark = pytest.mark.unit

SINCE, UNTIL = datetime(2025, 6, 1, tzinfo=UTC), datetime(2025, 7, 1, tzinfo=UTC)
RETAIL = load_rules().pipelines.pipeline("retail")
assert RETAIL is not None


def _summary(open_buckets: list[Bucket], closed: list[Bucket] | None = None) -> PipelineSummary:
    assert RETAIL is not None
    return summarize_buckets(RETAIL, open_buckets, closed or [], SINCE, UNTIL)


def test_each_stage_weighs_its_open_amount_by_its_probability_exactly_per_currency() -> None:
    summary = _summary(
        [
            Bucket("lead", "EUR", 3, Decimal("0.30")),  # 0.1 + 0.1 + 0.1, which binary floats get wrong
            Bucket("lead", "USD", 1, Decimal("999.99")),
            Bucket("offer", "EUR", 2, Decimal("1200.50")),
        ]
    )

    stages = {s.stage_id: s for s in summary.stages}
    assert stages["lead"].weighted == {"EUR": Decimal("0.0300"), "USD": Decimal("99.9990")}
    assert stages["offer"].weighted == {"EUR": Decimal("720.3000")}
    assert stages["qualified"].open_count == 0 and stages["qualified"].weighted == {}
    assert summary.forecast == {"EUR": Decimal("720.33"), "USD": Decimal("99.999")}
    assert summary.open_amounts == {"EUR": Decimal("1200.80"), "USD": Decimal("999.99")}
    assert summary.open_count == 6


def test_stages_come_in_configured_order_and_closed_stages_are_not_listed() -> None:
    assert [s.stage_id for s in _summary([]).stages] == ["lead", "qualified", "offer"]


def test_amounts_in_different_currencies_are_never_added_together() -> None:
    summary = _summary([Bucket("offer", "EUR", 1, Decimal(100)), Bucket("offer", "GBP", 1, Decimal(100))])

    assert summary.forecast == {"EUR": Decimal("60.00"), "GBP": Decimal("60.00")}


def test_open_deals_in_a_stage_the_configuration_dropped_count_but_weigh_nothing() -> None:
    summary = _summary([Bucket("retired", "EUR", 2, Decimal(500))])

    assert summary.open_count == 2
    assert summary.open_amounts == {"EUR": Decimal(500)}
    assert summary.forecast == {}


def test_won_and_lost_totals_are_kept_apart_per_currency() -> None:
    summary = _summary(
        [],
        [
            Bucket("won", "EUR", 2, Decimal("300.10")),
            Bucket("won", "USD", 1, Decimal("5")),
            Bucket("lost", "EUR", 4, Decimal("80")),
        ],
    )

    assert (summary.won.count, summary.won.amounts) == (3, {"EUR": Decimal("300.10"), "USD": Decimal(5)})
    assert (summary.lost.count, summary.lost.amounts) == (4, {"EUR": Decimal(80)})
    assert (summary.since, summary.until) == (SINCE, UNTIL)
