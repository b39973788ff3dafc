"""Staff commands on a customer's identities: link an identity by hand (``rule = staff``).

The command is checked and appended in one transaction holding the append lock, together with
the write-side identity index, exactly as the timeline writer links identities: so a lookup by
the linked identity finds this customer from the next interaction on, and the card shows it
once the projection has the event (``min_position``). An identity that already belongs to
another customer is refused (409): gluing two people together is a merge, never a side effect.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, ConfigDict, Field

from contracts import IdentityKind, IdentityLinked, InvalidIdentity, customer_stream, normalise_identity
from contracts.read.kinds import Contact, PersonalKind
from plumbing.access.access_log import Outcome
from plumbing.access.fastapi import Access, AccessDep, guarded_router, secured
from plumbing.access.policy import Permission, RowResource
from plumbing.eventstore import ANY, NewEvent
from plumbing.eventstore.postgres import Conn, append_locked, lock_appends, translated_errors
from plumbing.http import ApiError, ErrorResponse
from plumbing.identity_index import index_links, owners
from services.api import store
from services.api.settings import ApiSettings

STAFF_RULE = "staff"

RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "no such customer (or not one the caller may see)"},
    409: {
        "model": ErrorResponse,
        "description": "the identity belongs to another customer, or this one was merged",
    },
    422: {"model": ErrorResponse, "description": "the identity does not normalise (bad email, phone...)"},
}


class LinkIdentity(BaseModel):
    """An identity to add to a customer: ``provider`` names the network of a handle."""

    model_config = ConfigDict(extra="forbid")

    kind: IdentityKind
    value: str = Field(min_length=1, max_length=500)
    provider: str | None = Field(default=None, max_length=64)


class IdentityLinkResult(BaseModel):
    """``linked`` is false when the identity was this customer's already (nothing appended)."""

    customer_id: UUID
    identity_key: Contact
    linked: bool
    event_id: UUID | None
    position: int | None


def require_contacts(access: Access) -> None:
    """403 for a role that masks contacts: linking, correcting or removing one answers whether it
    belongs to another customer or to this one, which is what such a role may not learn."""
    if not access.grant.sees(PersonalKind.CONTACTS):
        message = "your role may not see contacts, so it may not link, correct or remove them"
        raise ApiError(403, "identity_commands_not_allowed", message)


async def _stream_state(conn: Conn, customer_id: UUID) -> tuple[bool, UUID | None]:
    """(whether the customer's stream exists, the survivor it was merged into if any)."""
    cur = await conn.execute(
        "SELECT (SELECT 1 FROM streams WHERE stream_id = %(s)s) IS NOT NULL,"
        " (SELECT data->>'survivor_id' FROM events WHERE stream_id = %(s)s"
        "  AND event_type = 'customer.merged_into' ORDER BY position DESC LIMIT 1)",
        {"s": customer_stream(customer_id)},
    )
    row = await cur.fetchone()
    assert row is not None  # a SELECT without FROM returns one row
    exists, survivor = row
    return bool(exists), UUID(survivor) if survivor else None


def router(settings: ApiSettings) -> APIRouter:
    routes = guarded_router(tags=["customers"])

    @routes.post(
        "/v1/customers/{customer_id}/identities",
        response_model=IdentityLinkResult,
        responses=RESPONSES,
        status_code=201,
        openapi_extra=secured(Permission.RUN_COMMANDS, audited=True),
    )
    async def link_identity(
        request: Request, access: AccessDep, customer_id: UUID, body: LinkIdentity
    ) -> JSONResponse:
        """Link an identity to the customer by hand; answered 200 when it was linked already (403 for a
        role that masks contacts)."""
        pool: AsyncConnectionPool[Conn] = request.app.state.pool
        if not access.grant.sees(PersonalKind.CONTACTS):
            async with pool.connection() as conn:
                await access.record(conn, Outcome.FORBIDDEN, customer_id)
        require_contacts(access)
        try:
            identity = normalise_identity(
                body.kind, body.value, provider=body.provider, default_region=settings.default_region
            )
        except InvalidIdentity as exc:
            raise ApiError(422, "invalid_identity", f"{body.kind}: {exc}") from exc
        async with translated_errors(), pool.connection() as conn:
            if await store.card(conn, customer_id, access.rows(RowResource.CUSTOMERS)) is None:
                raise ApiError(404, "customer_not_found", f"no customer {customer_id}")
            async with conn.transaction():
                await lock_appends(conn)
                exists, survivor = await _stream_state(conn, customer_id)
                if not exists:
                    raise ApiError(404, "customer_not_found", f"no customer {customer_id}")
                if survivor is not None:
                    raise ApiError(
                        409, "customer_merged", f"customer {customer_id} was merged into {survivor}"
                    )
                holders = (await owners(conn, [identity.key])).get(identity.key, ())
                if customer_id in holders:
                    result = IdentityLinkResult(
                        customer_id=customer_id,
                        identity_key=identity.key,
                        linked=False,
                        event_id=None,
                        position=None,
                    )
                    return JSONResponse(result.model_dump(mode="json"), status_code=200)
                if holders:  # held by another customer (even a shared one): a merge, never a side effect
                    raise ApiError(
                        409,
                        "identity_taken",
                        "the identity belongs to another customer; merge the two instead",
                    )
                now = datetime.now(UTC)
                event_id = uuid.uuid4()
                linked = IdentityLinked(
                    **IdentityLinked.type_fields(),
                    event_id=event_id,
                    occurred_at=now,
                    received_at=now,
                    correlation_id=request.headers.get("x-request-id", "")[:200].strip() or str(event_id),
                    customer_id=customer_id,
                    identity=identity,
                    rule=STAFF_RULE,
                    evidence_event_id=event_id,
                    actor=access.principal.id,
                )
                meta = {"customer_id": str(customer_id), "actor": access.principal.id}
                appended = await append_locked(
                    conn, customer_stream(customer_id), [NewEvent(linked, meta)], ANY
                )
                await index_links(conn, customer_id, [identity], event_id)
            await access.record(conn, Outcome.OK, customer_id, customer_id)
        result = IdentityLinkResult(
            customer_id=customer_id,
            identity_key=identity.key,
            linked=True,
            event_id=event_id,
            position=appended.last_position,
        )
        return JSONResponse(result.model_dump(mode="json"), status_code=201)

    return routes
