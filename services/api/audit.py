"""The auditors' view of the access log: who read which customer, when, through which credential."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime, BaseModel

from plumbing.access import access_log
from plumbing.access.access_log import AccessEntry, AccessQuery
from plumbing.access.fastapi import AccessDep, control_of, guarded_router, secured
from plumbing.access.policy import Permission
from plumbing.access.principal import PRINCIPAL_ID_PATTERN
from plumbing.http import ApiError
from services.api import audit_replay
from services.api.cursor import BadCursor, decode_cursor, encode_cursor
from services.api.sales_config import load_rules
from services.api.settings import ApiSettings


class AccessLogPage(BaseModel):
    items: list[AccessEntry]  # pydantic validates and documents the dataclass as it is
    next_cursor: str | None


def router(settings: ApiSettings | None = None) -> APIRouter:
    """The access log; with ``settings``, also the replays (raw timelines, the pipeline as of a point)."""
    routes = guarded_router(tags=["audit"])
    if settings is not None:
        routes.include_router(
            audit_replay.router(load_rules(settings.pipelines_file, settings.staff_file).pipelines)
        )

    @routes.get("/v1/audit/access-log", response_model=AccessLogPage, openapi_extra=secured(Permission.AUDIT))
    async def read_access_log(
        request: Request,
        access: AccessDep,
        customer_id: Annotated[UUID | None, Query(description="as asked for, or as served")] = None,
        principal_id: Annotated[str | None, Query(pattern=PRINCIPAL_ID_PATTERN)] = None,
        since: Annotated[AwareDatetime | None, Query(description="from this time, inclusive")] = None,
        until: Annotated[AwareDatetime | None, Query(description="up to this time, exclusive")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: str | None = None,
    ) -> AccessLogPage:
        """Access log entries, newest first, with cursor pagination."""
        try:
            before = decode_cursor(cursor) if cursor else None
        except BadCursor as exc:
            raise ApiError(422, "invalid_cursor", str(exc)) from exc
        query = AccessQuery(customer_id, principal_id, since, until, before, limit)
        async with control_of(request).pool.connection() as conn:
            entries, next_before = await access_log.search(conn, query)
        return AccessLogPage(
            items=list(entries),
            next_cursor=encode_cursor(next_before) if next_before is not None else None,
        )

    return routes
