"""``/v1/analytics/...``: reports, segments, recommendations, reminders and report pages.

Who sees what (deploy/access-policy.toml): aggregate reports, RFM scores and segment sizes need
``read_payments`` (revenue is in them) and name no person; segment members, exports and recommendations
are customer reads (``read_card``, row scopes, audited) whose personal fields are masked per role (a
marketing analyst, masking names and contacts, gets ids and traits); reminders are sales work
(``read_deals``), and turning one into a task a sales command (``write_deals``). Saving and deleting
segment definitions (``manage_segments``) touches no customer data; a saved segment serves every
segment route like one of deploy/analytics.toml.
Every report answers ``?format=csv`` too. Reads that list customers (members, exports, RFM scores,
reminders) record every customer they returned in the access log.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

import psycopg
import structlog
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from psycopg_pool import AsyncConnectionPool
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from contracts.read.analytics import Reminder, SegmentMember, SegmentSize
from contracts.sales_tasks import TaskKind
from plumbing.access.access_log import Outcome
from plumbing.access.fastapi import Access, AccessDep, control_of, guarded_router, secured
from plumbing.access.policy import Permission, RowResource
from plumbing.eventstore.postgres import Conn
from plumbing.http import ApiError
from services.api import analytics_pages as pages
from services.api import analytics_queries as queries
from services.api import analytics_saved as saved
from services.api import store
from services.api.analytics_answers import (
    ChannelReport,
    MemberPage,
    Recommendations,
    Reminders,
    RfmPage,
    SegmentHistory,
    SegmentList,
    StaffReport,
)
from services.api.analytics_channels import channel_rows
from services.api.analytics_config import AnalyticsConfig, Segment, load_analytics
from services.api.analytics_export import Format, answer
from services.api.analytics_recommend import recommend
from services.api.analytics_reminders import due
from services.api.analytics_reports import Group, Period, Window, rfm, staff_report
from services.api.analytics_segments import MAX_FILTER_LENGTH, FilterError, parse_filter
from services.api.sales_config import load_rules
from services.api.sales_deals import Rules
from services.api.sales_http import Command, IdempotencyHeader
from services.api.sales_scope import StaffScope
from services.api.settings import ApiSettings
from services.api.tasks import TaskBody, TaskCommands

log = structlog.get_logger()
MEMBER_VIEW = "analytics_member"
MAX_SPAN_DAYS = 3660
DEFAULT_SPAN_DAYS = 30
FormatQuery = Annotated[Format, Query(description="json, or csv for a download")]
#: The days a report may name: every window, bucket and default span around them stays a valid date.
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(9998, 12, 31)


_FAR_YEAR = re.compile(r"^[+-]?\d{5,}-\d{2}-\d{2}$")


def _day(value: object) -> date | None:
    """A query date: empty means the default (None); else a YYYY-MM-DD day from FIRST_DAY to LAST_DAY
    (a far-future day would overflow the window arithmetic: refused, not a 500)."""
    if value is None or value == "":
        return None
    text = value if isinstance(value, str) else ""
    try:
        day = date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        day = None
    if day is None and not _FAR_YEAR.match(text):
        raise PydanticCustomError("date_invalid", "not a day (YYYY-MM-DD)")
    if day is None or not FIRST_DAY <= day <= LAST_DAY:
        raise PydanticCustomError(
            "date_out_of_range",
            "out of range: days run from {first} to {last}",
            {"first": FIRST_DAY.isoformat(), "last": LAST_DAY.isoformat()},
        )
    return day


Day = Annotated[date | None, BeforeValidator(_day)]
#: A currency code, or None (the default) for no value or an empty one.
Code = Annotated[
    Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None,
    BeforeValidator(lambda value: None if value == "" else value),
]
From = Annotated[Day, Query(alias="from", description="first day (UTC), default 30 days before `to`")]
To = Annotated[Day, Query(description="last day (UTC), inclusive; default today")]


def _pool(request: Request) -> AsyncConnectionPool[Conn]:
    pool: AsyncConnectionPool[Conn] = request.app.state.pool
    return pool


def _now(request: Request) -> datetime:
    return control_of(request).clock()


def _window(request: Request, first: date | None, last: date | None, period: Period | None = None) -> Window:
    last = last or _now(request).date()
    first = first or last - timedelta(days=DEFAULT_SPAN_DAYS - 1)
    if first > last:
        raise ApiError(422, "invalid_period", "`from` is after `to`")
    if (last - first).days >= MAX_SPAN_DAYS:
        raise ApiError(422, "invalid_period", f"a period spans at most {MAX_SPAN_DAYS} days")
    start = datetime.combine(first, time(), tzinfo=UTC)
    return Window(start, datetime.combine(last, time(), tzinfo=UTC) + timedelta(days=1), period)


async def _segment(conn: Conn, config: AnalyticsConfig, segment_id: str) -> Segment:
    """A configured segment, else a saved one; 404 naming the segments there are."""
    found = config.segment(segment_id) or await saved.saved_segment(conn, segment_id)
    if found is None:
        known = ", ".join(s.id for s, _ in await _all_segments(conn, config))
        raise ApiError(404, "segment_not_found", f"no segment {segment_id!r}; segments: {known}")
    if isinstance(found, saved.Unusable):
        raise ApiError(
            409, "segment_unusable", f"segment {segment_id!r} cannot be run: {found.error}; save it again"
        )
    return found


Origin = Literal["config", "api"]


async def _all_segments(conn: Conn, config: AnalyticsConfig) -> list[tuple[Segment, Origin]]:
    """The configured segments, then the saved ones that can be run."""
    found: list[tuple[Segment, Origin]] = [(s, "config") for s in config.segments]
    return found + [(s, "api") for s in await saved.saved_segments(conn) if isinstance(s, Segment)]


async def _size(conn: Conn, segment: Segment | saved.Unusable, origin: Origin, now: datetime) -> SegmentSize:
    """``segment`` and its size now. One that cannot be run (a stored filter failing today's checks, or
    one the database cannot evaluate, in its own savepoint) says why in ``error``: one bad segment never
    fails the listing of the others."""
    described = SegmentSize(
        segment_id=segment.id,
        name=segment.name,
        description=segment.description,
        filter=segment.filter,
        members=None,
        origin=origin,
    )
    if isinstance(segment, saved.Unusable):
        return described.model_copy(update={"error": segment.error})
    try:
        async with conn.transaction():
            members = await queries.segment_size(conn, segment.tree(), now)
    except psycopg.errors.DataError as exc:
        log.warning("analytics_segment_unusable", segment_id=segment.id, sqlstate=exc.sqlstate)
        problem = f"the filter cannot be run: {exc.diag.message_primary}"
        return described.model_copy(update={"error": problem})
    return described.model_copy(update={"members": members})


class SegmentBody(BaseModel):
    """A segment to save: ``filter`` in the segment language (services/api/analytics_segments.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=1000)
    filter: str = Field(min_length=1, max_length=MAX_FILTER_LENGTH)

    def segment(self) -> Segment:
        """The checked definition; 422 ``invalid_filter`` naming what is wrong with the filter."""
        try:
            parse_filter(self.filter)
        except FilterError as exc:
            raise ApiError(422, "invalid_filter", f"filter {self.filter!r}: {exc}") from exc
        return Segment(id=self.id, name=self.name, description=self.description, filter=self.filter)


