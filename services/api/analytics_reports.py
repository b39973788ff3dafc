"""Pure report arithmetic over the analytics projection's facts: channel effectiveness with first- and
last-touch attribution, staff effectiveness, and RFM scores.

Reports are computed when read (the pipeline's forecast works the same way), so any period and grouping
is answered from the same facts without a rebuild; :mod:`services.api.analytics_queries` loads them.
"""

from __future__ import annotations

import math
import statistics
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Literal
from uuid import UUID

from contracts.read.analytics import ChannelRow, RfmRow, StaffRow

Period = Literal["day", "week", "month"]
Group = Literal["channel", "source"]
UNKNOWN = "unknown"
ALL_SOURCES = "*"


@dataclass(frozen=True)
class Window:
    """Events with ``start <= occurred_at < end``, bucketed by ``period`` (None: one bucket)."""

    start: datetime
    end: datetime
    period: Period | None = None

    def covers(self, at: datetime) -> bool:
        return self.start <= at < self.end

    def bucket(self, at: datetime) -> date | None:
        if self.period is None:
            return None
        day = at.astimezone(UTC).date()
        if self.period == "week":
            return day - timedelta(days=day.weekday())
        if self.period == "month":
            return day.replace(day=1)
        return day


@dataclass(frozen=True)
class TouchFact:
    customer_id: UUID
    occurred_at: datetime
    position: int
    channel: str
    source: str
    direction: str
    agent: str | None


@dataclass(frozen=True)
class SaleFact:
    customer_id: UUID
    occurred_at: datetime
    position: int
    kind: str
    channel: str
    source: str
    currency: str
    amount: Decimal


@dataclass(frozen=True)
class VisitFact:
    stage_id: str
    entered_at: datetime
    left_at: datetime | None


@dataclass(frozen=True)
class DealFact:
    deal_id: UUID
    customer_id: UUID
    owner_id: str
    status: str
    opened_at: datetime
    closed_at: datetime | None
    amount: Decimal
    currency: str
    source_channel: str | None
    source_campaign: str | None
    visits: tuple[VisitFact, ...] = ()


@dataclass(frozen=True)
class TaskFact:
    assignee: str | None
    created_at: datetime
    due_at: datetime
    status: str
    closed_at: datetime | None


@dataclass(frozen=True)
class ReplyFact:
    agent: str | None
    replied_at: datetime
    seconds: float
    first: bool


# --- channels -------------------------------------------------------------------------------------


Key = tuple[date | None, str, str]


@dataclass
class _Cell:
    interactions: int = 0
    reached: set[UUID] = field(default_factory=set)
    new_customers: int = 0
    deals_opened: int = 0
    won_first: int = 0
    won_last: int = 0
    purchases_first: int = 0
    purchases_last: int = 0
    revenue_first: dict[str, Decimal] = field(default_factory=dict)
    revenue_last: dict[str, Decimal] = field(default_factory=dict)


class _Journeys:
    """Every customer's touches in time order, to find the first and last touch before a conversion."""

    def __init__(self, touches: Iterable[TouchFact]) -> None:
        self.by_customer: dict[UUID, list[TouchFact]] = defaultdict(list)
        for touch in sorted(touches, key=lambda t: (t.occurred_at, t.position)):
            self.by_customer[touch.customer_id].append(touch)

    def first(self, customer_id: UUID) -> TouchFact | None:
        touches = self.by_customer.get(customer_id)
        return touches[0] if touches else None

    def before(
        self, customer_id: UUID, at: datetime, position: int
    ) -> tuple[TouchFact | None, TouchFact | None]:
        """(first touch, last touch) strictly before ``(at, position)``, ignoring the conversion itself."""
        touches = [t for t in self.by_customer.get(customer_id, []) if t.position != position]
        index = bisect_left([(t.occurred_at, t.position) for t in touches], (at, position))
        earlier = touches[:index]
        return (earlier[0], earlier[-1]) if earlier else (None, None)


def grouped_source(group: Group, source: str | None) -> str:
    """The source column of a row: the source (``unknown`` when none) grouped by source, else ``*``."""
    return (source or UNKNOWN) if group == "source" else ALL_SOURCES


