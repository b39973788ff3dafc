"""Channel effectiveness aggregated in PostgreSQL over the report's window only.

The same figures as :func:`services.api.analytics_reports.channel_report` (the reference, which loads every
touch before the window's end and counts in Python), read from what the analytics projection keeps so no
customer's older history is scanned: each customer's first touch (``analytics_first_touches``) and each
sale's first- and last-touch attribution (columns of ``analytics_sales``), and, for windows of whole UTC
days, touches counted per day, customer, channel and source (``analytics_touch_days``). Touches, new
customers and sales are summed per (period, channel, source) in SQL; the few deals of the window are
attributed by one index probe each. Cost grows with the window, not with the store.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from typing import Any
from uuid import UUID

from psycopg import sql

from contracts.read.analytics import ChannelRow
from plumbing.eventstore.postgres import Conn
from services.api.analytics_reports import (
    ALL_SOURCES,
    UNKNOWN,
    ChannelCounts,
    Group,
    Key,
    Period,
    Window,
    channel_row,
    grouped_source,
    row_order,
)

#: The one bucket of a report without periods (None once read back).
_NO_PERIOD = date.min


def _bucket(period: Period | None, column: str) -> sql.Composable:
    """The period start of ``column`` in UTC, as :meth:`Window.bucket` computes it."""
    at = sql.SQL("({} AT TIME ZONE 'UTC')").format(sql.SQL(column))
    if period is None:
        return sql.Literal(_NO_PERIOD)
    if period == "day":
        return sql.SQL("{}::date").format(at)
    unit = "week" if period == "week" else "month"  # ISO weeks start on Monday, as date.weekday() does
    return sql.SQL("date_trunc({}, {})::date").format(sql.Literal(unit), at)


def _day_bucket(period: Period | None) -> sql.Composable:
    """The period start of a UTC ``day`` of the day counts."""
    if period is None:
        return sql.Literal(_NO_PERIOD)
    if period == "day":
        return sql.SQL("day")
    unit = "week" if period == "week" else "month"
    return sql.SQL("date_trunc({}, day::timestamp)::date").format(sql.Literal(unit))


def _whole_days(window: Window) -> bool:
    return all(
        at.utcoffset() is not None and at.astimezone(UTC).time() == time()
        for at in (window.start, window.end)
    )


def _source(group: Group, column: str) -> sql.Composable:
    if group == "source":
        return sql.SQL("coalesce(nullif({}, ''), {})").format(sql.SQL(column), sql.Literal(UNKNOWN))
    return sql.Literal(ALL_SOURCES)


def _only(customers: Sequence[UUID] | None, column: str) -> sql.Composable:
    if customers is None:
        return sql.SQL("TRUE")
    return sql.SQL("{} = ANY(%(only)s)").format(sql.SQL(column))


def _in_window(column: str) -> sql.Composable:
    return sql.SQL("{0} >= %(start)s AND {0} < %(end)s").format(sql.SQL(column))


#: Per (period, channel, source, customer) in the window: interactions. Whole UTC days are read from the
#: projection's day counts, a window that cuts a day from the touches themselves.
_TOUCHES_BY_DAY = """
SELECT {bucket} AS bucket, channel, {source} AS source, customer_id, sum(interactions) AS n
FROM analytics_touch_days WHERE day >= %(first_day)s AND day < %(end_day)s AND {only} GROUP BY 1, 2, 3, 4
"""
_TOUCHES_RAW = """
SELECT {bucket} AS bucket, channel, {source} AS source, customer_id, count(*) AS n
FROM analytics_touches WHERE {window} AND {only} GROUP BY 1, 2, 3, 4
"""
#: Per cell: interactions, customers reached, and how many of those bought in the same period.
_TOUCHES = """
WITH t AS ({touches}), buyers AS (
    SELECT DISTINCT {sale_bucket} AS bucket, customer_id FROM analytics_sales
    WHERE kind = 'purchase' AND {sale_window} AND {sale_only}
)
SELECT t.bucket, t.channel, t.source, sum(t.n)::bigint, count(*), count(b.customer_id)
FROM t LEFT JOIN buyers b ON b.bucket = t.bucket AND b.customer_id = t.customer_id
GROUP BY 1, 2, 3
"""

_NEW = """
SELECT {bucket}, channel, {source}, count(*) FROM analytics_first_touches
WHERE {window} AND {only} GROUP BY 1, 2, 3
"""

#: Sales per cell of their {which} touch (their own channel and source when they have none).
_SALES = """
SELECT {bucket}, coalesce({which}_channel, channel),
    {source}, currency,
    sum(CASE WHEN kind = 'purchase' THEN amount ELSE -amount END), count(*) FILTER (WHERE kind = 'purchase')
FROM analytics_sales WHERE {window} AND {only} GROUP BY 1, 2, 3, 4
"""

#: Deals opened or won in the window, with the touches that attribute them (NULL: none before).
_DEALS = """
SELECT d.opened_at, d.closed_at, d.status, d.source_channel, d.source_campaign,
    lo.channel, lo.source, f.channel, f.source, lc.channel, lc.source
