"""SQL of the analytics fact rows: insert, load and save touches, sales, threads, deals and tasks."""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from plumbing.eventstore.postgres import Conn
from plumbing.fast_json import dumps
from plumbing.sql_rows import columns
from projections.analytics.facts import DealRow, Response, Sale, TaskRow, Thread, Touch, Visit

TOUCH_COLUMNS = "position, event_id, customer_id, occurred_at, channel, source, direction, agent, event_type"
SALE_COLUMNS = (
    "position, event_id, customer_id, occurred_at, kind, order_id, channel, source, currency, amount,"
    " discounted, items, item_names"
)


def json_text(value: Any) -> str:
    """JSON text of a value, for a ``text[]`` cast to jsonb (PostgreSQL stores the jsonb the standard
    library's text would give)."""
    text = dumps(value)
    return text.decode() if isinstance(text, bytes) else text


async def insert_touches(conn: Conn, touches: Sequence[Touch], origin: dict[int, UUID]) -> None:
    """Insert the batch's touches; a position already there (a replay) keeps its row."""
    if not touches:
        return
    await conn.execute(
        f"INSERT INTO analytics_touches ({TOUCH_COLUMNS}, origin_id)"  # noqa: S608 - constant
        " SELECT * FROM unnest(%b::bigint[], %b::uuid[], %b::uuid[], %b::timestamptz[], %b::text[],"
        " %b::text[], %b::text[], %b::text[], %b::text[], %b::uuid[]) ON CONFLICT (position) DO NOTHING",
        columns([(*_values(t), origin[t.position]) for t in touches]),
    )


async def insert_sales(conn: Conn, sales: Sequence[Sale], origin: dict[int, UUID]) -> None:
    """Insert the batch's sales (amounts as text, as a numeric parameter is sent: the scale is kept;
    items as a JSON array, since an array of arrays cannot be ragged); replays keep their rows."""
    if not sales:
        return
    await conn.execute(
        f"INSERT INTO analytics_sales ({SALE_COLUMNS}, origin_id)"  # noqa: S608 - constant
        " SELECT p, e, c, o, k, r, ch, src, cur, a::numeric, d,"
        " ARRAY(SELECT x.item FROM jsonb_array_elements_text(i::jsonb) WITH ORDINALITY AS x(item, ord)"
        " ORDER BY x.ord), n::jsonb, og"
        " FROM unnest(%b::bigint[], %b::uuid[], %b::uuid[], %b::timestamptz[], %b::text[], %b::text[],"
        " %b::text[], %b::text[], %b::text[], %b::text[], %b::boolean[], %b::text[], %b::text[], %b::uuid[])"
        " AS s(p, e, c, o, k, r, ch, src, cur, a, d, i, n, og)"
        " ON CONFLICT (position) DO NOTHING",
        columns(
            [
                (
                    *_values(s)[:-4],
                    str(s.amount),
                    s.discounted,
                    json_text(list(s.items)),
                    json_text(s.item_names),
                    origin[s.position],
                )
                for s in sales
            ]
        ),
    )


def _values(row: object) -> tuple[Any, ...]:
    """A fact dataclass's fields in declaration order (the order of its table's column list)."""
    kind = type(row)
    getter = _GETTERS.get(kind)
    if getter is None:
        getter = _GETTERS[kind] = operator.attrgetter(*(f.name for f in fields(row)))  # type: ignore[arg-type]
    return tuple(getter(row))


_GETTERS: dict[type, operator.attrgetter[Any]] = {}


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
        " WHERE customer_id = ANY(%b::uuid[]) AND position <= %s ORDER BY position",
        (ids, upto),
    )
    touches = [touch_from(row) for row in await cur.fetchall()]
    cur = await conn.execute(
        f"SELECT {SALE_COLUMNS} FROM analytics_sales"  # noqa: S608 - constant
        " WHERE customer_id = ANY(%b::uuid[]) AND position <= %s ORDER BY position",
        (ids, upto),
    )
    return touches, [sale_from(row) for row in await cur.fetchall()]


async def load_threads(conn: Conn, keys: Iterable[tuple[UUID, str]]) -> dict[tuple[UUID, str], Thread]:
    wanted = list(keys)
    if not wanted:
        return {}
    cur = await conn.execute(
        "SELECT customer_id, channel, pending_since, last_at, replied FROM analytics_threads"
        " WHERE (customer_id, channel) IN (SELECT * FROM unnest(%b::uuid[], %b::text[]))",
        ([k[0] for k in wanted], [k[1] for k in wanted]),
    )
    return {(row[0], row[1]): Thread(*row) for row in await cur.fetchall()}


async def save_threads(conn: Conn, threads: Iterable[Thread], responses: Sequence[Response]) -> None:
    """Upsert the threads the batch changed (each once) and insert its replies (replays keep theirs)."""
    changed = [(t.customer_id, t.channel, t.pending_since, t.last_at, t.replied) for t in threads]
    if changed:
        await conn.execute(
            "INSERT INTO analytics_threads (customer_id, channel, pending_since, last_at, replied)"
            " SELECT * FROM unnest(%b::uuid[], %b::text[], %b::timestamptz[], %b::timestamptz[],"
            " %b::boolean[]) ON CONFLICT (customer_id, channel) DO UPDATE SET"
            " pending_since = excluded.pending_since, last_at = excluded.last_at, replied = excluded.replied",
            columns(changed),
        )
    if responses:
        await conn.execute(
            "INSERT INTO analytics_responses (position, customer_id, channel, agent, inbound_at, replied_at,"
            " seconds, first_response) SELECT * FROM unnest(%b::bigint[], %b::uuid[], %b::text[],"
            " %b::text[], %b::timestamptz[], %b::timestamptz[], %b::float8[], %b::boolean[])"
            " ON CONFLICT (position) DO NOTHING",
            columns([_values(r) for r in responses]),
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
    wanted = list(deal_ids)
    if not wanted:
        return {}
    cur = await conn.execute(
        f"SELECT {DEAL_COLUMNS} FROM analytics_deals WHERE deal_id = ANY(%b::uuid[])",  # noqa: S608 - constant
        (wanted,),
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
    wanted = list(task_ids)
    if not wanted:
        return {}
    cur = await conn.execute(
        f"SELECT {TASK_COLUMNS} FROM analytics_tasks WHERE task_id = ANY(%b::uuid[])",  # noqa: S608 - constant
        (wanted,),
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