def _encode(customer_id: UUID) -> str:
    return base64.urlsafe_b64encode(f"c:{customer_id}".encode()).decode().rstrip("=")


def _decode(cursor: str | None) -> UUID | None:
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, value = text.partition(":")
        if prefix != "c":
            raise ValueError("wrong prefix")
        return UUID(value)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ApiError(422, "invalid_cursor", "cursor is not one this API issued") from exc


async def _visible_customer(conn: Conn, access: Access, customer_id: UUID) -> UUID:
    """The customer (after merges) when the caller's rows reach it, recorded in the access log; else 404."""
    found = await store.card(conn, customer_id, access.rows(RowResource.CUSTOMERS))
    if found is None:
        await access.record(conn, Outcome.NOT_FOUND, customer_id)
        raise ApiError(404, "customer_not_found", f"no customer {customer_id}")
    served = UUID(found["customer_id"])
    await access.record(conn, Outcome.OK, customer_id, served)
    return served


def _member(access: Access, row: queries.MemberRow) -> dict[str, Any]:
    card = row.card or {}
    ids = card.get("identities", [])
    member = SegmentMember(
        customer_id=row.customer_id,
        display_name=card.get("display_name"),
        emails=[i["value"] for i in ids if i.get("kind") == "email"],
        phones=[i["value"] for i in ids if i.get("kind") == "phone"],
        traits=row.traits,
    )
    return access.view(MEMBER_VIEW, member.model_dump(mode="json"), SegmentMember)


