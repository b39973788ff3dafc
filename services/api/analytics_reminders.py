"""Pure reminder rules (next best actions): a customer's history + the configured rules + now -> the
reminders due, each naming the events that triggered it.

Deterministic: the same history, rules and ``now`` give the same reminders with the same ids. An id is
derived from the rule, the customer and the event the reminder hangs on (the latest purchase, the
birthday's year, the deal's stage entry), so it stays the same until something new happens, and turning
it into a task twice makes one task.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from uuid import UUID

from contracts.read.analytics import Reminder, Trigger
from services.api.analytics_config import BirthdayRule, LoyaltyRule, Rule, SilenceRule, StaleDealRule

_NAMESPACE = uuid.UUID("6f1f0e2a-8a53-4c61-9c55-1e2f4a3b7d10")


@dataclass(frozen=True)
class Purchase:
    trigger: Trigger
    discounted: bool


@dataclass(frozen=True)
class OpenDeal:
    deal_id: UUID
    pipeline_id: str
    stage_id: str
    owner_id: str
    entered: Trigger  # the event that put the deal in its current stage


@dataclass(frozen=True)
class History:
    """What the rules look at for one customer (purchases oldest first)."""

    customer_id: UUID
    owner_id: str | None
    purchases: tuple[Purchase, ...] = ()
    last_contact: Trigger | None = None
    birthday: date | None = None
    birthday_set_by: Trigger | None = None
    open_deals: tuple[OpenDeal, ...] = ()


StaleAfter = Callable[[str, str], int | None]


def reminder_id(rule_id: str, customer_id: UUID, anchor: str) -> UUID:
    return uuid.uuid5(_NAMESPACE, f"{rule_id}\x1f{customer_id}\x1f{anchor}")


def _reminder(
    rule: Rule, history: History, anchor: str, title: str, reason: str, triggers: Sequence[Trigger]
) -> Reminder:
    return Reminder(
        reminder_id=reminder_id(rule.id, history.customer_id, anchor),
        rule=rule.id,
        kind=rule.kind,
        customer_id=history.customer_id,
        title=title,
        reason=reason,
        owner_id=history.owner_id,
        triggers=list(triggers),
    )


def _loyalty(rule: LoyaltyRule, history: History, now: datetime) -> list[Reminder]:
    recent = [
        p for p in history.purchases if now - timedelta(days=rule.within_days) < p.trigger.occurred_at <= now
    ]
    discount_since = now - timedelta(days=rule.no_discount_days)
    if len(recent) < rule.purchases:
        return []
    if any(p.discounted and discount_since < p.trigger.occurred_at <= now for p in history.purchases):
        return []
    latest = recent[-1].trigger
    reason = (
        f"{len(recent)} purchases in {rule.within_days} days, none discounted in {rule.no_discount_days} days"
    )
    triggers = [p.trigger for p in recent]
    return [_reminder(rule, history, str(latest.event_id), "Offer a loyalty discount", reason, triggers)]


def next_birthday(birthday: date, today: date) -> date:
    """The next occurrence of ``birthday`` on or after ``today`` (29 February: the 28th in other years)."""
    for year in (today.year, today.year + 1):
        try:
            candidate = birthday.replace(year=year)
        except ValueError:
            candidate = date(year, 2, 28)
        if candidate >= today:
            return candidate
    raise AssertionError("unreachable: next year always has the date")


def _birthday(rule: BirthdayRule, history: History, now: datetime) -> list[Reminder]:
    if history.birthday is None or history.birthday_set_by is None:
        return []
    upcoming = next_birthday(history.birthday, now.date())
    days = (upcoming - now.date()).days
    if days > rule.days_ahead:
        return []
    reason = f"birthday on {upcoming.isoformat()} ({'today' if days == 0 else f'in {days} days'})"
    anchor = str(upcoming.year)
    return [_reminder(rule, history, anchor, "Send birthday wishes", reason, [history.birthday_set_by])]


def _silence(rule: SilenceRule, history: History, now: datetime) -> list[Reminder]:
    if not history.purchases or history.last_contact is None:
        return []
    last_purchase, contact = history.purchases[-1].trigger, history.last_contact
    quiet = (now - contact.occurred_at).days
    if quiet < rule.days:
        return []
    triggers = [last_purchase] if contact.event_id == last_purchase.event_id else [last_purchase, contact]
    reason = (
        f"no contact for {quiet} days since the purchase of {last_purchase.occurred_at.date().isoformat()}"
    )
    return [_reminder(rule, history, str(contact.event_id), "Get back in touch", reason, triggers)]


def _stale(rule: StaleDealRule, history: History, now: datetime, stale_after: StaleAfter) -> list[Reminder]:
    due = []
    for deal in history.open_deals:
        days = stale_after(deal.pipeline_id, deal.stage_id)
        if days is None or now - deal.entered.occurred_at <= timedelta(days=days):
            continue
        waited = (now - deal.entered.occurred_at).days
        reason = f"deal {deal.deal_id} in stage {deal.stage_id} for {waited} days (stale after {days})"
        reminder = _reminder(
            rule, history, str(deal.entered.event_id), "Move the stale deal on", reason, [deal.entered]
        )
        due.append(reminder.model_copy(update={"owner_id": deal.owner_id}))
    return due


def due(history: History, rules: Sequence[Rule], now: datetime, stale_after: StaleAfter) -> list[Reminder]:
    """Every reminder ``rules`` make due for the customer at ``now``, in rule order."""
    found: list[Reminder] = []
    for rule in rules:
        if isinstance(rule, LoyaltyRule):
            found += _loyalty(rule, history, now)
        elif isinstance(rule, BirthdayRule):
            found += _birthday(rule, history, now)
        elif isinstance(rule, SilenceRule):
            found += _silence(rule, history, now)
        else:
            found += _stale(rule, history, now, stale_after)
    return found
