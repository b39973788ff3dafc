"""The sales pipeline read model, and the pure arithmetic every reader of it shares.

A :class:`DealView` is one deal as the pipeline projection folds it (with its whole stage history);
the forecast, time in stage and stale flags are computed from views and the pipeline configuration
*when read*, so a changed probability or stale threshold applies at once, without a rebuild. The same
functions serve the live API (fed by SQL aggregates) and point-in-time replays (fed by a fold).

Money stays Decimal per currency: amounts in different currencies are never added together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from contracts.read.kinds import Message
from contracts.sales import DealStatus
from contracts.sales_config import Pipeline, Stage


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class StageVisit(_View):
    """A stay of the deal in one stage; ``left_at`` is None for the stage it is in now."""

    stage_id: str
    entered_at: datetime
    left_at: datetime | None = None
    entered_position: int


class DealView(_View):
    """One deal as the pipeline shows it. ``last_position`` makes applying an event twice a no-op."""

    deal_id: UUID
    customer_id: UUID
    pipeline_id: str
    title: Message  # staff wrote it, about the customer
    amount: Decimal
    currency: str
    stage_id: str
    status: DealStatus
    owner_id: str
    expected_close: date | None = None
    source_channel: str | None = None
    source_campaign: str | None = None
    opened_at: datetime
    closed_at: datetime | None = None
    lost_reason: str | None = None
    won_order_id: str | None = None
    stage_history: tuple[StageVisit, ...]
    version: int
    opened_position: int
    last_position: int
    updated_at: datetime

    @property
    def stage_entered_at(self) -> datetime:
        return self.stage_history[-1].entered_at


class StageTime(_View):
    """Time a deal spent in one stage over all its visits (the current visit counts up to ``now``)."""

    stage_id: str
    visits: int
    seconds: int


def time_in_stages(deal: DealView, now: datetime) -> list[StageTime]:
    """Per stage, in order of first visit: how many visits and how long in total, to the second."""
    totals: dict[str, tuple[int, timedelta]] = {}
    for visit in deal.stage_history:
        left = visit.left_at if visit.left_at is not None else max(now, visit.entered_at)
        visits, spent = totals.get(visit.stage_id, (0, timedelta()))
        totals[visit.stage_id] = (visits + 1, spent + (left - visit.entered_at))
    return [
        StageTime(stage_id=stage, visits=visits, seconds=int(spent.total_seconds()))
        for stage, (visits, spent) in totals.items()
    ]


def is_stale(deal: DealView, pipeline: Pipeline, now: datetime) -> bool:
    """An open deal is stale when it has sat in its stage longer than the stage's threshold."""
    stage = pipeline.stage(deal.stage_id)
    if deal.status is not DealStatus.OPEN or stage is None or stage.stale_after_days is None:
        return False
    return now - deal.stage_entered_at > timedelta(days=stage.stale_after_days)


# --- the pipeline summary --------------------------------------------------------------------------


@dataclass(frozen=True)
class Bucket:
    """Deals grouped by ``key`` (a stage id for open deals, ``won``/``lost`` for closed ones) and currency;
    ``stale``: how many of them are stale (open deals only)."""

    key: str
    currency: str
    count: int
    amount: Decimal
    stale: int = 0


class StageSummary(_View):
    """``stale_count``: open deals of the stage that sat there longer than its ``stale_after_days``."""

    stage_id: str
    name: str
    probability: Decimal
    open_count: int
    stale_count: int = 0
    open_amounts: dict[str, Decimal]
    weighted: dict[str, Decimal]


class OutcomeTotals(_View):
    count: int
    amounts: dict[str, Decimal]


class PipelineSummary(_View):
    """Open deals per stage with their weighted forecast per currency; won and lost in ``[since, until)``."""

    pipeline_id: str
    name: str
    stages: list[StageSummary]
    open_count: int
    open_amounts: dict[str, Decimal]
    forecast: dict[str, Decimal]
    since: datetime
    until: datetime
    won: OutcomeTotals
    lost: OutcomeTotals


def _add(into: dict[str, Decimal], currency: str, amount: Decimal) -> None:
    into[currency] = into.get(currency, Decimal(0)) + amount


def _outcome(buckets: Iterable[Bucket], status: DealStatus) -> OutcomeTotals:
    amounts: dict[str, Decimal] = {}
    count = 0
    for bucket in buckets:
        if bucket.key == status.value:
            count += bucket.count
            _add(amounts, bucket.currency, bucket.amount)
    return OutcomeTotals(count=count, amounts=dict(sorted(amounts.items())))