def _add(money: dict[str, Decimal], currency: str, amount: Decimal) -> None:
    money[currency] = money.get(currency, Decimal(0)) + amount


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def channel_report(
    touches: Sequence[TouchFact],
    sales: Sequence[SaleFact],
    deals: Sequence[DealFact],
    window: Window,
    group: Group = "channel",
) -> list[ChannelRow]:
    """Channel effectiveness in ``window``; ``touches`` must hold every touch before ``window.end`` of
    the customers concerned (first touches may lie before the window)."""
    journeys = _Journeys(touches)
    cells: dict[Key, _Cell] = defaultdict(_Cell)

    def cell(at: datetime, channel: str, source: str | None) -> _Cell:
        return cells[(window.bucket(at), channel, grouped_source(group, source))]

    for touch in touches:
        if window.covers(touch.occurred_at):
            target = cell(touch.occurred_at, touch.channel, touch.source)
            target.interactions += 1
            target.reached.add(touch.customer_id)
    for customer_id in journeys.by_customer:
        first = journeys.first(customer_id)
        if first is not None and window.covers(first.occurred_at):
            cell(first.occurred_at, first.channel, first.source).new_customers += 1
    buyers = _buyers(sales, window)
    for sale in sales:
        if window.covers(sale.occurred_at):
            _attribute_sale(journeys, sale, cell)
    for deal in deals:
        _count_deal(journeys, deal, window, cell)
    return [_row(key, value, buyers) for key, value in sorted(cells.items(), key=row_order)]


def row_order(item: tuple[Key, object]) -> tuple[date, str, str]:
    """Rows by period, channel, source (the whole-window bucket, None, first)."""
    (bucket, channel, source), _ = item
    return (bucket or date.min, channel, source)


def _buyers(sales: Sequence[SaleFact], window: Window) -> dict[date | None, set[UUID]]:
    buyers: dict[date | None, set[UUID]] = defaultdict(set)
    for sale in sales:
        if sale.kind == "purchase" and window.covers(sale.occurred_at):
            buyers[window.bucket(sale.occurred_at)].add(sale.customer_id)
    return buyers


def _attribute_sale(journeys: _Journeys, sale: SaleFact, cell: Callable[..., _Cell]) -> None:
    first, last = journeys.before(sale.customer_id, sale.occurred_at, sale.position)
    at = sale.occurred_at
    first_cell = cell(at, first.channel, first.source) if first else cell(at, sale.channel, sale.source)
    last_cell = cell(at, last.channel, last.source) if last else cell(at, sale.channel, sale.source)
    amount = sale.amount if sale.kind == "purchase" else -sale.amount
    _add(first_cell.revenue_first, sale.currency, amount)
    _add(last_cell.revenue_last, sale.currency, amount)
    if sale.kind == "purchase":
        first_cell.purchases_first += 1
        last_cell.purchases_last += 1


def _count_deal(journeys: _Journeys, deal: DealFact, window: Window, cell: Callable[..., _Cell]) -> None:
    """A deal counts as opened for its source (else the last touch before it), as won for its touches."""
    if window.covers(deal.opened_at):
        if deal.source_channel is not None:
            cell(deal.opened_at, deal.source_channel, deal.source_campaign).deals_opened += 1
        else:
            _, last = journeys.before(deal.customer_id, deal.opened_at, -1)
            cell(
                deal.opened_at, *((last.channel, last.source) if last else (UNKNOWN, None))
            ).deals_opened += 1
    if deal.status == "won" and deal.closed_at is not None and window.covers(deal.closed_at):
        first, last = journeys.before(deal.customer_id, deal.closed_at, -1)
        fallback = (deal.source_channel or UNKNOWN, deal.source_campaign)
        cell(deal.closed_at, *((first.channel, first.source) if first else fallback)).won_first += 1
        cell(deal.closed_at, *((last.channel, last.source) if last else fallback)).won_last += 1


def _row(key: Key, value: _Cell, buyers: dict[date | None, set[UUID]]) -> ChannelRow:
    return channel_row(
        key,
        ChannelCounts(
            interactions=value.interactions,
            reached=len(value.reached),
            new_customers=value.new_customers,
            purchasers=len(value.reached & buyers.get(key[0], set())),
            deals_opened=value.deals_opened,
            won_first=value.won_first,
            won_last=value.won_last,
            purchases_first=value.purchases_first,
            purchases_last=value.purchases_last,
            revenue_first=value.revenue_first,
            revenue_last=value.revenue_last,
        ),
    )


