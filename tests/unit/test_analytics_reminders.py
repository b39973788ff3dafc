"""Reminder rules: when each fires, which events it names, and that its id is stable."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from contracts.read.analytics import Trigger
from services.api.analytics_config import BirthdayRule, LoyaltyRule, SilenceRule, StaleDealRule
from services.api.analytics_reminders import History, OpenDeal, Purchase, due, next_birthday

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
CUSTOMER = uuid.UUID(int=7)
LOYALTY = LoyaltyRule(id="loyal", kind="loyalty_discount", purchases=3, within_days=365, no_discount_days=90)


def trigger(days_ago: int, n: int, kind: str = "interaction.pos.purchase") -> Trigger:
    return Trigger(
        position=n, event_id=uuid.UUID(int=n), event_type=kind, occurred_at=NOW - timedelta(days=days_ago)
    )


def buys(*spec: tuple[int, bool]) -> tuple[Purchase, ...]:
    return tuple(Purchase(trigger(days, n + 1), discounted) for n, (days, discounted) in enumerate(spec))


def never_stale(_p: str, _s: str) -> int | None:
    return None


def test_loyalty_discount_for_a_regular_without_a_recent_discount_names_the_purchases() -> None:
    history = History(CUSTOMER, "alice", purchases=buys((200, False), (100, True), (10, False)))
    (reminder,) = due(history, [LOYALTY], NOW, never_stale)
    assert (reminder.rule, reminder.kind, reminder.owner_id) == ("loyal", "loyalty_discount", "alice")
    assert [t.event_id for t in reminder.triggers] == [uuid.UUID(int=n) for n in (1, 2, 3)]
    assert due(history, [LOYALTY], NOW, never_stale)[0].reminder_id == reminder.reminder_id  # stable


@pytest.mark.parametrize(
    "spec",
    [
        ((200, False), (30, True), (10, False)),  # discounted 30 days ago
        ((400, False), (100, False), (10, False)),  # only two within a year
    ],
)
def test_no_loyalty_discount_after_a_recent_discount_or_for_an_occasional_buyer(
    spec: tuple[tuple[int, bool], ...],
) -> None:
    assert due(History(CUSTOMER, None, purchases=buys(*spec)), [LOYALTY], NOW, never_stale) == []


def test_birthday_within_the_next_days_names_the_event_that_set_it() -> None:
    rule = BirthdayRule(id="bday", kind="birthday", days_ahead=7)
    set_by = trigger(300, 42, "customer.attribute")
    soon = History(CUSTOMER, None, birthday=date(1990, 3, 5), birthday_set_by=set_by)
    (reminder,) = due(soon, [rule], NOW, never_stale)
    assert reminder.triggers == [set_by] and "2026-03-05" in reminder.reason
    later = History(CUSTOMER, None, birthday=date(1990, 3, 9), birthday_set_by=set_by)
    assert due(later, [rule], NOW, never_stale) == []
    assert next_birthday(date(2000, 2, 29), date(2027, 2, 1)) == date(2027, 2, 28)
    assert next_birthday(date(2000, 1, 10), date(2026, 3, 1)) == date(2027, 1, 10)


def test_silence_after_a_purchase_until_someone_talks_to_the_customer() -> None:
    rule = SilenceRule(id="quiet", kind="silent_after_purchase", days=60)
    purchases = buys((61, False))
    quiet = History(CUSTOMER, None, purchases=purchases, last_contact=purchases[-1].trigger)
    (reminder,) = due(quiet, [rule], NOW, never_stale)
    assert [t.event_id for t in reminder.triggers] == [uuid.UUID(int=1)]
    talked = History(
        CUSTOMER, None, purchases=purchases, last_contact=trigger(10, 9, "interaction.chat.received")
    )
    assert due(talked, [rule], NOW, never_stale) == []


def test_stale_deal_past_its_stage_threshold_goes_to_the_deal_owner() -> None:
    rule = StaleDealRule(id="stale", kind="stale_deal")
    entered = trigger(15, 5, "sales.deal.stage_moved")
    deal = OpenDeal(uuid.uuid4(), "retail", "offer", "bob", entered)
    history = History(CUSTOMER, "alice", open_deals=(deal,))
    (reminder,) = due(history, [rule], NOW, lambda _p, stage: 14 if stage == "offer" else None)
    assert (reminder.owner_id, reminder.triggers) == ("bob", [entered])
    assert due(history, [rule], NOW, lambda _p, _s: 20) == []
