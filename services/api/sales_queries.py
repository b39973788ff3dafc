"""Read-model queries of the sales routes: the pipeline projection's tables only, never the write side.

Every query takes the caller's :class:`StaffScope` and applies it in its WHERE clause, so deals of
other teams never leave PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg import sql
from psycopg.rows import dict_row

from contracts import DealStatus
from contracts.read.pipeline import Bucket, DealView, TaskView
from contracts.sales_config import PipelinesConfig
from plumbing.eventstore.postgres import Conn
from services.api.sales_scope import StaffScope

_NO_LIMIT = 2**63 - 1


async def pipeline_checkpoint(conn: Conn) -> int:
    """The log position the pipeline read model includes: what ``min_position`` is compared with."""
    cur = await conn.execute("SELECT position FROM projection_checkpoints WHERE name = 'pipeline'")
    row = await cur.fetchone()
    return int(row[0]) if row else 0


_BUCKETS = """
SELECT checkpoint.position, b.is_open, b.key, b.currency, b.count, b.amount, b.stale
  FROM (SELECT coalesce((SELECT position FROM projection_checkpoints WHERE name = 'pipeline'), 0) AS position)
       AS checkpoint
  LEFT JOIN (
    SELECT true AS is_open, stage_id AS key, currency, count(*) AS count, sum(amount) AS amount,
           count(*) FILTER (WHERE {stale}) AS stale
      FROM pipeline_deals WHERE pipeline_id = %(pipeline)s AND status = 'open' AND ({visible})
     GROUP BY stage_id, currency
    UNION ALL
    SELECT false, status, currency, count(*), sum(amount), 0
      FROM pipeline_deals WHERE pipeline_id = %(pipeline)s AND status IN ('won', 'lost')
       AND closed_at >= %(since)s AND closed_at < %(until)s AND ({visible})
     GROUP BY status, currency
  ) AS b ON true
 ORDER BY b.is_open, b.key, b.currency
"""


@dataclass(frozen=True)
class PipelineBuckets:
    """Open deals by stage and closed ones by outcome (each per currency), and the position they are at."""

    position: int
    open: list[Bucket]
    closed: list[Bucket]


async def pipeline_buckets(
    conn: Conn,
    pipeline_id: str,
    scope: StaffScope,
    period: tuple[datetime, datetime],
    stale_at: tuple[PipelinesConfig, datetime],
) -> PipelineBuckets:
    """Counts and exact sums of the pipeline's deals the scope reaches: open ones by stage (with how many
    are stale at ``stale_at``'s time), ones won or lost in ``period`` (``[since, until)``) by outcome.
    One statement, so one snapshot: totals and position agree."""
    visible, params = scope.condition(sql.Identifier("owner_id"))
    stale, stale_params = _stale_condition(*stale_at)
    since, until = period
    cur = await conn.execute(
        sql.SQL(_BUCKETS).format(visible=visible, stale=stale),
        {"pipeline": pipeline_id, "since": since, "until": until, **params, **stale_params},
    )
    rows = await cur.fetchall()
    found = [(is_open, Bucket(*rest)) for _, is_open, *rest in rows if is_open is not None]
    return PipelineBuckets(
        position=int(rows[0][0]),
        open=[bucket for is_open, bucket in found if is_open],
        closed=[bucket for is_open, bucket in found if not is_open],
    )


@dataclass(frozen=True)
class DealFilter:
    """What ``GET /v1/deals`` narrows by; None means any."""

    pipeline_id: str | None = None
    stage_id: str | None = None
    owner_id: str | None = None
    customer_id: UUID | None = None
    status: DealStatus | None = None
    stale: bool | None = None


def _stale_condition(pipelines: PipelinesConfig, now: datetime) -> tuple[sql.Composable, dict[str, Any]]:
    """Open deals that entered their stage before the stage's stale cutoff (per pipeline and stage)."""
    cutoffs = [
        (pipeline.id, stage.id, now - timedelta(days=stage.stale_after_days))
        for pipeline in pipelines.pipelines
        for stage in pipeline.open_stages
        if stage.stale_after_days is not None
    ]
    condition = sql.SQL(
        "(status = 'open' AND EXISTS (SELECT 1 FROM unnest(%(stale_pipelines)s::text[],"
        " %(stale_stages)s::text[], %(stale_cutoffs)s::timestamptz[]) AS s(pipeline_id, stage_id, cutoff)"
        " WHERE s.pipeline_id = pipeline_deals.pipeline_id AND s.stage_id = pipeline_deals.stage_id"
        " AND pipeline_deals.stage_entered_at < s.cutoff))"
    )
    return condition, {
        "stale_pipelines": [p for p, _, _ in cutoffs],
        "stale_stages": [s for _, s, _ in cutoffs],
        "stale_cutoffs": [c for _, _, c in cutoffs],
    }