FROM analytics_deals d
LEFT JOIN LATERAL (
    SELECT t.channel, t.source FROM analytics_touches t WHERE t.customer_id = d.customer_id
    AND t.occurred_at < d.opened_at ORDER BY t.occurred_at DESC, t.position DESC LIMIT 1
) lo ON d.source_channel IS NULL
LEFT JOIN analytics_first_touches f ON f.customer_id = d.customer_id AND f.occurred_at < d.closed_at
LEFT JOIN LATERAL (
    SELECT t.channel, t.source FROM analytics_touches t WHERE t.customer_id = d.customer_id
    AND t.occurred_at < d.closed_at ORDER BY t.occurred_at DESC, t.position DESC LIMIT 1
) lc ON d.status = 'won'
WHERE d.opened_at < %(end)s AND {only} AND (
    d.opened_at >= %(start)s OR (d.status = 'won' AND d.closed_at >= %(start)s AND d.closed_at < %(end)s)
)
"""


#: Memory for the window's hash aggregates (PostgreSQL's default 4 MB spills to disk from about 100,000
#: customers reached in a window); only for the report's own transaction.
_WORK_MEM = "64MB"


async def channel_rows(
    conn: Conn, window: Window, group: Group = "channel", customers: Sequence[UUID] | None = None
) -> list[ChannelRow]:
    """Channel effectiveness in ``window``, only of ``customers`` when given."""
    async with conn.transaction():
        await conn.execute("SELECT set_config('work_mem', %s, true)", (_WORK_MEM,))
        return await _channel_rows(conn, window, group, customers)


async def _channel_rows(
    conn: Conn, window: Window, group: Group, customers: Sequence[UUID] | None
) -> list[ChannelRow]:
    params: dict[str, Any] = {"start": window.start, "end": window.end, "only": list(customers or [])}
    cells: dict[Key, ChannelCounts] = defaultdict(ChannelCounts)

    def key(bucket: date | None, channel: str, source: str) -> Key:
        return (None if window.period is None else bucket, channel, source)

    by_day = _whole_days(window)
    if by_day:
        params |= {
            "first_day": window.start.astimezone(UTC).date(),
            "end_day": window.end.astimezone(UTC).date(),
        }
    per_customer = sql.SQL(_TOUCHES_BY_DAY if by_day else _TOUCHES_RAW).format(
        bucket=_day_bucket(window.period) if by_day else _bucket(window.period, "occurred_at"),
        source=_source(group, "source"),
        window=_in_window("occurred_at"),
        only=_only(customers, "customer_id"),
    )
    touches = sql.SQL(_TOUCHES).format(
        touches=per_customer,
        sale_bucket=_bucket(window.period, "occurred_at"),
        sale_window=_in_window("occurred_at"),
        sale_only=_only(customers, "customer_id"),
    )
    for bucket, channel, source, interactions, reached, purchasers in await _all(conn, touches, params):
        cell = cells[key(bucket, channel, source)]
        cell.interactions, cell.reached, cell.purchasers = int(interactions), int(reached), int(purchasers)
    new = sql.SQL(_NEW).format(
        bucket=_bucket(window.period, "occurred_at"),
        source=_source(group, "source"),
        window=_in_window("occurred_at"),
        only=_only(customers, "customer_id"),
    )
    for bucket, channel, source, count in await _all(conn, new, params):
        cells[key(bucket, channel, source)].new_customers = int(count)
    for which in ("first", "last"):
        sales = sql.SQL(_SALES).format(
            bucket=_bucket(window.period, "occurred_at"),
            which=sql.SQL(which),
            source=_source(group, f"CASE WHEN {which}_channel IS NULL THEN source ELSE {which}_source END"),
            window=_in_window("occurred_at"),
            only=_only(customers, "customer_id"),
        )
        for bucket, channel, source, currency, amount, purchases in await _all(conn, sales, params):
            cell = cells[key(bucket, channel, source)]
            if which == "first":
                cell.revenue_first[currency] = amount
                cell.purchases_first += int(purchases)
            else:
                cell.revenue_last[currency] = amount
                cell.purchases_last += int(purchases)
    deals = sql.SQL(_DEALS).format(only=_only(customers, "d.customer_id"))
    for deal in await _all(conn, deals, params):
        _count_deal(cells, window, group, deal)
    return [channel_row(k, v) for k, v in sorted(cells.items(), key=row_order)]


async def _all(conn: Conn, query: sql.Composed, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    cur = await conn.execute(query, params)
    return list(await cur.fetchall())


def _count_deal(cells: dict[Key, ChannelCounts], window: Window, group: Group, deal: tuple[Any, ...]) -> None:
    """A deal counts as opened for its source (else the last touch before it), as won for its touches."""
    opened_at, closed_at, status, channel, campaign = deal[:5]
    last_open, first_won, last_won = _touch(*deal[5:7]), _touch(*deal[7:9]), _touch(*deal[9:11])

    def cell(at: datetime, channel: str, source: str | None) -> ChannelCounts:
        return cells[(window.bucket(at), channel, grouped_source(group, source))]

    if window.covers(opened_at):
        if channel is not None:
            cell(opened_at, channel, campaign).deals_opened += 1
        else:
            cell(opened_at, *(last_open or (UNKNOWN, None))).deals_opened += 1
    if status == "won" and closed_at is not None and window.covers(closed_at):
        fallback = (channel or UNKNOWN, campaign)
        cell(closed_at, *(first_won or fallback)).won_first += 1
        cell(closed_at, *(last_won or fallback)).won_last += 1


def _touch(channel: str | None, source: str | None) -> tuple[str, str | None] | None:
    """A touch's (channel, source) from a LEFT JOIN; None when there was none."""
    return None if channel is None else (channel, source)
