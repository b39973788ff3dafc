"""Staff remove or correct an identity of a customer; linking one is :mod:`services.api.identity_commands`.

* ``DELETE /v1/customers/{customer_id}/identities/{identity_key}?reason=...``: appends
  ``customer.identity.unlinked`` (the caller as actor) and drops the index row, so the next interaction
  carrying the identity is resolved as if it had never been seen.
* ``PUT /v1/customers/{customer_id}/identities/{identity_key}`` ``{"kind", "value", "provider", "reason"}``:
  a correction is an unlink of the wrong identity and a staff link of the right one, appended as one
  batch in one transaction with the index, so no reader ever sees the customer with neither (or with
  both). The right identity must not belong to another customer (409 ``identity_taken``: that would be
  a merge); if it is this customer's already, only the unlink is appended.

Both run in the sales commands' shell (append lock, ``Idempotency-Key``); 404 when the customer does
not have the identity, 409 when the customer was merged into another one, 422 for an identity that
does not normalise. Answers carry the store ``position`` (read your write with ``min_position``).
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from contracts import (
    Identity,
    IdentityKind,
    IdentityLinked,
    IdentityUnlinked,
    InvalidIdentity,
    customer_stream,
    normalise_identity,
)
from contracts.read.kinds import Contact
from plumbing.access.fastapi import Access, AccessDep, guarded_router, secured
from plumbing.access.policy import Permission
from plumbing.eventstore import ANY, NewEvent
from plumbing.eventstore.postgres import Conn, append_locked
from plumbing.http import ApiError
from plumbing.identity_index import holders, index_links, unindex
from services.api.identity_commands import require_contacts
from services.api.merge_store import require_customer, require_not_merged
from services.api.sales_commands import Answer
from services.api.sales_errors import IllegalTransition, InvalidCommand, NotFound
from services.api.sales_http import REFUSALS, Command, IdempotencyHeader
from services.api.settings import ApiSettings

STAFF_RULE = "staff"
RESPONSES: dict[int | str, dict[str, Any]] = {
    **REFUSALS,
    404: {
        "model": REFUSALS[404]["model"],
        "description": "no such customer, or it does not have the identity",
    },
    409: {
        "model": REFUSALS[409]["model"],
        "description": "the customer was merged, or the corrected identity belongs to another customer",
    },
}
IdentityKeyPath = Annotated[str, Path(description="kind:value or kind:provider:value (URL-encoded)")]


class RemoveIdentity(BaseModel):
    """The query of a removal, kept as a model so an idempotency key covers it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: str | None = Field(default=None, max_length=1000)


