"""Pure projection logic: card + event -> card. The same code serves live, rebuild and replay."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from contracts import (
    CustomerAbsorbed,
    CustomerMergedInto,
    Envelope,
    IdentityLinked,
    InteractionEvent,
    PurchaseRecorded,
    RefundRecorded,
)
from contracts.read.customer_card import (
    RECENT_INTERACTIONS,
    RECENT_PURCHASES,
    ChannelStats,
    CustomerCard,
    IdentityView,
    InteractionView,
    PurchaseView,
)


@dataclass(frozen=True)
class Fact:
    """An event with the store coordinates the projection needs.

    For a :class:`CustomerAbsorbed` event, ``absorbed`` is the absorbed customer's card as it
    stood just before the merge (the caller loads it: evolve stays free of I/O).
    """

    position: int
    customer_id: UUID
    event: Envelope
    absorbed: CustomerCard | None = None


def evolve(card: CustomerCard | None, fact: Fact) -> CustomerCard | None:
    """Return the card after ``fact``; the input card is never changed.

    Events already folded in (``position <= last_position``) and event types the card does not
    use leave it as it is, so replaying a batch is harmless.
    """
    if card is not None and fact.position <= card.last_position:
        return card
    event = fact.event
    if not isinstance(event, IdentityLinked | InteractionEvent | CustomerMergedInto | CustomerAbsorbed):
        return card
    new = _blank(fact.customer_id, event.occurred_at) if card is None else card.model_copy(deep=True)
    if isinstance(event, IdentityLinked):
        _link(new, event)
    elif isinstance(event, CustomerMergedInto):
        new.merged_into = event.survivor_id
    elif isinstance(event, CustomerAbsorbed):
        if fact.absorbed is not None:
            _absorb(new, fact.absorbed)
        new.merged_from.append(event.absorbed_id)
    else:
        _interact(new, fact.position, event)
    new.last_position = fact.position
    new.updated_at = max(new.updated_at, event.received_at)
    return new


def _blank(customer_id: UUID, at: datetime) -> CustomerCard:
    return CustomerCard(customer_id=customer_id, created_at=at, updated_at=at)


def _link(card: CustomerCard, event: IdentityLinked) -> None:
    identity = event.identity
    if any(view.key == identity.key for view in card.identities):
        return
    card.identities.append(
        IdentityView(
            kind=identity.kind,
            value=identity.value,
            provider=identity.provider,
            key=identity.key,
            linked_at=event.occurred_at,
        )
    )
    card.created_at = min(card.created_at, event.occurred_at)


def _interact(card: CustomerCard, position: int, event: InteractionEvent) -> None:
    stats = card.channels.setdefault(event.channel.value, ChannelStats())
    stats.count += 1
    stats.last_at = _latest(stats.last_at, event.occurred_at)
    card.interaction_count += 1
    card.last_interaction_at = _latest(card.last_interaction_at, event.occurred_at)
    card.created_at = min(card.created_at, event.occurred_at)
    if event.sender.display_name:
        card.display_name = event.sender.display_name
    view = InteractionView(
        position=position,
        event_id=event.event_id,
        event_type=event.event_type,
        channel=event.channel.value,
        provider=event.provider,
        direction=event.direction.value,
        summary=event.summary,
        occurred_at=event.occurred_at,
    )
    card.recent_interactions = _newest_first([view, *card.recent_interactions])
    if isinstance(event, PurchaseRecorded):
        _purchase(card, position, event)
    elif isinstance(event, RefundRecorded):
        _refund(card, event)


def _purchase(card: CustomerCard, position: int, event: PurchaseRecorded) -> None:
    total = event.total
    card.purchase_count += 1
    card.purchase_totals[total.currency] = card.purchase_totals.get(total.currency, 0) + total.amount
    view = PurchaseView(
        position=position,
        order_id=event.order_id,
        provider=event.provider,
        occurred_at=event.occurred_at,
        amount=total.amount,
        currency=total.currency,
        line_count=len(event.lines),
    )
    card.recent_purchases = [view, *card.recent_purchases][:RECENT_PURCHASES]


def _refund(card: CustomerCard, event: RefundRecorded) -> None:
    amount = event.amount
    card.refund_count += 1
    card.refund_totals[amount.currency] = card.refund_totals.get(amount.currency, 0) + amount.amount


def _absorb(card: CustomerCard, other: CustomerCard) -> None:
    """Fold ``other``'s identities, counts and recent history into ``card``."""
    known = {view.key for view in card.identities}
    card.identities.extend(view for view in other.identities if view.key not in known)
    for channel, theirs in other.channels.items():
        ours = card.channels.setdefault(channel, ChannelStats())
        ours.count += theirs.count
        if theirs.last_at is not None:
            ours.last_at = _latest(ours.last_at, theirs.last_at)
    card.interaction_count += other.interaction_count
    if other.last_interaction_at is not None:
        card.last_interaction_at = _latest(card.last_interaction_at, other.last_interaction_at)
    card.created_at = min(card.created_at, other.created_at)
    card.display_name = card.display_name or other.display_name
    card.recent_interactions = _newest_first([*card.recent_interactions, *other.recent_interactions])
    card.purchase_count += other.purchase_count
    for currency, amount in other.purchase_totals.items():
        card.purchase_totals[currency] = card.purchase_totals.get(currency, 0) + amount
    card.recent_purchases = sorted(
        [*card.recent_purchases, *other.recent_purchases], key=lambda v: v.position, reverse=True
    )[:RECENT_PURCHASES]
    card.refund_count += other.refund_count
    for currency, amount in other.refund_totals.items():
        card.refund_totals[currency] = card.refund_totals.get(currency, 0) + amount
    card.merged_from.extend(other.merged_from)


def _newest_first(views: list[InteractionView]) -> list[InteractionView]:
    """In the time the interactions happened (a late delivery lands in its place), then log order."""
    return sorted(views, key=lambda v: (v.occurred_at, v.position), reverse=True)[:RECENT_INTERACTIONS]


def _latest(current: datetime | None, candidate: datetime) -> datetime:
    return candidate if current is None or candidate > current else current
