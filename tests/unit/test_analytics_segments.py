"""The segment filter language: what parses, what is refused, and that values never reach SQL text."""

from __future__ import annotations

from decimal import Decimal

import pytest
from psycopg import sql

from services.api.analytics_config import AnalyticsConfig, load_analytics
from services.api.analytics_segments import (
    All,
    AnyOf,
    Call,
    Compare,
    FilterError,
    Not,
    filter_sql,
    parse_filter,
)

pytestmark = pytest.mark.unit


def test_parses_precedence_not_over_and_over_or() -> None:
    node = parse_filter('prefers("chat") or not bought("SKU-1") and lifetime_value.EUR > 500')
    assert node == AnyOf(
        (
            Call("prefers", ("chat",)),
            All((Not(Call("bought", ("SKU-1",))), Compare("lifetime_value.EUR", ">", Decimal("500")))),
        )
    )
    assert parse_filter("(purchase_count >= 3)") == Compare("purchase_count", ">=", Decimal("3"))
    assert parse_filter("has_children = true") == Compare("has_children", "=", True)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("purchase_count > 1; DROP TABLE analytics_traits", "not a filter"),
        ('__import__("os").system("x")', "not a filter"),
        ("shoe_size > 40", "unknown field"),
        ('purchase_count > "3"', "number field"),
        ("car_brand > 3", "text field"),
        ('car_brand < "Volvo"', "only be compared with = or !="),
        ("lifetime_value > 5", "needs a .key"),
        ("purchase_count.x > 5", "takes no .key"),
        ('exec("x")', "unknown function"),
        ("bought_within_days()", "takes (number)"),
        ("purchase_count >", "not a filter"),
        ("1", "not a filter"),
        ("purchase_count > 1 or " * 60 + "purchase_count > 1", "at most 1000 characters"),
    ],
)
def test_refuses_anything_outside_the_language_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(FilterError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse_filter(text)


@pytest.mark.parametrize(
    "text",
    [
        "bought_within_days(99999999999)",
        "contacted_within_days(-1)",
        "bought_within_days(1.5)",
        "purchase_count > 1e200000",
        "lifetime_value.EUR > 1e-20000",
        "inbound.chat >= 1000000000000000",
        "lifetime_value.EUR > 0.0000001",
    ],
)
def test_a_number_the_database_cannot_hold_is_refused_as_out_of_range(text: str) -> None:
    with pytest.raises(FilterError, match="out of range"):
        parse_filter(text)


def test_numbers_within_range_still_parse() -> None:
    assert parse_filter("lifetime_value.EUR > 999999999999999.123456") == Compare(
        "lifetime_value.EUR", ">", Decimal("999999999999999.123456")
    )
    assert parse_filter("bought_within_days(36600)") == Call("bought_within_days", (Decimal(36600),))
    assert parse_filter("purchase_count > 0e-99999") == Compare("purchase_count", ">", Decimal(0))


def test_values_become_parameters_never_sql_text() -> None:
    hostile = "x'); DROP TABLE customer_cards; --"
    condition, params = filter_sql(parse_filter(f'car_brand = "{hostile}"'), sql.Placeholder("now"))
    assert hostile in params.values()
    assert "DROP" not in repr(condition)


def test_the_shipped_analytics_file_parses_and_every_segment_compiles() -> None:
    config = load_analytics()
    assert isinstance(config, AnalyticsConfig) and config.segments
    for segment in config.segments:
        filter_sql(segment.tree(), sql.Placeholder("now"))


def test_a_bad_filter_in_the_file_stops_the_start() -> None:
    with pytest.raises(ValueError, match="unknown field"):
        AnalyticsConfig.model_validate(
            {"version": 1, "segments": [{"id": "x", "name": "X", "filter": "nonsense = 1"}]}
        )