class ReminderTaskBody(BaseModel):
    """Which customer's reminder; the task goes to the customer's owner unless an assignee or a team
    is named."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    customer_id: UUID
    assignee: str | None = None
    team: str | None = None
    due_at: AwareDatetime | None = Field(default=None, description="default: one day from now")
    kind: TaskKind = TaskKind.FOLLOW_UP


class Analytics:
    """The routes' shared configuration: analytics file, sales rules (owners, stale stages, tasks)."""

    def __init__(self, settings: ApiSettings) -> None:
        self.config = load_analytics()
        self.rules: Rules = load_rules(settings.pipelines_file, settings.staff_file)
        self.tasks = TaskCommands(self.rules)

    def team_of(self, staff_id: str) -> str | None:
        team = self.rules.staff.team_of(staff_id)
        return team.id if team else None

    def staff_of(self, agent: str) -> str | None:
        """The staff member a channel's agent id is (``channel_ids`` in the staff file), if any."""
        return self.rules.staff.staff_for_agent(agent)

    def stale_after(self, pipeline_id: str, stage_id: str) -> int | None:
        pipeline = self.rules.pipelines.pipeline(pipeline_id)
        stage = pipeline.stage(stage_id) if pipeline else None
        return stage.stale_after_days if stage else None

    async def customers_of(self, conn: Conn, segment_id: str | None, now: datetime) -> list[UUID] | None:
        if segment_id is None:
            return None
        chosen = await _segment(conn, self.config, segment_id)
        return await queries.segment_customers(conn, chosen.tree(), now)

    async def reminders(self, conn: Conn, access: Access, now: datetime, only: UUID | None) -> list[Reminder]:
        candidates = await queries.reminder_candidates(conn, access.rows(RowResource.CUSTOMERS), only)
        scope = StaffScope.of(access.rows(RowResource.DEALS), self.rules.staff)
        found: list[Reminder] = []
        for history in await queries.histories(conn, candidates):
            found += due(history, self.config.reminders, now, self.stale_after)
        return [r for r in found if r.owner_id is None or scope.covers(r.owner_id)]


