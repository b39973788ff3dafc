"""Pure projection logic: deal view + event -> deal view. The same code serves live, rebuild and replay.

:func:`pipeline_as_of` folds the log up to a position or a time, so the pipeline as it stood at any
past moment is the same fold the live projection ran, stopped early; summarise it with
:func:`contracts.read.pipeline.summarize` for the forecast of that moment.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from contracts import (
    DealAmountChanged,
    DealEvent,
    DealExpectedCloseChanged,
    DealLost,
    DealOpened,
    DealOwnerChanged,
    DealReopened,
    DealStageMoved,
    DealStatus,
    DealWon,
    Envelope,
    UnknownEventType,
    parse_event,
)
from contracts.base import STORED
from contracts.read.pipeline import DealView, StageVisit
from plumbing.eventstore import RecordedEvent, stream_category

V = TypeVar("V")

#: Stream categories this projection reads.
CATEGORIES = frozenset({"deal", "note", "task"})


@dataclass(frozen=True)
class Fact:
    """An event with the store coordinates the projection needs."""

    position: int
    stream_version: int
    event: Envelope


def to_fact(recorded: RecordedEvent) -> Fact | None:
    """The fact for an event of a sales stream this code understands; None for anything else."""
    if stream_category(recorded.stream_id) not in CATEGORIES:
        return None
    try:
        event = parse_event(recorded.data, STORED)
    except UnknownEventType:
        return None
    return Fact(recorded.position, recorded.stream_version, event)


def _opened(fact: Fact, event: DealOpened) -> DealView:
    at = event.occurred_at
    return DealView(
        deal_id=event.deal_id,
        customer_id=event.customer_id,
        pipeline_id=event.pipeline_id,
        title=event.title,
        amount=event.amount.amount,
        currency=event.amount.currency,
        stage_id=event.stage_id,
        status=DealStatus.OPEN,
        owner_id=event.owner_id,
        expected_close=event.expected_close,
        source_channel=event.source_channel,
        source_campaign=event.source_campaign,
        opened_at=at,
        stage_history=(StageVisit(stage_id=event.stage_id, entered_at=at, entered_position=fact.position),),
        version=fact.stream_version,
        opened_position=fact.position,
        last_position=fact.position,
        updated_at=at,
    )


def _moved_at(deal: DealView, event: DealEvent) -> datetime:
    """When a stage change takes effect: the event's time, never before the current stage was entered.

    Events come in log order but carry their own clocks (a purchase that closed a deal was once stamped
    with the shop's order date), so a stay in a stage is never negative and a deal never closes before
    the stage it closed from began.
    """
    return max(event.occurred_at, deal.stage_entered_at)


def _enter(deal: DealView, stage_id: str, fact: Fact, at: datetime) -> dict[str, Any]:
    """Changes that close the current stage visit and open one in ``stage_id`` at ``at``."""
    *earlier, current = deal.stage_history
    left = current.model_copy(update={"left_at": at})
    visit = StageVisit(stage_id=stage_id, entered_at=at, entered_position=fact.position)
    return {"stage_id": stage_id, "stage_history": (*earlier, left, visit)}


def _changes(deal: DealView, fact: Fact, event: DealEvent) -> dict[str, Any]:
    """What ``event`` changes in ``deal`` (besides version and positions)."""
    at = _moved_at(deal, event)
    if isinstance(event, DealStageMoved):
        return _enter(deal, event.to_stage, fact, at)
    if isinstance(event, DealWon):
        money = {"amount": event.amount.amount, "currency": event.amount.currency}
        return {
            **_enter(deal, event.stage_id, fact, at),
            **money,
            "status": DealStatus.WON,
            "closed_at": at,
            "won_order_id": event.order_id,
        }
    if isinstance(event, DealLost):
        return {
            **_enter(deal, event.stage_id, fact, at),
            "status": DealStatus.LOST,
            "closed_at": at,
            "lost_reason": event.reason,
        }
    if isinstance(event, DealReopened):
        return {
            **_enter(deal, event.stage_id, fact, at),
            "status": DealStatus.OPEN,
            "closed_at": None,
            "lost_reason": None,
            "won_order_id": None,
        }
    if isinstance(event, DealAmountChanged):
        return {"amount": event.amount.amount, "currency": event.amount.currency}
    if isinstance(event, DealOwnerChanged):
        return {"owner_id": event.owner_id}
    if isinstance(event, DealExpectedCloseChanged):
        return {"expected_close": event.expected_close}
    return {}


def evolve(deal: DealView | None, fact: Fact) -> DealView | None:
    """The deal after ``fact``; the input is never changed.

    Facts already folded in (``position <= last_position``) and events that are not about deals leave
    the view as it is, so replaying a batch is harmless.
    """
    event = fact.event
    if not isinstance(event, DealEvent) or (deal is not None and fact.position <= deal.last_position):
        return deal
    if isinstance(event, DealOpened):
        return deal if deal is not None else _opened(fact, event)
    if deal is None:
        return None  # a deal's later event without its opening: not one this log holds
    update = _changes(deal, fact, event)
    update.update(version=fact.stream_version, last_position=fact.position, updated_at=event.occurred_at)
    return deal.model_copy(update=update)


def deal_of(fact: Fact) -> UUID | None:
    return fact.event.deal_id if isinstance(fact.event, DealEvent) else None


def fold_keyed(
    views: dict[UUID, V],
    facts: Iterable[Fact],
    key_of: Callable[[Fact], UUID | None],
    step: Callable[[V | None, Fact], V | None],
) -> dict[UUID, V]:
    """``views`` after ``facts`` (in position order), as a new mapping: each fact ``key_of`` names
    is folded into its view by ``step``; the others leave every view as it is."""
    folded = dict(views)
    for fact in facts:
        key = key_of(fact)
        if key is None:
            continue
        after = step(folded.get(key), fact)
        if after is not None:
            folded[key] = after
    return folded


def fold(deals: dict[UUID, DealView], facts: Iterable[Fact]) -> dict[UUID, DealView]:
    """``deals`` after ``facts`` (in position order), as a new mapping."""
    return fold_keyed(deals, facts, deal_of, evolve)


def pipeline_as_of(
    facts: Iterable[Fact], *, position: int | None = None, at: datetime | None = None
) -> dict[UUID, DealView]:
    """Every deal as it stood after the last fact at or before ``position`` and ``at`` (event time).

    ``facts`` come in log order (as :func:`to_fact` makes them from ``read_all``); with neither bound
    this is the live read model, rebuilt.
    """

    def included(fact: Fact) -> bool:
        if position is not None and fact.position > position:
            return False
        return at is None or fact.event.occurred_at <= at

    return fold({}, (fact for fact in facts if included(fact)))
