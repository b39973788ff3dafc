"""Report pages: series per chart, CSV flattening, and that hostile text in the data cannot become script."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from contracts.read.analytics import ChannelRow, SegmentMember, SegmentPoint
from plumbing.access.kinds import kinds_of_field
from plumbing.access.policy import Permission, load_policy
from services.api.analytics_export import to_csv
from services.api.analytics_pages import funnel_chart, page, revenue_chart, revenue_charts, segments_chart

pytestmark = pytest.mark.unit


def row(period: date | None, channel: str, revenue: dict[str, Decimal]) -> ChannelRow:
    return ChannelRow(
        period_start=period,
        channel=channel,
        source="*",
        interactions=1,
        customers_reached=1,
        new_customers=0,
        purchasers=0,
        deals_opened=0,
        deals_won_first_touch=0,
        deals_won_last_touch=0,
        purchases_first_touch=0,
        purchases_last_touch=0,
        revenue_first_touch={},
        revenue_last_touch=revenue,
        purchase_conversion=None,
        deal_win_rate=None,
    )


def test_charts_have_one_series_per_stage_channel_or_segment() -> None:
    w1, w2 = date(2026, 3, 2), date(2026, 3, 9)
    rows = [row(w1, "chat", {"EUR": Decimal(5)}), row(w2, "chat", {}), row(w2, "email", {"USD": Decimal(9)})]
    assert len(funnel_chart(rows).datasets) == 4
    revenue = revenue_chart(rows, "EUR")  # email earned dollars only: not on the euro chart
    assert [(s.label, s.data) for s in revenue.datasets] == [("chat", [5.0, 0.0])] and revenue.labels == [
        "2026-03-02",
        "2026-03-09",
    ]
    series = {"A": [SegmentPoint(day=w1, members=2)], "B": [SegmentPoint(day=w2, members=1)]}
    assert [(s.label, s.data) for s in segments_chart(series).datasets] == [
        ("A", [2.0, 0.0]),
        ("B", [0.0, 1.0]),
    ]


def test_revenue_gets_a_chart_per_currency_earned_and_a_note_when_there_is_none() -> None:
    w1 = date(2026, 3, 2)
    rows = [row(w1, "chat", {"EUR": Decimal(5)}), row(w1, "email", {"USD": Decimal(9)})]
    charts, note = revenue_charts(rows, None, "EUR")
    assert [(c.y_label, [s.label for s in c.datasets]) for c in charts] == [
        ("EUR", ["chat"]),
        ("USD", ["email"]),
    ]
    assert note is None
    dollars, _ = revenue_charts(rows, "USD", "EUR")
    assert [c.y_label for c in dollars] == ["USD"]
    yen, note = revenue_charts(rows, "JPY", "EUR")
    assert [(c.y_label, c.datasets) for c in yen] == [
        ("JPY", [])
    ] and note == "No revenue in JPY in this period."
    none, note = revenue_charts([row(w1, "chat", {})], None, "EUR")
    assert [c.y_label for c in none] == ["EUR"] and note == "No revenue in this period."
    assert '<p class="note">No revenue in this period.</p>' in page("t", none, "/x", note)


def test_hostile_text_in_report_data_stays_data() -> None:
    hostile = "</script><script>alert(1)</script>"
    html = page("t", [funnel_chart([row(None, hostile, {})])], "/x?a=1&b=2")
    assert "<script>alert" not in html and "\\u003c/script\\u003e" in html
    assert 'href="/x?a=1&amp;b=2"' in html


def test_csv_flattens_maps_and_defuses_formulas() -> None:
    text = to_csv([{"channel": "=HYPERLINK(1)", "revenue": {"EUR": "5"}, "tags": ["a"]}, {"channel": "chat"}])
    assert text.splitlines() == ["channel,revenue.EUR,tags", '\'=HYPERLINK(1),5,"[""a""]"', "chat,,"]


def test_the_shipped_policy_masks_segment_members_for_analysts() -> None:
    policy = load_policy()
    policy.check_view("analytics_member", SegmentMember)
    analyst = policy.grant(["marketing_analyst"], Permission.READ_CARD)
    agent = policy.grant(["support_agent"], Permission.READ_CARD)
    assert analyst is not None and agent is not None
    member_fields = {"display_name", "emails", "phones"}
    assert {
        name for name in member_fields if kinds_of_field(SegmentMember, name) & analyst.masked
    } == member_fields
    assert "traits.lifetime_value" in agent.hidden["analytics_member"]  # no payments for support agents
