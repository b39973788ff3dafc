"""Read routes of the pipeline: the summary and forecast, deal listings, one deal, a customer's sales.

"Now" (time in the current stage, stale flags, the default period) is the access control's clock, so
tests can move it. ``min_position`` waits (bounded) until the read model includes a command's answer.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime, BaseModel

from contracts import DealStatus
from contracts.read.kinds import Message
from contracts.read.pipeline import (
    DealView,
    PipelineSummary,
    StageTime,
    is_overdue,
    is_stale,
    summarize_buckets,
    time_in_stages,
)
from plumbing.access.access_log import Outcome
from plumbing.access.fastapi import Access, AccessDep, control_of, guarded_router, secured
from plumbing.access.policy import Permission, RowResource
from plumbing.access.principal import RowScope
from plumbing.eventstore.postgres import Conn
from plumbing.http import ApiError, ErrorResponse
from services.api import read_your_writes, store
from services.api import sales_queries as queries
from services.api.cursor import BadCursor, decode_cursor, encode_cursor
from services.api.read_your_writes import MinPosition, WaitMs
from services.api.sales_deals import Rules
from services.api.sales_http import pool_of
from services.api.sales_scope import StaffScope
from services.api.tasks import TaskItem

#: How many deals, open tasks and notes a customer's sales section carries; the listings have them all.
_CUSTOMER_ITEMS = 50
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "no such pipeline or deal (or not one the caller may see)"}
}


class DealItem(DealView):
    """A deal as listings show it: with when it entered its stage and whether it sits there too long."""

    in_stage_since: datetime
    stale: bool


class NoteItem(BaseModel):
    note_id: UUID
    actor: str
    text: Message
    occurred_at: datetime
    position: int


class DealDetail(DealItem):
    """One deal with the time it spent in each stage and its newest notes."""

    time_in_stages: list[StageTime]
    notes: list[NoteItem]


class DealPage(BaseModel):
    items: list[DealItem]
    next_cursor: str | None


class CustomerNote(NoteItem):
    deal_id: UUID | None


class CustomerSales(BaseModel):
    """The sales side of a customer card: their deals, open tasks and newest notes (the caller's rows)."""

    customer_id: UUID
    deals: list[DealItem]
    open_tasks: list[TaskItem]
    notes: list[CustomerNote]


class PipelineView(PipelineSummary):
    """The summary, computed from the read model as of ``as_of_position``."""

    as_of_position: int


async def wait_for_position(conn: Conn, min_position: int | None, wait_ms: int) -> None:
    """Read-your-writes: wait (bounded) until the pipeline includes ``min_position``."""
    await read_your_writes.wait_for_position(
        conn, queries.pipeline_checkpoint, min_position, wait_ms, "pipeline"
    )


def _this_month(now: datetime) -> tuple[datetime, datetime]:
    """The calendar month (UTC) ``now`` is in, as ``[start, start of the next month)``."""
    start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return start, (start + timedelta(days=32)).replace(day=1)


class SalesReads:
    """The read side's shell: scope, clock, configuration; the arithmetic is contracts.read.pipeline's."""

    def __init__(self, rules: Rules) -> None:
        self.rules = rules

    def scope(self, access: Access) -> StaffScope:
        return StaffScope.of(access.rows(RowResource.DEALS), self.rules.staff)

    def item(self, view: DealView, now: datetime) -> DealItem:
        pipeline = self.rules.pipelines.pipeline(view.pipeline_id)
        stale = pipeline is not None and is_stale(view, pipeline, now)
        return DealItem(**dict(view), in_stage_since=view.stage_entered_at, stale=stale)

    async def customer(self, conn: Conn, access: Access, customer_id: UUID, now: datetime) -> CustomerSales:
        """The customer's sales section, following merges as the card does; 404 (recorded) otherwise."""
        card = await store.card(conn, customer_id, access.rows(RowResource.CUSTOMERS))
        if card is None:
            exists = await store.card(conn, customer_id, RowScope.everything()) is not None
            await access.record(conn, Outcome.HIDDEN if exists else Outcome.NOT_FOUND, customer_id)
            raise ApiError(404, "customer_not_found", f"no customer {customer_id}")
        served = UUID(card["customer_id"])
        await access.record(conn, Outcome.OK, customer_id, served)
        return await self.section(conn, self.scope(access), card, now)

    async def section(
        self, conn: Conn, scope: StaffScope, card: dict[str, Any], now: datetime
    ) -> CustomerSales:
        """The sales section of ``card`` (a card the caller may see): its own and absorbed customers'."""
        served = UUID(card["customer_id"])
        ids = [served, *(UUID(absorbed) for absorbed in card.get("merged_from", []))]
        deals = await queries.customer_deals(conn, ids, scope, _CUSTOMER_ITEMS)
        tasks = await queries.customer_open_tasks(conn, ids, scope, _CUSTOMER_ITEMS)
        notes = await queries.customer_notes(conn, ids, [d.deal_id for d in deals], _CUSTOMER_ITEMS)
        return CustomerSales(
            customer_id=served,
            deals=[self.item(deal, now) for deal in deals],
            open_tasks=[TaskItem(**dict(task), overdue=is_overdue(task, now)) for task in tasks],
            notes=[CustomerNote(**note) for note in notes],
        )

    async def pipeline(
        self,
        conn: Conn,
        access: Access,
        pipeline_id: str,
        since: datetime | None,
        until: datetime | None,
        now: datetime,
    ) -> PipelineView:
        pipeline = self.rules.pipelines.pipeline(pipeline_id)
        if pipeline is None:
            raise ApiError(404, "pipeline_not_found", f"no pipeline {pipeline_id}")
        month = _this_month(now)
        since, until = since or month[0], until or month[1]
        if since >= until:
            raise ApiError(422, "invalid_period", "since must be before until")
        found = await queries.pipeline_buckets(
            conn, pipeline.id, self.scope(access), (since, until), (self.rules.pipelines, now)
        )
        summary = summarize_buckets(pipeline, found.open, found.closed, since, until)
        return PipelineView(**dict(summary), as_of_position=found.position)


def router(rules: Rules) -> APIRouter:
    routes = guarded_router(tags=["pipeline"])
    reads = SalesReads(rules)
    read = secured(Permission.READ_DEALS)

    @routes.get(
        "/v1/pipelines/{pipeline_id}", response_model=PipelineView, responses=NOT_FOUND, openapi_extra=read
    )
    async def get_pipeline(
        request: Request,
        access: AccessDep,
        pipeline_id: str,
        since: Annotated[
            AwareDatetime | None, Query(description="period start; default: this month's")
        ] = None,
        until: Annotated[
            AwareDatetime | None, Query(description="period end (exclusive); default: now")
        ] = None,
        min_position: MinPosition = None,
        wait_ms: WaitMs = 2000,
    ) -> PipelineView:
        """Per stage: count and sum of open deals and their weighted forecast per currency; won and lost
        totals of the period. Only the deals the caller may see count."""
        now = control_of(request).clock()
        async with pool_of(request).connection() as conn:
            await wait_for_position(conn, min_position, wait_ms)
            return await reads.pipeline(conn, access, pipeline_id, since, until, now)

    @routes.get("/v1/deals", response_model=DealPage, openapi_extra=read)
    async def list_deals(
        request: Request,
        access: AccessDep,
        pipeline: str | None = None,
        stage: str | None = None,
        owner: str | None = None,
        customer: UUID | None = None,
        status: DealStatus | None = None,
        stale: Annotated[
            bool | None, Query(description="only stale (true) or only fresh (false) deals")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        cursor: str | None = None,
        min_position: MinPosition = None,
        wait_ms: WaitMs = 2000,
    ) -> DealPage:
        """Deals the caller may see, newest first, with cursor pagination."""
        try:
            before = decode_cursor(cursor) if cursor else None
        except BadCursor as exc:
            raise ApiError(422, "invalid_cursor", str(exc)) from exc
        wanted = queries.DealFilter(pipeline, stage, owner, customer, status, stale)
        now = control_of(request).clock()
        async with pool_of(request).connection() as conn:
            await wait_for_position(conn, min_position, wait_ms)
            page = await queries.deals(conn, wanted, reads.scope(access), rules.pipelines, now, before, limit)
        return DealPage(
            items=[reads.item(view, now) for view in page.items],
            next_cursor=encode_cursor(page.next_before) if page.next_before is not None else None,
        )

    @routes.get("/v1/deals/{deal_id}", response_model=DealDetail, responses=NOT_FOUND, openapi_extra=read)
    async def get_deal(
        request: Request,
        access: AccessDep,
        deal_id: UUID,
        min_position: MinPosition = None,
        wait_ms: WaitMs = 2000,
    ) -> DealDetail:
        """One deal: its full stage history, the time spent in each stage, whether it is stale, its notes."""
        now = control_of(request).clock()
        async with pool_of(request).connection() as conn:
            await wait_for_position(conn, min_position, wait_ms)
            view = await queries.deal(conn, deal_id, reads.scope(access))
            if view is None:
                raise ApiError(404, "deal_not_found", f"no deal {deal_id}")
            notes = await queries.deal_notes(conn, deal_id)
        item = reads.item(view, now)
        return DealDetail(
            **dict(item), time_in_stages=time_in_stages(view, now), notes=[NoteItem(**note) for note in notes]
        )

    @routes.get(
        "/v1/customers/{customer_id}/sales",
        response_model=CustomerSales,
        responses=NOT_FOUND,
        openapi_extra=secured(Permission.READ_DEALS, audited=True),
    )
    async def customer_sales(
        request: Request,
        access: AccessDep,
        customer_id: UUID,
        min_position: MinPosition = None,
        wait_ms: WaitMs = 2000,
    ) -> CustomerSales:
        """A customer's deals, open tasks and notes: the sales section of their card."""
        now = control_of(request).clock()
        async with pool_of(request).connection() as conn:
            await wait_for_position(conn, min_position, wait_ms)
            return await reads.customer(conn, access, customer_id, now)

    return routes
