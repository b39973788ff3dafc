"""Pure projection logic: card + event -> card. The same code serves live, rebuild and replay."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from contracts import (
    AttributeCleared,
    AttributeName,
    AttributeSet,
    CustomerAbsorbed,
    CustomerMergedInto,
    CustomerRestored,
    CustomerUnmerged,
    DocumentAttached,
    EmailReceived,
    Envelope,
    IdentityLinked,
    IdentityUnlinked,
    InteractionEvent,
    PurchaseRecorded,
    RecordingStored,
    RefundRecorded,
)
from contracts.identity import is_transaction_reference
from contracts.media import MediaStored
from contracts.personal import ERASED
from contracts.read.customer_card import (
    RECENT_INTERACTIONS,
    RECENT_PURCHASES,
    ChannelStats,
    CustomerCard,
    IdentityView,
    InteractionView,
    MergeView,
    PurchaseView,
)
from projections.customer_card import parts, profile

#: The ``source`` of an identity a staff member linked (the rule of their link events too).
STAFF_SOURCE = "staff"
_MergeMark = CustomerMergedInto | CustomerAbsorbed | CustomerUnmerged | CustomerRestored
_MERGE_MARKS = (CustomerMergedInto, CustomerAbsorbed, CustomerUnmerged, CustomerRestored)
#: Customer events that fill a part of the card (profile, documents); each is a pure fold.
_PartEvent = AttributeSet | AttributeCleared | DocumentAttached | RecordingStored | MediaStored
_PART_EVENTS = (AttributeSet, AttributeCleared, DocumentAttached, RecordingStored, MediaStored)


@dataclass(frozen=True)
class Fact:
    """An event with the store coordinates the projection needs.

    Merges and unmerges only leave a mark here: which events a card folds is decided by
    :mod:`projections.customer_card.refold`, which folds the absorbed customer's events themselves.
    """

    position: int
    customer_id: UUID
    event: Envelope


def evolve(card: CustomerCard | None, fact: Fact) -> CustomerCard | None:
    """Return the card after ``fact``; the input card is never changed.

    Events already folded in (``position <= last_position``) and event types the card does not
    use leave it as it is, so replaying a batch is harmless.
    """
    if not _folds(card, fact):
        return card
    return _apply(_blank(fact) if card is None else card.model_copy(deep=True), fact)


def evolve_in_place(card: CustomerCard | None, fact: Fact) -> tuple[CustomerCard | None, bool]:
    """:func:`evolve` on a card the caller owns (nobody else holds it): changed in place, no copy.

    The projection's hot path: a deep copy of the whole card per event would cost more than the
    fold itself. Returns the card (new when ``card`` is None) and whether ``fact`` changed it.
    """
    if not _folds(card, fact):
        return card, False
    return _apply(_blank(fact) if card is None else card, fact), True


def _folds(card: CustomerCard | None, fact: Fact) -> bool:
    """Whether ``fact`` changes ``card``: not folded already, and of a type the card uses."""
    if card is not None and fact.position <= card.last_position:
        return False
    return isinstance(
        fact.event, (IdentityLinked, IdentityUnlinked, InteractionEvent, *_MERGE_MARKS, *_PART_EVENTS)
    )


def _apply(card: CustomerCard, fact: Fact) -> CustomerCard:
    event = fact.event
    if isinstance(event, IdentityLinked):
        _link(card, event)
    elif isinstance(event, IdentityUnlinked):
        card.identities = [view for view in card.identities if view.key != event.identity.key]
    elif isinstance(event, _MERGE_MARKS):
        _mark_merge(card, fact.position, event)
    elif isinstance(event, _PART_EVENTS):
        _fill_part(card, fact.position, event)
    elif isinstance(event, InteractionEvent):
        _interact(card, fact.position, event)
    card.last_position = fact.position
    if event.received_at > card.updated_at:  # max(): the card's own value when they are equal
        card.updated_at = event.received_at
    return card


def _blank(fact: Fact) -> CustomerCard:
    at = fact.event.occurred_at
    return CustomerCard(customer_id=fact.customer_id, created_at=at, updated_at=at)


def _link(card: CustomerCard, event: IdentityLinked) -> None:
    identity = event.identity
    if identity.value == ERASED:
        return  # a forgotten customer's identity: nothing left to show or to find them by
    if is_transaction_reference(identity):
        return  # an order's id: the purchase shows it, and a buyer would collect one per order
    key = identity.key
    if any(view.key == key for view in card.identities):
        return
    card.identities.append(
        IdentityView(
            kind=identity.kind,
            value=identity.value,
            provider=identity.provider,
            key=key,
            linked_at=event.occurred_at,
            source=STAFF_SOURCE if event.rule == STAFF_SOURCE else None,
        )
    )
    _created_by(card, event.occurred_at)


def _seen(card: CustomerCard, event: InteractionEvent, channel: str) -> None:
    """The identities this interaction carried were seen now, on its ``channel``."""
    carried = {identity.key for identity in event.sender.identities}
    at = event.occurred_at
    for view in card.identities:
        if view.key in carried:
            if view.first_seen_at is None or at < view.first_seen_at:
                if view.source != STAFF_SOURCE:
                    view.source = channel  # the earliest interaction, even one delivered late
                view.first_seen_at = at
            if view.last_seen_at is None or at > view.last_seen_at:
                view.last_seen_at = at


def _interact(card: CustomerCard, position: int, event: InteractionEvent) -> None:
    channel, at = event.channel.value, event.occurred_at
    stats = card.channels.get(channel)
    if stats is None:
        stats = card.channels[channel] = ChannelStats()
    stats.count += 1
    if stats.last_at is None or at > stats.last_at:
        stats.last_at = at
    card.interaction_count += 1
    if card.last_interaction_at is None or at > card.last_interaction_at:
        card.last_interaction_at = at
    _created_by(card, at)
    _seen(card, event, channel)
    if event.sender.display_name and not profile.staff_owned(card, AttributeName.NAME):
        card.display_name = event.sender.display_name
    view = InteractionView(
        position=position,
        event_id=event.event_id,
        event_type=event.event_type,
        channel=channel,
        provider=event.provider,
        direction=event.direction.value,
        summary=event.summary,
        occurred_at=event.occurred_at,
        details=parts.interaction_details(event),
    )
    card.recent_interactions = _newest_first([view, *card.recent_interactions])
    profile.apply_channel_profile(card, position, event)
    if isinstance(event, PurchaseRecorded):
        _purchase(card, position, event)
    elif isinstance(event, RefundRecorded):
        _refund(card, position, event)
    elif isinstance(event, EmailReceived):
        parts.add_attachments(card, position, event)


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
    parts.purchase_details(card, view, event)
    card.recent_purchases = [view, *card.recent_purchases][:RECENT_PURCHASES]


def _refund(card: CustomerCard, position: int, event: RefundRecorded) -> None:
    amount = event.amount
    card.refund_count += 1
    card.refund_totals[amount.currency] = card.refund_totals.get(amount.currency, 0) + amount.amount
    parts.refund_details(card, position, event)


def _fill_part(card: CustomerCard, position: int, event: _PartEvent) -> None:
    """Profile attributes, uploaded documents, stored recordings and message files."""
    if isinstance(event, AttributeSet | AttributeCleared):
        profile.apply_attribute(card, position, event)
    elif isinstance(event, DocumentAttached):
        parts.add_upload(card, position, event)
    elif isinstance(event, RecordingStored):
        parts.add_recording(card, position, event)
    else:
        parts.add_media(card, position, event)


def _mark_merge(card: CustomerCard, position: int, event: _MergeMark) -> None:
    """Who speaks for whom, and the merge history that explains it (rule, evidence, actor)."""
    merge_event_id: UUID | None = None
    if isinstance(event, CustomerMergedInto | CustomerAbsorbed):
        rule, evidence, identities = event.rule, event.evidence_event_id, event.shared_identities
        if isinstance(event, CustomerMergedInto):
            card.merged_into, other, kind = event.survivor_id, event.survivor_id, "merged_into"
        else:
            card.merged_from.append(event.absorbed_id)
            other, kind = event.absorbed_id, "absorbed"
    else:
        rule, evidence, identities = "staff", None, event.returned_identities
        merge_event_id = event.merge_event_id
        if isinstance(event, CustomerUnmerged):
            other, kind = event.restored_id, "unmerged"
        else:
            card.merged_into, other, kind = None, event.survivor_id, "restored"
    card.merge_history.append(
        MergeView(
            kind=kind,
            other_customer_id=other,
            event_id=event.event_id,
            position=position,
            occurred_at=event.occurred_at,
            rule=rule,
            evidence_event_id=evidence,
            merge_event_id=merge_event_id,
            identities=[identity.key for identity in identities],
            actor=event.actor,
        )
    )


def _newest_first(views: list[InteractionView]) -> list[InteractionView]:
    """In the time the interactions happened (a late delivery lands in its place), then log order."""
    return sorted(views, key=lambda v: (v.occurred_at, v.position), reverse=True)[:RECENT_INTERACTIONS]


def _created_by(card: CustomerCard, at: datetime) -> None:
    """The card's customer was there at ``at`` (its ``created_at`` is the earliest such time).

    Fields are set only when they change, here and in the other folds: the hot path of a rebuild, and
    a pydantic attribute assignment costs more than the comparison.
    """
    if at < card.created_at:
        card.created_at = at
