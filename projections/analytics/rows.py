"""SQL of the analytics fact rows: insert, load and save touches, sales, threads, deals and tasks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from plumbing.eventstore.postgres import Conn
from projections.analytics.facts import DealRow, Response, Sale, TaskRow, Thread, Touch, Visit

TOUCH_COLUMNS = "position, event_id, customer_id, occurred_at, channel, source, direction, agent, event_type"
SALE_COLUMNS = (
    "position, event_id, customer_id, occurred_at, kind, order_id, channel, source, currency, amount,"
    " discounted, items, item_names"
)


async def insert_touches(conn: Conn, touches: Sequence[Touch], origin: dict[int, UUID]) -> None:
    if not touches:
        return
    async with conn.cursor() as cur:
        await cur.executemany(
            f"INSERT INTO analytics_touches ({TOUCH_COLUMNS}, origin_id)"  # noqa: S608 - constant
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (position) DO NOTHING",
            [(*_values(t), origin[t.position]) for t in touches],
        )


async def insert_sales(conn: Conn, sales: Sequence[Sale], origin: dict[int, UUID]) -> None:
    if not sales:
        return
    async with conn.cursor() as cur:
        await cur.executemany(
            f"INSERT INTO analytics_sales ({SALE_COLUMNS}, origin_id)"  # noqa: S608 - constant
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (position) DO NOTHING",
            [(*_values(s)[:-2], list(s.items), Jsonb(s.item_names), origin[s.position]) for s in sales],
        )


def _values(row: object) -> tuple[Any, ...]:
    """A fact dataclass's fields in declaration order (the order of its table's column list)."""
    return tuple(getattr(row, f.name) for f in fields(row))  # type: ignore[arg-type]


def touch_from(row: Sequence[Any]) -> Touch:
    return Touch(*row)


def sale_from(row: Sequence[Any]) -> Sale:
    named = dict(zip([f.name for f in fields(Sale)], row, strict=True))
    return Sale(**{**named, "items": tuple(named["items"]), "item_names": dict(named["item_names"])})


async def facts_of(conn: Conn, customer_ids: Iterable[UUID], upto: int) -> tuple[list[Touch], list[Sale]]:
    """Every touch and sale of ``customer_ids`` at or before log position ``upto``, in log order."""
    ids = list(customer_ids)
    cur = await conn.execute(
        f"SELECT {TOUCH_COLUMNS} FROM analytics_touches"  # noqa: S608 - constant
        " WHERE customer_id = ANY(%s) AND position <= %s ORDER BY position",
        (ids, upto),
    )
    touches = [touch_from(row) for row in await cur.fetchall()]
    cur = await conn.execute(
        f"SELECT {SALE_COLUMNS} FROM analytics_sales"  # noqa: S608 - constant
        " WHERE customer_id = ANY(%s) AND position <= %s ORDER BY position",
        (ids, upto),
    )
    return touches, [sale_from(row) for row in await cur.fetchall()]


async def load_threads(conn: Conn, keys: Iterable[tuple[UUID, str]]) -> dict[tuple[UUID, str], Thread]:
    wanted = list(keys)
    if not wanted:
        return {}
    cur = await conn.execute(
        "SELECT customer_id, channel, pending_since, last_at, replied FROM analytics_threads"
        " WHERE (customer_id, channel) IN (SELECT * FROM unnest(%s::uuid[], %s::text[]))",
        ([k[0] for k in wanted], [k[1] for k in wanted]),
    )
    return {(row[0], row[1]): Thread(*row) for row in await cur.fetchall()}


async def save_threads(conn: Conn, threads: Iterable[Thread], responses: Sequence[Response]) -> None:
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO analytics_threads (customer_id, channel, pending_since, last_at, replied)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (customer_id, channel) DO UPDATE SET"
            " pending_since = excluded.pending_since, last_at = excluded.last_at, replied = excluded.replied",
            [(t.customer_id, t.channel, t.pending_since, t.last_at, t.replied) for t in threads],
        )
        await cur.executemany(
            "INSERT INTO analytics_responses (position, customer_id, channel, agent, inbound_at, replied_at,"
            " seconds, first_response) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (position) DO NOTHING",
            [_values(r) for r in responses],
        )


def _visits_json(visits: tuple[Visit, ...]) -> Jsonb:
    return Jsonb(
        [
            {
                "stage_id": v.stage_id,
                "entered_at": v.entered_at.isoformat(),
                "left_at": v.left_at.isoformat() if v.left_at else None,
                "position": v.position,
                "event_id": str(v.event_id),
                "event_type": v.event_type,
            }
            for v in visits
        ]
    )


def _visits_from(document: list[dict[str, Any]]) -> tuple[Visit, ...]:
    return tuple(
        Visit(
            d["stage_id"],
            datetime.fromisoformat(d["entered_at"]),
            datetime.fromisoformat(d["left_at"]) if d["left_at"] else None,
            d["position"],
            UUID(d["event_id"]),
            d["event_type"],
        )
        for d in document
    )


DEAL_COLUMNS = (
    "deal_id, customer_id, pipeline_id, owner_id, status, opened_at, closed_at, amount, currency,"
    " source_channel, source_campaign, visits, open_position, last_position"
)


def deal_from(row: Sequence[Any]) -> DealRow:
    named = dict(zip([f.name for f in fields(DealRow)], row, strict=True))
    return DealRow(**{**named, "visits": _visits_from(named["visits"])})


async def load_deals(conn: Conn, deal_ids: Iterable[UUID]) -> dict[UUID, DealRow]:
    cur = await conn.execute(
        f"SELECT {DEAL_COLUMNS} FROM analytics_deals WHERE deal_id = ANY(%s)",  # noqa: S608 - constant
        (list(deal_ids),),
    )
    return {row[0]: deal_from(row) for row in await cur.fetchall()}


async def save_deals(conn: Conn, deals: Sequence[DealRow], origin: dict[UUID, UUID]) -> None:
    async with conn.cursor() as cur:
        await cur.executemany(
            f"INSERT INTO analytics_deals ({DEAL_COLUMNS}, stage_id, stage_entered_at, origin_id)"  # noqa: S608
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (deal_id) DO UPDATE SET owner_id = excluded.owner_id, status = excluded.status,"
            " closed_at = excluded.closed_at, amount = excluded.amount, currency = excluded.currency,"
            " visits = excluded.visits, last_position = excluded.last_position,"
            " stage_id = excluded.stage_id, stage_entered_at = excluded.stage_entered_at",
            [
                (
                    *_values(d)[:-3],
                    _visits_json(d.visits),
                    d.open_position,
                    d.last_position,
                    d.stage_id,
                    d.stage_entered_at,
                    origin.get(d.deal_id, d.customer_id),
                )
                for d in deals
            ],
        )


TASK_COLUMNS = (
    "task_id, customer_id, deal_id, assignee, team, created_at, due_at, status, closed_at, last_position"
)


async def load_tasks(conn: Conn, task_ids: Iterable[UUID]) -> dict[UUID, TaskRow]:
    cur = await conn.execute(
        f"SELECT {TASK_COLUMNS} FROM analytics_tasks WHERE task_id = ANY(%s)",  # noqa: S608 - constant
        (list(task_ids),),
    )
    return {row[0]: TaskRow(*row) for row in await cur.fetchall()}


async def save_tasks(conn: Conn, tasks: Sequence[TaskRow], origin: dict[UUID, UUID | None]) -> None:
    """Upsert tasks; ``origin`` (the customer a task was created for) is written once, on insert."""
    async with conn.cursor() as cur:
        await cur.executemany(
            f"INSERT INTO analytics_tasks ({TASK_COLUMNS}, origin_id)"  # noqa: S608 - constant
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (task_id) DO UPDATE SET customer_id = excluded.customer_id,"
            " assignee = excluded.assignee, team = excluded.team, status = excluded.status,"
            " closed_at = excluded.closed_at, last_position = excluded.last_position",
            [(*_values(t), origin.get(t.task_id, t.customer_id)) for t in tasks],
        )