def _filter_conditions(
    wanted: DealFilter, pipelines: PipelinesConfig, now: datetime
) -> tuple[list[sql.Composable], dict[str, Any]]:
    conditions: list[sql.Composable] = []
    params: dict[str, Any] = {}
    for column, value in (
        ("pipeline_id", wanted.pipeline_id),
        ("stage_id", wanted.stage_id),
        ("owner_id", wanted.owner_id),
        ("customer_id", wanted.customer_id),
        ("status", wanted.status.value if wanted.status else None),
    ):
        if value is not None:
            conditions.append(sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder(column)))
            params[column] = value
    if wanted.stale is not None:
        stale, stale_params = _stale_condition(pipelines, now)
        conditions.append(stale if wanted.stale else sql.SQL("NOT {}").format(stale))
        params.update(stale_params)
    return conditions, params


@dataclass(frozen=True)
class DealPage:
    items: list[DealView]
    next_before: int | None


async def deals(
    conn: Conn,
    wanted: DealFilter,
    scope: StaffScope,
    pipelines: PipelinesConfig,
    now: datetime,
    before: int | None,
    limit: int,
) -> DealPage:
    """Deals newest first (by the position they were opened at); ``before`` is where the last page ended."""
    conditions, params = _filter_conditions(wanted, pipelines, now)
    visible, scope_params = scope.condition(sql.Identifier("owner_id"))
    where = sql.SQL(" AND ").join([visible, sql.SQL("opened_position < %(before)s"), *conditions])
    cur = await conn.execute(
        sql.SQL(
            "SELECT deal FROM pipeline_deals WHERE {} ORDER BY opened_position DESC LIMIT %(limit)s"
        ).format(where),
        {**params, **scope_params, "before": before if before is not None else _NO_LIMIT, "limit": limit + 1},
    )
    views = [DealView.model_validate(row[0]) for row in await cur.fetchall()]
    more = len(views) > limit
    views = views[:limit]
    return DealPage(views, views[-1].opened_position if more else None)


async def deal(conn: Conn, deal_id: UUID, scope: StaffScope) -> DealView | None:
    """The deal when the scope reaches it; None both when there is none and when it is out of scope."""
    visible, params = scope.condition(sql.Identifier("owner_id"))
    cur = await conn.execute(
        sql.SQL("SELECT deal FROM pipeline_deals WHERE deal_id = %(deal)s AND ({})").format(visible),
        {"deal": deal_id, **params},
    )
    row = await cur.fetchone()
    return DealView.model_validate(row[0]) if row else None


