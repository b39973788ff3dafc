"""SQL over the analytics projection's tables (and the customer cards, for profile fields and row scopes).

Reports load facts and leave the arithmetic to :mod:`services.api.analytics_reports`; segments compile
their filter to SQL here, so members, sizes and sizes over time never leave PostgreSQL unfiltered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from psycopg import sql

from contracts.read.analytics import CustomerTraits, SegmentPoint, Trigger
from plumbing.access.principal import RowScope
from plumbing.eventstore.postgres import Conn
from services.api.analytics_reminders import History, OpenDeal, Purchase
from services.api.analytics_reports import (
    Buyer,
    DealFact,
    ReplyFact,
    SaleFact,
    TaskFact,
    TouchFact,
    VisitFact,
    Window,
)
from services.api.analytics_segments import Node, filter_sql
from services.api.store import visible_customers

PURCHASE = "interaction.pos.purchase"
_NOW = sql.Placeholder("now")


def _only(customers: Sequence[UUID] | None, column: str) -> tuple[sql.Composable, dict[str, Any]]:
    if customers is None:
        return sql.SQL("TRUE"), {}
    return sql.SQL("{} = ANY(%(only)s)").format(sql.SQL(column)), {"only": list(customers)}


@dataclass(frozen=True)
class ReportFacts:
    touches: list[TouchFact]
    sales: list[SaleFact]
    deals: list[DealFact]


def _visits(document: list[dict[str, Any]]) -> tuple[VisitFact, ...]:
    return tuple(
        VisitFact(
            v["stage_id"],
            datetime.fromisoformat(v["entered_at"]),
            datetime.fromisoformat(v["left_at"]) if v["left_at"] else None,
        )
        for v in document
    )


async def deals(conn: Conn, end: datetime, customers: Sequence[UUID] | None = None) -> list[DealFact]:
    only, params = _only(customers, "customer_id")
    cur = await conn.execute(
        sql.SQL(
            "SELECT deal_id, customer_id, owner_id, status, opened_at, closed_at, amount, currency,"
            " source_channel, source_campaign, visits FROM analytics_deals"
            " WHERE opened_at < %(end)s AND {} ORDER BY open_position"
        ).format(only),
        {"end": end, **params},
    )
    return [_deal(row) for row in await cur.fetchall()]


def _deal(row: Sequence[Any]) -> DealFact:
    (
        deal_id,
        customer_id,
        owner_id,
        status,
        opened_at,
        closed_at,
        amount,
        currency,
        channel,
        campaign,
        visits,
    ) = row
    return DealFact(
        deal_id,
        customer_id,
        owner_id,
        status,
        opened_at,
        closed_at,
        amount,
        currency,
        channel,
        campaign,
        _visits(visits),
    )


async def report_facts(conn: Conn, window: Window, customers: Sequence[UUID] | None = None) -> ReportFacts:
    """Touches before the window's end (first touches may be older), sales in it, deals opened before its
    end; only of ``customers`` when given."""
    only, params = _only(customers, "customer_id")
    cur = await conn.execute(
        sql.SQL(
            "SELECT customer_id, occurred_at, position, channel, source, direction, agent"
            " FROM analytics_touches WHERE occurred_at < %(end)s AND {} ORDER BY occurred_at, position"
        ).format(only),
        {"end": window.end, **params},
    )
    touches = [TouchFact(*row) for row in await cur.fetchall()]
    cur = await conn.execute(
        sql.SQL(
            "SELECT customer_id, occurred_at, position, kind, channel, source, currency, amount"
            " FROM analytics_sales WHERE occurred_at >= %(start)s AND occurred_at < %(end)s AND {}"
            " ORDER BY position"
        ).format(only),
        {"start": window.start, "end": window.end, **params},
    )
    sales = [SaleFact(*row) for row in await cur.fetchall()]
    return ReportFacts(touches, sales, await deals(conn, window.end, customers))


@dataclass(frozen=True)
class StaffFacts:
    touches: list[TouchFact]
    replies: list[ReplyFact]
    tasks: list[TaskFact]
    deals: list[DealFact]


async def staff_facts(conn: Conn, window: Window) -> StaffFacts:
    span = {"start": window.start, "end": window.end}
    cur = await conn.execute(
        "SELECT customer_id, occurred_at, position, channel, source, direction, agent FROM analytics_touches"
        " WHERE agent IS NOT NULL AND occurred_at >= %(start)s AND occurred_at < %(end)s",
        span,
    )
    touches = [TouchFact(*row) for row in await cur.fetchall()]
    cur = await conn.execute(
        "SELECT agent, replied_at, seconds, first_response FROM analytics_responses"
        " WHERE replied_at >= %(start)s AND replied_at < %(end)s ORDER BY position",
        span,
    )
    replies = [ReplyFact(*row) for row in await cur.fetchall()]
    cur = await conn.execute(
        "SELECT assignee, created_at, due_at, status, closed_at FROM analytics_tasks"
        " WHERE created_at < %(end)s",
        span,
    )
    tasks = [TaskFact(*row) for row in await cur.fetchall()]
    return StaffFacts(touches, replies, tasks, await deals(conn, window.end))


async def buyers(conn: Conn, currency: str, scope: RowScope) -> list[Buyer]:
    """Customers with a purchase in ``currency``: last purchase, count, net amount (refunds subtracted)."""
    visible, params = visible_customers(scope, sql.SQL("c.card"))
    cur = await conn.execute(
        sql.SQL(
            "SELECT s.customer_id, max(s.occurred_at) FILTER (WHERE s.kind = 'purchase'),"
            " count(*) FILTER (WHERE s.kind = 'purchase'),"
            " sum(CASE WHEN s.kind = 'purchase' THEN s.amount ELSE -s.amount END)"
            " FROM analytics_sales s LEFT JOIN customer_cards c ON c.customer_id = s.customer_id"
            " WHERE s.currency = %(currency)s AND {}"
            " GROUP BY s.customer_id HAVING count(*) FILTER (WHERE s.kind = 'purchase') > 0"
        ).format(visible),
        {"currency": currency, **params},
    )
    return [Buyer(row[0], row[1], row[2], Decimal(row[3])) for row in await cur.fetchall()]


async def owned_items(conn: Conn) -> tuple[dict[UUID, frozenset[str]], dict[str, str]]:
    """Every buyer's distinct items, and each item's latest name."""
    cur = await conn.execute(
        "SELECT customer_id, array_agg(DISTINCT item ORDER BY item)"
        " FROM analytics_sales, unnest(items) AS item WHERE kind = 'purchase' GROUP BY customer_id"
    )
    owned = {row[0]: frozenset(row[1]) for row in await cur.fetchall()}
    cur = await conn.execute(
        "SELECT DISTINCT ON (n.key) n.key, n.value FROM analytics_sales, jsonb_each_text(item_names) AS n"
        " WHERE kind = 'purchase' ORDER BY n.key, position DESC"
    )
    return owned, {row[0]: row[1] for row in await cur.fetchall()}


# --- segments -------------------------------------------------------------------------------------

_CURRENT = (
    "FROM analytics_traits t LEFT JOIN customer_cards c ON c.customer_id = t.customer_id"
    " WHERE t.valid_to IS NULL"
)


async def segment_size(conn: Conn, node: Node, now: datetime) -> int:
    condition, params = filter_sql(node, _NOW)
    cur = await conn.execute(
        sql.SQL("SELECT count(*) " + _CURRENT + " AND {}").format(condition), {"now": now, **params}
    )
    row = await cur.fetchone()
    return int(row[0]) if row else 0


@dataclass(frozen=True)
class MemberRow:
    customer_id: UUID
    traits: CustomerTraits
    card: dict[str, Any] | None


async def segment_members(
    conn: Conn, node: Node, now: datetime, scope: RowScope, after: UUID | None, limit: int | None
) -> list[MemberRow]:
    """Members the caller may see, by customer id, after ``after``; ``limit`` None: all of them."""
    condition, params = filter_sql(node, _NOW)
    visible, scope_params = visible_customers(scope, sql.SQL("c.card"))
    query = sql.SQL(
        "SELECT t.customer_id, t.traits, c.card " + _CURRENT + " AND {} AND {}"
        " AND (%(after)s::uuid IS NULL OR t.customer_id > %(after)s::uuid) ORDER BY t.customer_id {}"
    ).format(condition, visible, sql.SQL("LIMIT %(limit)s") if limit is not None else sql.SQL(""))
    cur = await conn.execute(query, {"now": now, "after": after, "limit": limit, **params, **scope_params})
    return [MemberRow(row[0], CustomerTraits.model_validate(row[1]), row[2]) for row in await cur.fetchall()]


async def segment_series(conn: Conn, node: Node, first: date, last: date) -> list[SegmentPoint]:
    """Members at the end of each day from ``first`` to ``last`` (UTC), from the traits' versions."""
    condition, params = filter_sql(node, sql.SQL("d.at"))
    cur = await conn.execute(
        sql.SQL(
            "SELECT d.at, (SELECT count(*) FROM analytics_traits t"
            " LEFT JOIN customer_cards c ON c.customer_id = t.customer_id"
            " WHERE t.valid_from < d.at AND (t.valid_to IS NULL OR t.valid_to >= d.at) AND {})"
            " FROM generate_series(%(first)s::timestamptz, %(last)s::timestamptz, interval '1 day') AS d(at)"
            " ORDER BY d.at"
        ).format(condition),
        {"first": _end_of(first), "last": _end_of(last), **params},
    )
    return [
        SegmentPoint(day=(row[0] - timedelta(days=1)).date(), members=int(row[1]))
        for row in await cur.fetchall()
    ]


