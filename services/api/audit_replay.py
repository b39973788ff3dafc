"""Auditors' replays over HTTP: a customer's raw timeline, and its card and the pipeline as they stood at a
past point.

Both need the ``audit`` permission and are recorded in the access log like every customer read: the raw
timeline with the customer asked for, the pipeline without one. The pipeline is the pipeline
projection's own fold (``projections.pipeline.as_of``, pure code with no I/O of its own) stopped at the
point asked for, so a point-in-time answer can never drift from what the live projection computes.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime, BaseModel, Field

from contracts.read.customer_card import CustomerCard
from contracts.read.kinds import EVERY_KIND, Contact, Personal
from contracts.read.pipeline import PipelineSummary
from contracts.sales_config import PipelinesConfig
from plumbing.access.access_log import Outcome
from plumbing.access.fastapi import AccessDep, control_of, guarded_router, secured
from plumbing.access.policy import Permission
from plumbing.export_replay import BadAsOf, parse_as_of, resolve_as_of
from plumbing.export_timeline import AuditEvent, MergeFacts, customer_streams, customer_timeline
from plumbing.http import ApiError, ErrorResponse
from projections.customer_card.as_of import card_as_of
from projections.pipeline.as_of import pipeline_summary_as_of

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "the store has no such customer or pipeline"}
}


#: A raw event's payload may hold personal values of any kind: masked whole for a role masking any.
_RAW = Personal(*EVERY_KIND)


class AuditMergeFacts(MergeFacts):
    shared_identities: Annotated[list[dict[str, Any]], Personal(*EVERY_KIND)] = Field(default_factory=list)


class AuditEventView(AuditEvent):
    """A stored event as the audit route answers it, its personal parts marked for masks by kind."""

    provider_message_id: Contact | None  # a Telegram message id holds the chat id
    merge: AuditMergeFacts | None
    data: Annotated[dict[str, Any], _RAW]
    metadata: Annotated[dict[str, Any], _RAW]


class AuditEventPage(BaseModel):
    """Events in store order; ``next_after`` is the ``after`` of the next page (None on the last)."""

    customer_id: UUID
    streams: list[str]
    items: list[AuditEventView]
    next_after: int | None


class CardAsOf(BaseModel):
    """The card that spoke for the customer at ``as_of_position`` (its survivor's if merged away by then)."""

    as_of_position: int
    as_of_time: AwareDatetime | None
    card: CustomerCard


class PipelineAsOf(PipelineSummary):
    """The pipeline summary folded from the log up to ``as_of_position`` (recorded by ``as_of_time``)."""

    as_of_position: int
    as_of_time: AwareDatetime | None


def router(pipelines: PipelinesConfig) -> APIRouter:
    routes = guarded_router(tags=["audit"])

    @routes.get(
        "/v1/audit/customers/{customer_id}/events",
        response_model=AuditEventPage,
        responses=NOT_FOUND,
        openapi_extra=secured(Permission.AUDIT, audited=True),
    )
    async def customer_events(
        request: Request,
        access: AccessDep,
        customer_id: UUID,
        after: Annotated[int, Query(ge=0, description="only events after this store position")] = 0,
        limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    ) -> AuditEventPage:
        """Every stored event of the customer, merged-in streams included, oldest first, with its evidence
        reference and hash, signature verification, actor, merge rule and hash-chain link."""
        async with control_of(request).pool.connection() as conn:
            streams = await customer_streams(conn, customer_id)
            if not streams["streams"]:
                await access.record(conn, Outcome.NOT_FOUND, customer_id)
                raise ApiError(404, "customer_not_found", f"the store has no customer {customer_id}")
            await access.record(conn, Outcome.OK, customer_id, customer_id)
            items = await customer_timeline(conn, customer_id, after_position=after, limit=limit + 1)
        more = len(items) > limit
        items = items[:limit]
        return AuditEventPage(
            customer_id=customer_id,
            streams=streams["streams"],
            items=[AuditEventView.model_validate(item, from_attributes=True) for item in items],
            next_after=items[-1].position if more else None,
        )

    @routes.get(
        "/v1/audit/customers/{customer_id}/card",
        response_model=CardAsOf,
        responses=NOT_FOUND,
        openapi_extra=secured(Permission.AUDIT, audited=True),
    )
    async def card_as_of_point(
        request: Request,
        access: AccessDep,
        customer_id: UUID,
        as_of: Annotated[str, Query(description="a store position, or an ISO 8601 time with a zone")],
    ) -> CardAsOf:
        """The customer card as it stood at ``as_of``: the live projection's own fold of the log up to then,
        following a merge in force at that point (an unmerge later does not rewrite what was shown then)."""
        try:
            point = parse_as_of(as_of)
        except BadAsOf as exc:
            raise ApiError(422, "invalid_as_of", str(exc)) from exc
        async with control_of(request).pool.connection() as conn:
            resolved = await resolve_as_of(conn, point)
            card = await card_as_of(conn, customer_id, resolved.position)
            if card is None:
                await access.record(conn, Outcome.NOT_FOUND, customer_id)
                raise ApiError(404, "customer_not_found", f"customer {customer_id} had no events by then")
            await access.record(conn, Outcome.OK, customer_id, card.customer_id)
        return CardAsOf(as_of_position=resolved.position, as_of_time=resolved.at, card=card)

    @routes.get(
        "/v1/audit/pipelines/{pipeline_id}",
        response_model=PipelineAsOf,
        responses=NOT_FOUND,
        openapi_extra=secured(Permission.AUDIT, audited=True),
    )
    async def pipeline_as_of(
        request: Request,
        access: AccessDep,
        pipeline_id: str,
        as_of: Annotated[str, Query(description="a store position, or an ISO 8601 time with a zone")],
        since: Annotated[
            AwareDatetime | None, Query(description="period start; default: as_of's month")
        ] = None,
        until: Annotated[AwareDatetime | None, Query(description="period end (exclusive)")] = None,
    ) -> PipelineAsOf:
        """The pipeline (per stage, forecast, won/lost of the period) as it stood at ``as_of``."""
        pipeline = pipelines.pipeline(pipeline_id)
        if pipeline is None:
            raise ApiError(404, "pipeline_not_found", f"no pipeline {pipeline_id}")
        try:
            point = parse_as_of(as_of)
        except BadAsOf as exc:
            raise ApiError(422, "invalid_as_of", str(exc)) from exc
        if since is not None and until is not None and since >= until:
            raise ApiError(422, "invalid_period", "since must be before until")
        async with control_of(request).pool.connection() as conn:
            await access.record(conn, Outcome.OK, None)
            summary, resolved = await pipeline_summary_as_of(conn, pipeline, point, since, until)
        return PipelineAsOf(**dict(summary), as_of_position=resolved.position, as_of_time=resolved.at)

    return routes
