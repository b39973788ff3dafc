"""Channel, staff and RFM figures on small scenarios computed by hand (the numbers in the comments)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services.api.analytics_reports import (
    Buyer,
    DealFact,
    ReplyFact,
    SaleFact,
    TaskFact,
    TouchFact,
    VisitFact,
    Window,
    channel_report,
    quantile,
    rfm,
    staff_report,
)

pytestmark = pytest.mark.unit

A, B, C = (uuid.UUID(int=n) for n in (1, 2, 3))
MARCH = Window(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))


def at(day: int, month: int = 3) -> datetime:
    return datetime(2026, month, day, 12, tzinfo=UTC)


def touch(customer: uuid.UUID, when: datetime, position: int, channel: str, source: str = "p") -> TouchFact:
    return TouchFact(customer, when, position, channel, source, "inbound", None)


# Positions follow time, as the log would have them.
TOUCHES = [
    touch(A, at(20, 2), 1, "email"),
    touch(B, at(2), 2, "chat", "widget"),
    touch(B, at(3), 3, "social", "whatsapp"),
    touch(B, at(4), 4, "pos"),  # B's purchase
    touch(A, at(5), 5, "chat", "widget"),
    touch(A, at(10), 6, "pos"),  # A's purchase
    touch(C, at(15), 7, "social", "instagram"),
    touch(B, at(20), 8, "pos"),  # B's refund
]
SALES = [
    SaleFact(B, at(4), 4, "purchase", "pos", "p", "EUR", Decimal("50")),
    SaleFact(A, at(10), 6, "purchase", "pos", "p", "EUR", Decimal("100")),
    SaleFact(B, at(20), 8, "refund", "pos", "p", "EUR", Decimal("20")),
]
DEALS = [
    DealFact(uuid.uuid4(), A, "alice", "lost", at(6), at(12), Decimal("80"), "EUR", None, None),
    DealFact(uuid.uuid4(), C, "bob", "won", at(16), at(25), Decimal("300"), "EUR", "social", "spring"),
]


def test_channel_report_counts_and_attributes_each_figure_as_computed_by_hand() -> None:
    rows = {row.channel: row for row in channel_report(TOUCHES, SALES, DEALS, MARCH)}
    assert list(rows) == ["chat", "email", "pos", "social"]
    chat, email, pos, social = rows["chat"], rows["email"], rows["pos"], rows["social"]
    # interactions in March: chat A+B, social B+C, pos 3 (two purchases, one refund); email's was in February
    assert (chat.interactions, social.interactions, pos.interactions, email.interactions) == (2, 2, 3, 0)
    assert (chat.customers_reached, social.customers_reached, pos.customers_reached) == (2, 2, 2)
    # first touches in March: B on chat, C on social (A's first touch was February's email)
    assert (chat.new_customers, social.new_customers, email.new_customers) == (1, 1, 0)
    # A bought after email then chat: first touch email, last chat; B after chat then social
    assert (email.purchases_first_touch, chat.purchases_first_touch) == (1, 1)
    assert (chat.purchases_last_touch, social.purchases_last_touch) == (1, 1)
    assert email.revenue_first_touch == {"EUR": Decimal("100")}
    # B's refund of 20 comes off B's first touch (chat) and B's last touch before it (the till purchase)
    assert chat.revenue_first_touch == {"EUR": Decimal("30")}
    assert chat.revenue_last_touch == {"EUR": Decimal("100")}
    assert social.revenue_last_touch == {"EUR": Decimal("50")}
    assert pos.revenue_last_touch == {"EUR": Decimal("-20")}
    # deals: A's has no source, so its last touch before opening (chat); C's names social
    assert (chat.deals_opened, social.deals_opened) == (1, 1)
    assert (social.deals_won_first_touch, social.deals_won_last_touch, chat.deals_won_last_touch) == (1, 1, 0)
    # A and B bought in March: both chat people did, one of the two social people did
    assert (chat.purchasers, chat.purchase_conversion) == (2, 1.0)
    assert (social.purchasers, social.purchase_conversion) == (1, 0.5)
    assert email.purchase_conversion is None
    assert (chat.deal_win_rate, social.deal_win_rate, pos.deal_win_rate) == (0.0, 1.0, None)


def test_channel_report_by_source_and_week_splits_the_same_figures() -> None:
    weekly = Window(MARCH.start, MARCH.end, "week")
    rows = channel_report(TOUCHES, SALES, DEALS, weekly, group="source")
    social = [
        (r.period_start, r.source, r.interactions, r.deals_opened) for r in rows if r.channel == "social"
    ]
    # 3 March is in the week of Monday 2 March; 15 March (a Sunday) in the week of 9 March; deal on the 16th
    assert social == [
        (datetime(2026, 3, 2).date(), "whatsapp", 1, 0),
        (datetime(2026, 3, 9).date(), "instagram", 1, 0),
        (datetime(2026, 3, 16).date(), "spring", 0, 1),
        (datetime(2026, 3, 23).date(), "instagram", 0, 0),
    ]
    assert sum(r.interactions for r in rows) == 7


def test_quantile_interpolates_between_closest_ranks() -> None:
    assert quantile([60, 120, 300], 0.9) == pytest.approx(264)  # 120 + 0.8 x 180
    assert quantile([60, 300], 0.9) == pytest.approx(276)
    assert quantile([42], 0.9) == 42
    assert quantile([], 0.9) is None


def _task(who: str, due: datetime, status: str, closed: datetime | None) -> TaskFact:
    return TaskFact(who, at(1), due, status, closed)


def test_staff_report_per_member_team_and_everyone() -> None:
    replies = [
        ReplyFact("alice", at(2), 60, True),
        ReplyFact("alice", at(3), 120, False),
        ReplyFact("alice", at(4), 300, True),
        ReplyFact(None, at(5), 30, True),
        ReplyFact("alice", at(2, 4), 5, True),  # April: outside the window
    ]
    touches = [TouchFact(A, at(d), d, "chat", "w", "outbound", "alice") for d in (2, 3, 4)]
    tasks = [
        _task("alice", at(10), "completed", at(9)),  # on time
        _task("alice", at(10), "completed", at(12)),  # late
        _task("alice", at(20), "open", None),  # overdue at the window's end
        _task("alice", at(10, 4), "open", None),  # due after it
        _task("bob", at(5), "completed", at(5, 4)),  # done in April: overdue at the end of March
    ]
    lead, offer = VisitFact("lead", at(1), at(5)), VisitFact("offer", at(5), at(20))
    deals = [
        DealFact(
            uuid.uuid4(),
            A,
            "alice",
            "won",
            at(1),
            at(20),
            Decimal("300"),
            "EUR",
            None,
            None,
            (lead, offer, VisitFact("won", at(20), None)),
        ),
        DealFact(
            uuid.uuid4(),
            B,
            "bob",
            "lost",
            at(2),
            at(15),
            Decimal("90"),
            "EUR",
            None,
            None,
            (VisitFact("lead", at(2), at(15)), VisitFact("lost", at(15), None)),
        ),
    ]
    rows = staff_report(touches, replies, tasks, deals, MARCH, at(15, 4), lambda s: "north")
    by = {(r.staff_id, r.team): r for r in rows}
    alice, bob, north, everyone = by["alice", "north"], by["bob", "north"], by[None, "north"], by[None, None]
    assert [(r.staff_id, r.team) for r in rows][-1] == (None, None)
    assert (alice.interactions_handled, alice.replies) == (3, 3)
    assert (alice.first_response_median_s, alice.first_response_p90_s) == (180, pytest.approx(276))
    assert (alice.response_median_s, alice.response_p90_s) == (120, pytest.approx(264))
    assert (alice.tasks_done_on_time, alice.tasks_done_late, alice.tasks_overdue) == (1, 1, 1)
    assert (alice.deals_won, alice.deals_lost, alice.revenue) == (1, 0, {"EUR": Decimal("300")})
    assert alice.avg_stage_seconds == {"lead": 4 * 86400, "offer": 15 * 86400}
    assert (bob.tasks_overdue, bob.deals_lost, bob.replies, bob.response_median_s) == (1, 1, 0, None)
    assert bob.avg_stage_seconds == {"lead": 13 * 86400}
    assert (north.tasks_overdue, north.deals_won, north.deals_lost) == (2, 1, 1)
    assert north.avg_stage_seconds == {"lead": (4 + 13) / 2 * 86400, "offer": 15 * 86400}
    # everyone: alice's three replies and the unattributed one
    assert (everyone.replies, everyone.response_median_s, everyone.first_response_median_s) == (4, 90, 60)


def test_rfm_scores_rank_buyers_with_ties_sharing_a_score() -> None:
    now = at(20)
    ids = [uuid.UUID(int=n) for n in range(1, 5)]
    buyers = [
        Buyer(ids[0], now - timedelta(days=1), 5, Decimal("500")),
        Buyer(ids[1], now - timedelta(days=10), 2, Decimal("100")),
        Buyer(ids[2], now - timedelta(days=100), 1, Decimal("1000")),
        Buyer(ids[3], now - timedelta(days=10), 2, Decimal("100")),
    ]
    rows = rfm(buyers, "EUR", now)
    assert [(r.customer_id, r.score) for r in rows] == [
        (ids[0], "554"),  # most recent (4/4), most often (4/4), 3 of 4 spent no more
        (ids[1], "443"),  # 3 of 4 bought no more recently; tie with ids[3]
        (ids[3], "443"),
        (ids[2], "225"),  # oldest: 1 of 4 -> ceil(1.25) = 2; most money: 5
    ]
    assert rows[-1].recency_days == 100