def _end_of(day: date) -> datetime:
    """Midnight UTC after ``day``: the instant its count is taken at."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)


async def segment_customers(conn: Conn, node: Node, now: datetime) -> list[UUID]:
    condition, params = filter_sql(node, _NOW)
    cur = await conn.execute(
        sql.SQL("SELECT t.customer_id " + _CURRENT + " AND {}").format(condition), {"now": now, **params}
    )
    return [row[0] for row in await cur.fetchall()]


# --- reminders ------------------------------------------------------------------------------------


async def reminder_candidates(conn: Conn, scope: RowScope, only: UUID | None) -> list[UUID]:
    """Customers a rule might fire for: buyers, customers with a birthday, customers with open deals."""
    visible, params = visible_customers(scope, sql.SQL("c.card"))
    cur = await conn.execute(
        sql.SQL(
            "SELECT x.customer_id FROM (SELECT customer_id FROM analytics_traits"
            " WHERE valid_to IS NULL AND purchase_count > 0"
            " UNION SELECT customer_id FROM customer_cards WHERE card -> 'profile' ->> 'birthday' IS NOT NULL"
            " UNION SELECT customer_id FROM analytics_deals WHERE status = 'open') AS x"
            " LEFT JOIN customer_cards c ON c.customer_id = x.customer_id"
            " WHERE {} AND (%(only)s::uuid IS NULL OR x.customer_id = %(only)s::uuid)"
            " AND c.card ->> 'merged_into' IS NULL ORDER BY x.customer_id"
        ).format(visible),
        {"only": only, **params},
    )
    return [row[0] for row in await cur.fetchall()]


def _trigger(position: int, event_id: UUID | str, event_type: str, at: datetime) -> Trigger:
    return Trigger(position=position, event_id=UUID(str(event_id)), event_type=event_type, occurred_at=at)


async def histories(conn: Conn, customers: Sequence[UUID]) -> list[History]:
    """What the reminder rules read, for each of ``customers``."""
    ids = list(customers)
    cur = await conn.execute(
        "SELECT customer_id, position, event_id, occurred_at, discounted FROM analytics_sales"
        " WHERE kind = 'purchase' AND customer_id = ANY(%s) ORDER BY occurred_at, position",
        (ids,),
    )
    purchases: dict[UUID, list[Purchase]] = {}
    for c, position, event_id, at, discounted in await cur.fetchall():
        purchases.setdefault(c, []).append(Purchase(_trigger(position, event_id, PURCHASE, at), discounted))
    cur = await conn.execute(
        "SELECT DISTINCT ON (customer_id) customer_id, position, event_id, event_type, occurred_at"
        " FROM analytics_touches WHERE customer_id = ANY(%s)"
        " ORDER BY customer_id, occurred_at DESC, position DESC",
        (ids,),
    )
    contacts = {row[0]: _trigger(*row[1:]) for row in await cur.fetchall()}
    cur = await conn.execute(
        "SELECT deal_id, customer_id, pipeline_id, stage_id, owner_id, status, visits FROM analytics_deals"
        " WHERE customer_id = ANY(%s) ORDER BY open_position",
        (ids,),
    )
    deal_rows = await cur.fetchall()
    cur = await conn.execute(
        "SELECT customer_id, card -> 'profile' ->> 'birthday',"
        " card -> 'attribute_history' -> 'birthday' -> -1 FROM customer_cards WHERE customer_id = ANY(%s)",
        (ids,),
    )
    birthdays = {row[0]: (row[1], row[2]) for row in await cur.fetchall()}
    return [_history(c, purchases, contacts, deal_rows, birthdays) for c in ids]


def _history(
    customer_id: UUID,
    purchases: dict[UUID, list[Purchase]],
    contacts: dict[UUID, Trigger],
    deal_rows: list[tuple[Any, ...]],
    birthdays: dict[UUID, tuple[str | None, dict[str, Any] | None]],
) -> History:
    mine = [row for row in deal_rows if row[1] == customer_id]
    open_deals = []
    for deal_id, _, pipeline_id, stage_id, owner_id, status, visits in mine:
        if status != "open":
            continue
        entry = visits[-1]
        at = datetime.fromisoformat(entry["entered_at"])
        entered = _trigger(entry["position"], entry["event_id"], entry["event_type"], at)
        open_deals.append(OpenDeal(deal_id, pipeline_id, stage_id, owner_id, entered))
    owner = open_deals[-1].owner_id if open_deals else (mine[-1][4] if mine else None)
    text, change = birthdays.get(customer_id, (None, None))
    birthday_set_by = None
    if text and change:
        at = datetime.fromisoformat(change["at"])
        birthday_set_by = _trigger(change["position"], change["event_id"], "customer.attribute", at)
    return History(
        customer_id=customer_id,
        owner_id=owner,
        purchases=tuple(purchases.get(customer_id, [])),
        last_contact=contacts.get(customer_id),
        birthday=date.fromisoformat(text) if text else None,
        birthday_set_by=birthday_set_by,
        open_deals=tuple(open_deals),
    )
