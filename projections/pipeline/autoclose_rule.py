"""Pure: which open deal a purchase closes as won, and the event that closes it.

The rule (per pipeline, ``auto_close`` in deploy/pipelines.toml): a purchase by the customer closes
their oldest open deal of a pipeline with ``on_purchase``, when the purchase is in the deal's currency
and its total is at least ``min_amount_ratio`` x the deal's amount. The won amount is what was bought.
The event id derives from the purchase and the deal, so deciding twice appends once.

When (:func:`closing_time`): a purchase made before the deal opened (its own time, a Shopify order's
``created_at``, is older than the deal) does not close it; a later one closes it at the time the hub
received the purchase, never before the deal entered its current stage. The provider's own date is not
the closing time: an order created yesterday and delivered today would otherwise close a deal opened
this morning before it opened, give its stage a negative stay, and fall outside the period report.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from contracts import DealStatus, DealWon, Money, PurchaseRecorded, derived_event_id
from contracts.read.pipeline import DealView
from contracts.sales_config import Closed, PipelinesConfig

#: The actor of events the hub appends by this rule.
ACTOR = "hub.autoclose"


@dataclass(frozen=True)
class Candidate:
    """An open deal of a customer, as the rule needs it."""

    deal_id: UUID
    pipeline_id: str
    currency: str
    amount: Decimal
    opened_position: int


def eligible(
    candidates: Iterable[Candidate], purchase: PurchaseRecorded, pipelines: PipelinesConfig
) -> list[Candidate]:
    """The deals ``purchase`` may close, oldest first (by opening position: deterministic); the caller
    closes the first one that is still open."""
    total = purchase.total
    found = []
    for candidate in candidates:
        pipeline = pipelines.pipeline(candidate.pipeline_id)
        if pipeline is None or not pipeline.auto_close.on_purchase or candidate.currency != total.currency:
            continue
        if total.amount >= candidate.amount * pipeline.auto_close.min_amount_ratio:
            found.append(candidate)
    return sorted(found, key=lambda c: c.opened_position)


def closing_time(deal: DealView, purchase: PurchaseRecorded) -> datetime | None:
    """When ``purchase`` closes ``deal``: None if it was made before the deal opened; otherwise when the
    hub received it, or when the deal entered its current stage if that is later (no stay is negative).

    Compared to the second: shops date orders in whole seconds, so an order placed in the second the deal
    opened is not older than it."""
    if purchase.occurred_at < deal.opened_at.replace(microsecond=0):
        return None
    return max(purchase.received_at, deal.stage_entered_at)


def close_as_won(deal: DealView, purchase: PurchaseRecorded, pipelines: PipelinesConfig) -> DealWon | None:
    """The event that closes ``deal`` (as its stream has it now) by ``purchase``; None if it is not open
    or the purchase is older than the deal (:func:`closing_time`)."""
    pipeline = pipelines.pipeline(deal.pipeline_id)
    closed_at = closing_time(deal, purchase)
    if deal.status is not DealStatus.OPEN or pipeline is None or closed_at is None:
        return None
    return DealWon(
        **DealWon.type_fields(),
        event_id=derived_event_id(purchase.event_id, f"autoclose:{deal.deal_id}"),
        occurred_at=closed_at,
        received_at=purchase.received_at,
        correlation_id=purchase.correlation_id,
        actor=ACTOR,
        deal_id=deal.deal_id,
        from_stage=deal.stage_id,
        stage_id=pipeline.closed_stage(Closed.WON).id,
        amount=Money(amount=purchase.total.amount, currency=purchase.total.currency),
        order_id=purchase.order_id,
        purchase_event_id=purchase.event_id,
    )