class CorrectIdentity(BaseModel):
    """The right identity, replacing the one in the path; ``provider`` names the network of a handle."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: IdentityKind
    value: str = Field(min_length=1, max_length=500)
    provider: str | None = Field(default=None, max_length=64)
    reason: str | None = Field(default=None, max_length=1000)


class IdentityChange(BaseModel):
    """``linked_key`` is set for a correction that linked a new identity to this customer."""

    customer_id: UUID
    unlinked_key: Contact
    linked_key: Contact | None
    event_ids: list[UUID]
    position: int


def _identity(key: str, region: str) -> Identity:
    try:
        return Identity.parse_key(key, default_region=region)
    except InvalidIdentity as exc:
        raise ApiError(422, "invalid_identity", f"{key}: {exc}") from exc


def _metadata(access: Access, customer_id: UUID, reason: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "actor": access.principal.id,
        "request_id": access.request_id,
        "customer_id": str(customer_id),
    }
    return meta if reason is None else {**meta, "reason": reason}


async def _unlink(
    conn: Conn, command: Command, customer_id: UUID, wrong: Identity, reason: str | None
) -> IdentityUnlinked:
    """Check the customer and drop ``wrong`` from the index; the event recording it (not appended yet)."""
    require_not_merged(await require_customer(conn, command.access, customer_id))
    if not await unindex(conn, customer_id, wrong.key):
        raise NotFound(f"customer {customer_id} has no identity {wrong.key}", "identity_not_found")
    return IdentityUnlinked(
        **IdentityUnlinked.type_fields(),
        **command.stamp.envelope(0),
        customer_id=customer_id,
        identity=wrong,
        reason=reason,
    )


async def _remove(
    conn: Conn, command: Command, customer_id: UUID, wrong: Identity, body: RemoveIdentity
) -> Answer:
    unlinked = await _unlink(conn, command, customer_id, wrong, body.reason)
    appended = await append_locked(
        conn,
        customer_stream(customer_id),
        [NewEvent(unlinked, _metadata(command.access, customer_id, body.reason))],
        ANY,
    )
    change = IdentityChange(
        customer_id=customer_id,
        unlinked_key=wrong.key,
        linked_key=None,
        event_ids=[unlinked.event_id],
        position=appended.last_position,
    )
    return Answer(200, change.model_dump(mode="json"))


async def _correct(
    conn: Conn, command: Command, customer_id: UUID, wrong: Identity, right: Identity, reason: str | None
) -> Answer:
    if right.key == wrong.key:
        raise InvalidCommand(f"{wrong.key} is already the identity given", "nothing_to_correct")
    unlinked = await _unlink(conn, command, customer_id, wrong, reason)
    held_by = await holders(conn, right.key)
    if held_by - {customer_id}:
        raise IllegalTransition(
            "the corrected identity belongs to another customer; merge the two instead", "identity_taken"
        )
    events: list[IdentityUnlinked | IdentityLinked] = [unlinked]
    if not held_by:
        envelope = command.stamp.envelope(1)
        events.append(
            IdentityLinked(
                **IdentityLinked.type_fields(),
                **envelope,
                customer_id=customer_id,
                identity=right,
                rule=STAFF_RULE,
                evidence_event_id=envelope["event_id"],
            )
        )
        await index_links(conn, customer_id, [right], envelope["event_id"])
    meta = _metadata(command.access, customer_id, reason)
    appended = await append_locked(
        conn, customer_stream(customer_id), [NewEvent(e, meta) for e in events], ANY
    )
    change = IdentityChange(
        customer_id=customer_id,
        unlinked_key=wrong.key,
        linked_key=right.key if len(events) == 2 else None,
        event_ids=[event.event_id for event in events],
        position=appended.last_position,
    )
    return Answer(200, change.model_dump(mode="json"))


def router(settings: ApiSettings) -> APIRouter:
    routes = guarded_router(tags=["customers"])
    commands = secured(Permission.RUN_COMMANDS)
    path = "/v1/customers/{customer_id}/identities/{identity_key:path}"

    @routes.delete(path, response_model=IdentityChange, responses=RESPONSES, openapi_extra=commands)
    async def remove_identity(
        request: Request,
        access: AccessDep,
        customer_id: UUID,
        identity_key: IdentityKeyPath,
        reason: Annotated[str | None, Query(max_length=1000)] = None,
        key: IdempotencyHeader = None,
    ) -> JSONResponse:
        """Remove an identity from the customer (the event keeps who and why); 403 for a role that masks
        contacts."""
        require_contacts(access)
        wrong = _identity(identity_key, settings.default_region)
        body = RemoveIdentity(reason=reason)
        command = Command(request, access, key, body)
        return await command.run(lambda conn: _remove(conn, command, customer_id, wrong, body))

    @routes.put(path, response_model=IdentityChange, responses=RESPONSES, openapi_extra=commands)
    async def correct_identity(
        request: Request,
        access: AccessDep,
        customer_id: UUID,
        identity_key: IdentityKeyPath,
        body: CorrectIdentity,
        key: IdempotencyHeader = None,
    ) -> JSONResponse:
        """Replace a wrong identity of the customer with the right one, in one step; 403 for a role that
        masks contacts."""
        require_contacts(access)
        wrong = _identity(identity_key, settings.default_region)
        try:
            right = normalise_identity(
                body.kind, body.value, provider=body.provider, default_region=settings.default_region
            )
        except InvalidIdentity as exc:
            raise ApiError(422, "invalid_identity", f"{body.kind}: {exc}") from exc
        command = Command(request, access, key, body)
        return await command.run(lambda conn: _correct(conn, command, customer_id, wrong, right, body.reason))

    return routes