def router(settings: ApiSettings) -> APIRouter:
    """Every analytics route; the analytics and sales files are read once, here."""
    routes = guarded_router(tags=["analytics"])
    an = Analytics(settings)
    aggregates = secured(Permission.READ_PAYMENTS)

    @routes.get("/v1/analytics/channels", response_model=ChannelReport, openapi_extra=aggregates)
    async def channels(
        request: Request,
        access: AccessDep,
        first: From = None,
        to: To = None,
        period: Period | None = None,
        group: Group = "channel",
        segment: Annotated[str | None, Query(description="only the customers of this segment")] = None,
        customer_id: Annotated[UUID | None, Query(description="only this customer")] = None,
        format: FormatQuery = "json",
    ) -> Response:
        """Channel effectiveness per channel (``group=source``: per campaign/source) and period, for
        everyone, one segment or one customer."""
        window = _window(request, first, to, period)
        async with _pool(request).connection() as conn:
            customers = await an.customers_of(conn, segment, _now(request))
            if customer_id is not None:
                served = await _visible_customer(conn, access, customer_id)
                customers = [c for c in customers if c == served] if customers is not None else [served]
            rows = await channel_rows(conn, window, group, customers)
        return answer("channels", rows, format)

    @routes.get("/v1/analytics/staff", response_model=StaffReport, openapi_extra=aggregates)
    async def staff(
        request: Request, first: From = None, to: To = None, format: FormatQuery = "json"
    ) -> Response:
        """Staff and team effectiveness: response times, tasks on time, deals, revenue, time per stage."""
        window = _window(request, first, to)
        async with _pool(request).connection() as conn:
            facts = await queries.staff_facts(conn, window)
        rows = staff_report(
            facts.touches,
            facts.replies,
            facts.tasks,
            facts.deals,
            window,
            _now(request),
            an.team_of,
            an.staff_of,
        )
        return answer("staff", rows, format)

    @routes.get("/v1/analytics/rfm", response_model=RfmPage, openapi_extra=aggregates)
    async def rfm_scores(
        request: Request,
        access: AccessDep,
        currency: Annotated[str | None, Query(pattern=r"^[A-Z]{3}$")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
        format: FormatQuery = "json",
    ) -> Response:
        """RFM scores of every buyer the caller may see (customer ids and figures only), best first."""
        chosen = currency or an.config.currency
        async with _pool(request).connection() as conn:
            found = await queries.buyers(conn, chosen, access.rows(RowResource.CUSTOMERS))
            rows = rfm(found, chosen, _now(request))
            page = rows[offset : offset + limit]
            await access.record_bulk(conn, [row.customer_id for row in page])
        return answer("rfm", page, format, {"total": len(rows)})

    @routes.get("/v1/analytics/segments", response_model=SegmentList, openapi_extra=aggregates)
    async def segments(request: Request, format: FormatQuery = "json") -> Response:
        """Segments (configured and saved through the API) and how many customers each has now."""
        now = _now(request)
        async with _pool(request).connection() as conn:
            sizes = [await _size(conn, s, "config", now) for s in an.config.segments]
            sizes += [await _size(conn, s, "api", now) for s in await saved.saved_segments(conn)]
        return answer("segments", sizes, format)

    managed = secured(Permission.MANAGE_SEGMENTS)

    @routes.post("/v1/analytics/segments", openapi_extra=managed)
    async def save_segment(request: Request, access: AccessDep, body: SegmentBody) -> JSONResponse:
        """Create (201) or replace (200) a saved segment; the filter is checked first (422
        ``invalid_filter``); an id of deploy/analytics.toml is not the API's to change (409)."""
        segment = body.segment()
        if an.config.segment(segment.id) is not None:
            raise ApiError(
                409, "segment_in_config", f"segment {segment.id!r} is defined in the analytics file"
            )
        async with _pool(request).connection() as conn:
            created = await saved.save_segment(conn, segment, access.principal.id, _now(request))
        log.info("analytics_segment_saved", segment_id=segment.id, principal_id=access.principal.id)
        return JSONResponse(segment.model_dump(mode="json"), status_code=201 if created else 200)

    @routes.delete("/v1/analytics/segments/{segment_id}", status_code=204, openapi_extra=managed)
    async def delete_segment(request: Request, access: AccessDep, segment_id: str) -> Response:
        """Delete a saved segment; one of deploy/analytics.toml is refused (409), an unknown one 404."""
        if an.config.segment(segment_id) is not None:
            raise ApiError(
                409,
                "segment_in_config",
                f"segment {segment_id!r} is defined in the analytics file: edit it there",
            )
        async with _pool(request).connection() as conn:
            if not await saved.delete_segment(conn, segment_id):
                raise ApiError(404, "segment_not_found", f"no saved segment {segment_id!r}")
        log.info("analytics_segment_deleted", segment_id=segment_id, principal_id=access.principal.id)
        return Response(status_code=204)

    @routes.get(
        "/v1/analytics/segments/{segment_id}/history", response_model=SegmentHistory, openapi_extra=aggregates
    )
    async def segment_history(
        request: Request, segment_id: str, first: From = None, to: To = None, format: FormatQuery = "json"
    ) -> Response:
        """Members at the end of each day, from the customers' traits as they stood that day."""
        window = _window(request, first, to)
        last = (window.end - timedelta(days=1)).date()
        async with _pool(request).connection() as conn:
            chosen = await _segment(conn, an.config, segment_id)
            points = await queries.segment_series(conn, chosen.tree(), window.start.date(), last)
        return answer(f"segment-{segment_id}", points, format)

    @routes.get(
        "/v1/analytics/segments/{segment_id}/members",
        response_model=MemberPage,
        openapi_extra=secured(Permission.READ_CARD, audited=True),
    )
    async def segment_members(
        request: Request,
        access: AccessDep,
        segment_id: str,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        cursor: str | None = None,
    ) -> JSONResponse:
        """Members the caller may see, by customer id, with cursor pagination."""
        after = _decode(cursor)
        async with _pool(request).connection() as conn:
            chosen = await _segment(conn, an.config, segment_id)
            found = await queries.segment_members(
                conn, chosen.tree(), _now(request), access.rows(RowResource.CUSTOMERS), after, limit + 1
            )
            page, more = found[:limit], len(found) > limit
            await access.record_bulk(conn, [row.customer_id for row in page])
        return JSONResponse(
            {
                "items": [_member(access, row) for row in page],
                "next_cursor": _encode(page[-1].customer_id) if more else None,
            }
        )

    @routes.get(
        "/v1/analytics/segments/{segment_id}/export",
        response_model=MemberPage,
        openapi_extra=secured(Permission.READ_CARD, audited=True),
    )
    async def segment_export(
        request: Request, access: AccessDep, segment_id: str, format: FormatQuery = "csv"
    ) -> Response:
        """Every member the caller may see, as CSV (default) or JSON, masked like the member list."""
        async with _pool(request).connection() as conn:
            chosen = await _segment(conn, an.config, segment_id)
            found = await queries.segment_members(
                conn, chosen.tree(), _now(request), access.rows(RowResource.CUSTOMERS), None, None
            )
            await access.record_bulk(conn, [row.customer_id for row in found])
        return answer(f"segment-{segment_id}-members", [_member(access, row) for row in found], format)

    @routes.get(
        "/v1/analytics/customers/{customer_id}/recommendations",
        response_model=Recommendations,
        openapi_extra=secured(Permission.READ_CARD, audited=True),
    )
    async def recommendations(
        request: Request,
        access: AccessDep,
        customer_id: UUID,
        limit: Annotated[int | None, Query(ge=1, le=50)] = None,
        format: FormatQuery = "json",
    ) -> Response:
        """Items to offer next from co-purchase statistics, never one the customer owns, with evidence."""
        async with _pool(request).connection() as conn:
            served = await _visible_customer(conn, access, customer_id)
            owned, names = await queries.owned_items(conn)
        settings = an.config.recommendations
        found = recommend(
            owned, served, limit=limit or settings.limit, min_support=settings.min_support, names=names
        )
        return answer("recommendations", found, format, {"customer_id": str(served)})

    @routes.get(
        "/v1/analytics/reminders", response_model=Reminders, openapi_extra=secured(Permission.READ_DEALS)
    )
    async def reminders(
        request: Request, access: AccessDep, customer_id: UUID | None = None, format: FormatQuery = "json"
    ) -> Response:
        """Reminders due now from the configured rules, each with the events that triggered it."""
        async with _pool(request).connection() as conn:
            found = await an.reminders(conn, access, _now(request), customer_id)
            await access.record_bulk(conn, list(dict.fromkeys(r.customer_id for r in found)))
        return answer("reminders", found, format)

    @routes.post(
        "/v1/analytics/reminders/{reminder_id}/task",
        status_code=201,
        openapi_extra=secured(Permission.WRITE_DEALS),
    )
    async def reminder_task(
        request: Request,
        access: AccessDep,
        reminder_id: UUID,
        body: ReminderTaskBody,
        idempotency_key: IdempotencyHeader = None,
    ) -> JSONResponse:
        """Make a due reminder a task (the sales task command; the reminder's id is the default
        idempotency key, so one reminder makes one task)."""
        now = _now(request)
        async with _pool(request).connection() as conn:
            found = await an.reminders(conn, access, now, body.customer_id)
        reminder = next((r for r in found if r.reminder_id == reminder_id), None)
        if reminder is None:
            raise ApiError(
                404, "reminder_not_found", f"no reminder {reminder_id} is due for {body.customer_id}"
            )
        assignee = body.assignee or (None if body.team else reminder.owner_id)
        if assignee is None and body.team is None:
            raise ApiError(422, "no_owner", "the customer has no owner: name an assignee or a team")
        task = TaskBody(
            assignee=assignee,
            team=None if assignee else body.team,
            kind=body.kind,
            title=f"{reminder.title}: {reminder.reason}"[:300],
            due_at=body.due_at or now + timedelta(days=1),
            customer_id=reminder.customer_id,
        )
        command = Command(request, access, idempotency_key or f"reminder:{reminder_id}", body)
        return await an.tasks.create(command, task)

    @routes.get("/v1/analytics/pages/{report}", response_class=HTMLResponse, openapi_extra=aggregates)
    async def report_page(
        request: Request,
        report: Literal["funnel", "revenue", "staff", "segments"],
        first: From = None,
        to: To = None,
        currency: Annotated[
            Code, Query(description="revenue: only this currency (default: every one earned)")
        ] = None,
    ) -> HTMLResponse:
        """A report as charts (Chart.js), with a link to its CSV."""
        shown = await _chart(request, an, report, first, to, currency)
        html = pages.page(shown.title, shown.charts, shown.download, shown.note)
        return HTMLResponse(html, headers={"Content-Security-Policy": pages.CSP})

    @routes.get("/v1/analytics/static/{name}", openapi_extra=aggregates)
    async def static_file(name: str) -> FileResponse:
        """The vendored Chart.js and the report page script (guarded like the pages that load them: the
        API has no anonymous routes but its health check)."""
        media_type = pages.STATIC_FILES.get(name)
        if media_type is None:
            raise ApiError(404, "not_found", f"no static file {name!r}")
        return FileResponse(
            pages.STATIC / name, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"}
        )

    return routes


@dataclass(frozen=True)
class _Page:
    """What a report page shows: its title, charts, CSV link and a note (no data, say)."""

    title: str
    charts: list[pages.ChartSpec]
    download: str
    note: str | None = None


async def _chart(
    request: Request, an: Analytics, report: str, first: date | None, to: date | None, currency: str | None
) -> _Page:
    """The chart(s) of ``report`` and the CSV link of the data behind them, for the effective period
    (the link names its dates, so a page opened without any still downloads what it shows)."""
    period: Period | None = "week" if report == "revenue" else None
    window = _window(request, first, to, period)
    last = (window.end - timedelta(days=1)).date()
    span = f"from={window.start.date().isoformat()}&to={last.isoformat()}"
    async with _pool(request).connection() as conn:
        if report in ("funnel", "revenue"):
            rows = await channel_rows(conn, window, "channel")
            link = f"/v1/analytics/channels?format=csv&{span}" + ("&period=week" if period else "")
            if report == "funnel":
                chart = pages.funnel_chart(rows)
                return _Page(chart.title, [chart], link)
            charts, note = pages.revenue_charts(rows, currency, an.config.currency)
            title = charts[0].title if len(charts) == 1 else "Revenue by channel (last touch)"
            return _Page(title, charts, link, note)
        if report == "staff":
            facts_s = await queries.staff_facts(conn, window)
            staff = staff_report(
                facts_s.touches,
                facts_s.replies,
                facts_s.tasks,
                facts_s.deals,
                window,
                _now(request),
                an.team_of,
                an.staff_of,
            )
            chart = pages.staff_chart(staff)
            return _Page(chart.title, [chart], f"/v1/analytics/staff?format=csv&{span}")
        series = {
            s.name: await queries.segment_series(conn, s.tree(), window.start.date(), last)
            for s, _ in await _all_segments(conn, an.config)
        }
        chart = pages.segments_chart(series)
        return _Page(chart.title, [chart], f"/v1/analytics/segments?format=csv&{span}")
