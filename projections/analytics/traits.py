"""Pure: a customer's traits, folded fact by fact (so every fact makes at most one new version, however
the log is cut into batches), or recomputed from all their facts after a merge or an unmerge moved
facts between customers."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from uuid import UUID

from contracts.read.analytics import CustomerTraits
from projections.analytics.facts import Sale, Touch, is_conversation


def _later(current: datetime | None, candidate: datetime) -> datetime:
    return candidate if current is None or candidate > current else current


def _plus(totals: dict[str, Decimal], currency: str, amount: Decimal) -> dict[str, Decimal]:
    return dict(sorted({**totals, currency: totals.get(currency, Decimal(0)) + amount}.items()))


def _preferred(inbound: dict[str, int]) -> str | None:
    """The channel of most inbound messages; ties go to the first by name."""
    return min(inbound, key=lambda channel: (-inbound[channel], channel)) if inbound else None


def _touched(traits: CustomerTraits, touch: Touch) -> dict[str, object]:
    at = touch.occurred_at
    changes: dict[str, object] = {
        "first_seen_at": at if traits.first_seen_at is None else min(traits.first_seen_at, at),
        "last_contact_at": _later(traits.last_contact_at, at),
    }
    if is_conversation(touch) and touch.direction == "inbound":
        inbound = dict(sorted({**traits.inbound_by_channel, touch.channel: 0}.items()))
        inbound[touch.channel] = traits.inbound_by_channel.get(touch.channel, 0) + 1
        changes |= {
            "last_inbound_at": _later(traits.last_inbound_at, at),
            "inbound_by_channel": inbound,
            "preferred_channel": _preferred(inbound),
        }
    return changes


def _sold(traits: CustomerTraits, sale: Sale) -> dict[str, object]:
    if sale.kind == "refund":
        refunds = _plus(traits.refund_totals, sale.currency, sale.amount)
        return {"refund_totals": refunds, "lifetime_value": _net(traits.purchase_totals, refunds)}
    bought = _plus(traits.purchase_totals, sale.currency, sale.amount)
    changes: dict[str, object] = {
        "purchase_count": traits.purchase_count + 1,
        "purchase_totals": bought,
        "lifetime_value": _net(bought, traits.refund_totals),
        "last_purchase_at": _later(traits.last_purchase_at, sale.occurred_at),
        "items": tuple(sorted({*traits.items, *sale.items})),
    }
    if sale.discounted:
        changes["last_discount_at"] = _later(traits.last_discount_at, sale.occurred_at)
    return changes


def _net(bought: dict[str, Decimal], refunded: dict[str, Decimal]) -> dict[str, Decimal]:
    currencies = sorted({*bought, *refunded})
    return {c: bought.get(c, Decimal(0)) - refunded.get(c, Decimal(0)) for c in currencies}


def step_traits(traits: CustomerTraits | None, fact: Touch | Sale) -> CustomerTraits:
    """The traits after one more touch or sale of the customer."""
    current = traits or CustomerTraits(customer_id=fact.customer_id)
    changes = _touched(current, fact) if isinstance(fact, Touch) else _sold(current, fact)
    return current.model_copy(update=changes)


def traits_of(customer_id: UUID, touches: list[Touch], sales: list[Sale]) -> CustomerTraits | None:
    """The traits folded from all of a customer's facts in log order; None when none is theirs."""
    facts: list[Touch | Sale] = sorted([*touches, *sales], key=lambda f: (f.position, isinstance(f, Sale)))
    traits: CustomerTraits | None = None
    for fact in facts:
        traits = step_traits(traits, fact)
    return traits.model_copy(update={"customer_id": customer_id}) if traits else None