@dataclass
class ChannelCounts:
    """One row's counts, however they were summed (here in Python, or in SQL by ``analytics_channels``)."""

    interactions: int = 0
    reached: int = 0
    new_customers: int = 0
    purchasers: int = 0
    deals_opened: int = 0
    won_first: int = 0
    won_last: int = 0
    purchases_first: int = 0
    purchases_last: int = 0
    revenue_first: dict[str, Decimal] = field(default_factory=dict)
    revenue_last: dict[str, Decimal] = field(default_factory=dict)


def channel_row(key: Key, counts: ChannelCounts) -> ChannelRow:
    """The row of ``key`` (period, channel, source): its counts and the rates derived from them."""
    bucket, channel, source = key
    return ChannelRow(
        period_start=bucket,
        channel=channel,
        source=source,
        interactions=counts.interactions,
        customers_reached=counts.reached,
        new_customers=counts.new_customers,
        purchasers=counts.purchasers,
        deals_opened=counts.deals_opened,
        deals_won_first_touch=counts.won_first,
        deals_won_last_touch=counts.won_last,
        purchases_first_touch=counts.purchases_first,
        purchases_last_touch=counts.purchases_last,
        revenue_first_touch=dict(sorted(counts.revenue_first.items())),
        revenue_last_touch=dict(sorted(counts.revenue_last.items())),
        purchase_conversion=_rate(counts.purchasers, counts.reached),
        deal_win_rate=_rate(counts.won_last, counts.deals_opened),
    )


# --- staff ----------------------------------------------------------------------------------------