async def deal_notes(conn: Conn, deal_id: UUID, limit: int = 50) -> list[dict[str, Any]]:
    """The deal's newest notes (call only for a deal the caller's scope reached)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT note_id, actor, text, occurred_at, position FROM pipeline_notes"
            " WHERE deal_id = %s ORDER BY position DESC LIMIT %s",
            (deal_id, limit),
        )
        return await cur.fetchall()


@dataclass(frozen=True)
class TaskFilter:
    """What task queues narrow by; ``status`` ``overdue`` means open and due before now."""

    status: str | None = None
    assignee: str | None = None
    team: str | None = None
    customer_id: UUID | None = None
    deal_id: UUID | None = None


def _task_conditions(wanted: TaskFilter, now: datetime) -> tuple[list[sql.Composable], dict[str, Any]]:
    conditions: list[sql.Composable] = []
    params: dict[str, Any] = {}
    status = "open" if wanted.status == "overdue" else wanted.status
    for column, value in (
        ("status", status),
        ("assignee", wanted.assignee),
        ("team", wanted.team),
        ("customer_id", wanted.customer_id),
        ("deal_id", wanted.deal_id),
    ):
        if value is not None:
            conditions.append(sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder(column)))
            params[column] = value
    if wanted.status == "overdue":
        conditions.append(sql.SQL("due_at < %(now)s"))
        params["now"] = now
    return conditions, params


@dataclass(frozen=True)
class TaskPage:
    items: list[TaskView]
    next_after: int | None


async def tasks(
    conn: Conn, wanted: TaskFilter, scope: StaffScope, now: datetime, after: int | None, limit: int
) -> TaskPage:
    """Tasks oldest first (a queue's order); ``after`` is the position the previous page ended at."""
    conditions, params = _task_conditions(wanted, now)
    visible, scope_params = scope.condition(sql.Identifier("assignee"))
    where = sql.SQL(" AND ").join([visible, sql.SQL("created_position > %(after)s"), *conditions])
    cur = await conn.execute(
        sql.SQL("SELECT task FROM pipeline_tasks WHERE {} ORDER BY created_position LIMIT %(limit)s").format(
            where
        ),
        {**params, **scope_params, "after": after or 0, "limit": limit + 1},
    )
    views = [TaskView.model_validate(row[0]) for row in await cur.fetchall()]
    more = len(views) > limit
    views = views[:limit]
    return TaskPage(views, views[-1].created_position if more else None)


async def customer_deals(
    conn: Conn, customer_ids: list[UUID], scope: StaffScope, limit: int
) -> list[DealView]:
    """The customers' deals the scope reaches, newest first (``customer_ids``: a card and the ones it
    absorbed)."""
    visible, params = scope.condition(sql.Identifier("owner_id"))
    cur = await conn.execute(
        sql.SQL(
            "SELECT deal FROM pipeline_deals WHERE customer_id = ANY(%(customers)s) AND ({})"
            " ORDER BY opened_position DESC LIMIT %(limit)s"
        ).format(visible),
        {"customers": customer_ids, "limit": limit, **params},
    )
    return [DealView.model_validate(row[0]) for row in await cur.fetchall()]


async def customer_open_tasks(
    conn: Conn, customer_ids: list[UUID], scope: StaffScope, limit: int
) -> list[TaskView]:
    """The customers' open tasks the scope reaches, oldest first."""
    visible, params = scope.condition(sql.Identifier("assignee"))
    cur = await conn.execute(
        sql.SQL(
            "SELECT task FROM pipeline_tasks WHERE customer_id = ANY(%(customers)s) AND status = 'open'"
            " AND ({}) ORDER BY created_position LIMIT %(limit)s"
        ).format(visible),
        {"customers": customer_ids, "limit": limit, **params},
    )
    return [TaskView.model_validate(row[0]) for row in await cur.fetchall()]


async def customer_notes(
    conn: Conn, customer_ids: list[UUID], visible_deals: list[UUID], limit: int
) -> list[dict[str, Any]]:
    """The customers' newest notes: those on the customer, and those on deals the caller sees."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT note_id, deal_id, actor, text, occurred_at, position FROM pipeline_notes"
            " WHERE customer_id = ANY(%s) AND (deal_id IS NULL OR deal_id = ANY(%s))"
            " ORDER BY position DESC LIMIT %s",
            (customer_ids, visible_deals, limit),
        )
        return await cur.fetchall()