def _stage_summary(stage: Stage, stage_buckets: Iterable[Bucket]) -> StageSummary:
    amounts: dict[str, Decimal] = {}
    count = stale = 0
    for bucket in stage_buckets:
        count += bucket.count
        stale += bucket.stale
        _add(amounts, bucket.currency, bucket.amount)
    return StageSummary(
        stage_id=stage.id,
        name=stage.name,
        probability=stage.probability,
        open_count=count,
        stale_count=stale,
        open_amounts=dict(sorted(amounts.items())),
        weighted={currency: amount * stage.probability for currency, amount in sorted(amounts.items())},
    )


def summarize_buckets(
    pipeline: Pipeline,
    open_buckets: Iterable[Bucket],
    closed_buckets: Iterable[Bucket],
    since: datetime,
    until: datetime,
) -> PipelineSummary:
    """The summary from grouped totals: weighted = amount x the stage's probability, exactly, per currency.

    Open deals in a stage the configuration no longer has count in the totals but weigh nothing.
    """
    per_stage: dict[str, list[Bucket]] = {}
    open_amounts: dict[str, Decimal] = {}
    for bucket in open_buckets:
        per_stage.setdefault(bucket.key, []).append(bucket)
        _add(open_amounts, bucket.currency, bucket.amount)
    stages = [_stage_summary(stage, per_stage.get(stage.id, [])) for stage in pipeline.open_stages]
    forecast: dict[str, Decimal] = {}
    for summary in stages:
        for currency, amount in summary.weighted.items():
            _add(forecast, currency, amount)
    closed = list(closed_buckets)
    return PipelineSummary(
        pipeline_id=pipeline.id,
        name=pipeline.name,
        stages=stages,
        open_count=sum(b.count for bs in per_stage.values() for b in bs),
        open_amounts=dict(sorted(open_amounts.items())),
        forecast=dict(sorted(forecast.items())),
        since=since,
        until=until,
        won=_outcome(closed, DealStatus.WON),
        lost=_outcome(closed, DealStatus.LOST),
    )


def buckets(
    deals: Iterable[DealView],
    pipeline_id: str,
    since: datetime,
    until: datetime,
    stale: Callable[[DealView], bool] = lambda _deal: False,
) -> tuple[list[Bucket], list[Bucket]]:
    """Group views as the API's SQL does: open deals by stage (counting those ``stale`` says are), deals
    closed in ``[since, until)`` by outcome."""
    grouped: dict[tuple[bool, str, str], tuple[int, Decimal, int]] = {}
    for deal in deals:
        if deal.pipeline_id != pipeline_id:
            continue
        if deal.status is DealStatus.OPEN:
            group = (True, deal.stage_id, deal.currency)
        elif deal.closed_at is not None and since <= deal.closed_at < until:
            group = (False, deal.status.value, deal.currency)
        else:
            continue
        count, amount, stale_count = grouped.get(group, (0, Decimal(0), 0))
        grouped[group] = (count + 1, amount + deal.amount, stale_count + int(group[0] and stale(deal)))
    made: dict[bool, list[Bucket]] = {True: [], False: []}
    for (is_open, key, currency), (count, amount, stale_count) in sorted(grouped.items()):
        made[is_open].append(Bucket(key, currency, count, amount, stale_count))
    return made[True], made[False]


def summarize(
    deals: Iterable[DealView],
    pipeline: Pipeline,
    since: datetime,
    until: datetime,
    now: datetime | None = None,
) -> PipelineSummary:
    """The summary of folded views (a point-in-time replay): the same arithmetic as the live API.

    Stale deals are counted as of ``now`` (the moment replayed); without it none is counted."""
    flag = (lambda deal: is_stale(deal, pipeline, now)) if now is not None else (lambda _deal: False)
    open_buckets, closed_buckets = buckets(deals, pipeline.id, since, until, flag)
    return summarize_buckets(pipeline, open_buckets, closed_buckets, since, until)


class TaskView(_View):
    """One sales-support task as queues show it; overdue means open with ``due_at`` in the past."""

    task_id: UUID
    kind: str
    title: Message
    customer_id: UUID | None
    deal_id: UUID | None
    due_at: datetime
    assignee: str | None = None
    team: str | None = None
    routing: str | None = None
    status: str
    created_at: datetime
    closed_at: datetime | None = None
    note: Message | None = None  # the outcome of a completed task, the reason of a cancelled one
    version: int
    created_position: int
    last_position: int


def is_overdue(task: TaskView, now: datetime) -> bool:
    """Open and due before ``now``."""
    return task.status == "open" and task.due_at < now