def quantile(values: Sequence[float], q: float) -> float | None:
    """The q-quantile (0 < q < 1) with linear interpolation between closest ranks; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    cut = statistics.quantiles(ordered, n=100, method="inclusive")
    return cut[round(q * 100) - 1]


@dataclass
class _Staff:
    handled: int = 0
    replies: list[float] = field(default_factory=list)
    first: list[float] = field(default_factory=list)
    on_time: int = 0
    late: int = 0
    overdue: int = 0
    won: int = 0
    lost: int = 0
    revenue: dict[str, Decimal] = field(default_factory=dict)
    stages: dict[str, list[float]] = field(default_factory=dict)

    def merge(self, other: _Staff) -> None:
        self.handled += other.handled
        self.replies += other.replies
        self.first += other.first
        self.on_time, self.late, self.overdue = (
            self.on_time + other.on_time,
            self.late + other.late,
            self.overdue + other.overdue,
        )
        self.won, self.lost = self.won + other.won, self.lost + other.lost
        for currency, amount in other.revenue.items():
            _add(self.revenue, currency, amount)
        for stage, seconds in other.stages.items():
            self.stages.setdefault(stage, []).extend(seconds)


def _tasks_into(staff: dict[str, _Staff], tasks: Sequence[TaskFact], window: Window, now: datetime) -> None:
    cutoff = min(window.end, now)
    for task in tasks:
        if task.assignee is None:
            continue
        mine = staff.setdefault(task.assignee, _Staff())
        if task.status == "completed" and task.closed_at is not None and window.covers(task.closed_at):
            if task.closed_at <= task.due_at:
                mine.on_time += 1
            else:
                mine.late += 1
        still_open = task.closed_at is None or task.closed_at > cutoff
        if still_open and task.created_at <= cutoff and task.due_at < cutoff:
            mine.overdue += 1


def _deals_into(staff: dict[str, _Staff], deals: Sequence[DealFact], window: Window) -> None:
    for deal in deals:
        mine = staff.setdefault(deal.owner_id, _Staff())
        if deal.closed_at is not None and window.covers(deal.closed_at):
            if deal.status == "won":
                mine.won += 1
                _add(mine.revenue, deal.currency, deal.amount)
            elif deal.status == "lost":
                mine.lost += 1
        for visit in deal.visits:
            if visit.left_at is not None and window.covers(visit.left_at):
                spent = (visit.left_at - visit.entered_at).total_seconds()
                mine.stages.setdefault(visit.stage_id, []).append(spent)


def staff_report(
    touches: Sequence[TouchFact],
    replies: Sequence[ReplyFact],
    tasks: Sequence[TaskFact],
    deals: Sequence[DealFact],
    window: Window,
    now: datetime,
    team_of: Callable[[str], str | None],
    staff_of: Callable[[str], str | None] = lambda agent: None,
) -> list[StaffRow]:
    """One row per staff member, one per team, and a last row for everyone (``staff_id`` and ``team``
    None; it also counts replies no staff member is named for).

    An interaction's agent (``widget:agent-17``, a call's client name) counts for the staff member
    ``staff_of`` links it to (``deploy/staff.toml``), else under its own name."""
    staff: dict[str, _Staff] = {}
    everyone = _Staff()
    for touch in touches:
        if touch.agent is not None and window.covers(touch.occurred_at):
            staff.setdefault(staff_of(touch.agent) or touch.agent, _Staff()).handled += 1
    for reply in replies:
        if window.covers(reply.replied_at):
            agent = reply.agent
            target = staff.setdefault(staff_of(agent) or agent, _Staff()) if agent else everyone
            target.replies.append(reply.seconds)
            if reply.first:
                target.first.append(reply.seconds)
    _tasks_into(staff, tasks, window, now)
    _deals_into(staff, deals, window)
    teams: dict[str, _Staff] = {}
    for staff_id, figures in staff.items():
        team = team_of(staff_id)
        if team is not None:
            teams.setdefault(team, _Staff()).merge(figures)
        everyone.merge(figures)
    rows = [_staff_row(s, team_of(s), figures) for s, figures in sorted(staff.items())]
    rows += [_staff_row(None, team, figures) for team, figures in sorted(teams.items())]
    return [*rows, _staff_row(None, None, everyone)]


def _staff_row(staff_id: str | None, team: str | None, s: _Staff) -> StaffRow:
    return StaffRow(
        staff_id=staff_id,
        team=team,
        interactions_handled=s.handled,
        replies=len(s.replies),
        first_response_median_s=statistics.median(s.first) if s.first else None,
        first_response_p90_s=quantile(s.first, 0.9),
        response_median_s=statistics.median(s.replies) if s.replies else None,
        response_p90_s=quantile(s.replies, 0.9),
        tasks_done_on_time=s.on_time,
        tasks_done_late=s.late,
        tasks_overdue=s.overdue,
        deals_won=s.won,
        deals_lost=s.lost,
        revenue=dict(sorted(s.revenue.items())),
        avg_stage_seconds={stage: statistics.fmean(v) for stage, v in sorted(s.stages.items())},
    )


# --- RFM ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Buyer:
    """A customer's purchase history in one currency."""

    customer_id: UUID
    last_purchase_at: datetime
    frequency: int
    monetary: Decimal


def _score(share: float) -> int:
    return max(1, min(5, math.ceil(5 * share - 1e-9)))


def rfm(buyers: Sequence[Buyer], currency: str, now: datetime) -> list[RfmRow]:
    """Scores from each buyer's rank: R = ceil(5 x share of buyers who bought no more recently),
    F and M = ceil(5 x share of buyers with no more purchases / money). Ties share a score."""
    total = len(buyers)
    recency = {b.customer_id: max(0, (now - b.last_purchase_at).days) for b in buyers}
    recencies = sorted(recency.values())
    frequencies = sorted(b.frequency for b in buyers)
    amounts = sorted(b.monetary for b in buyers)
    rows = []
    for b in buyers:
        r = _score((total - bisect_left(recencies, recency[b.customer_id])) / total)
        f = _score(bisect_right(frequencies, b.frequency) / total)
        m = _score(bisect_right(amounts, b.monetary) / total)
        rows.append(
            RfmRow(
                customer_id=b.customer_id,
                currency=currency,
                recency_days=recency[b.customer_id],
                frequency=b.frequency,
                monetary=b.monetary,
                r=r,
                f=f,
                m=m,
                score=f"{r}{f}{m}",
            )
        )
    return sorted(rows, key=lambda row: (-int(row.score), str(row.customer_id)))
