"""Staff set, correct or remove a profile attribute of a customer.

* ``PUT /v1/customers/{customer_id}/attributes/{name}`` ``{"value": ..., "reason": ...}`` appends
  ``customer.attribute.set`` (a correction is another set: the card keeps the earlier value in the
  field's history);
* ``DELETE /v1/customers/{customer_id}/attributes/{name}?reason=...`` appends
  ``customer.attribute.cleared``.

The caller is the actor. Values are checked per attribute (a birthday is a past date, children a list of
``{name?, birth_date?}``, a car ``{brand, model?}``, a consent a boolean, a language a BCP 47 tag): 422
with what is wrong, and nothing appended. Both run in the sales commands' shell (append lock,
``Idempotency-Key``): 404 for a customer that does not exist or is outside the caller's rows, 409 for one
merged into another (act on the survivor). Answers carry the store ``position`` (``min_position``).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from contracts import (
    AttributeCleared,
    AttributeName,
    AttributeSet,
    AttributeSource,
    InvalidAttribute,
    customer_stream,
)
from contracts.attributes import attribute_json
from contracts.read.kinds import ATTRIBUTE_KINDS, PersonalBy
from plumbing.access.fastapi import AccessDep, control_of, guarded_router, secured
from plumbing.access.policy import Permission
from plumbing.eventstore import ANY, NewEvent
from plumbing.eventstore.postgres import Conn, append_locked
from plumbing.http import ApiError
from services.api.merge_store import require_customer, require_not_merged
from services.api.sales_commands import Answer
from services.api.sales_http import REFUSALS, Command, IdempotencyHeader

RESPONSES: dict[int | str, dict[str, Any]] = {
    **REFUSALS,
    404: {"model": REFUSALS[404]["model"], "description": "no such customer (or not one the caller may see)"},
    409: {"model": REFUSALS[409]["model"], "description": "the customer was merged into another one"},
    422: {"model": REFUSALS[422]["model"], "description": "a value the attribute does not accept"},
}


class SetAttribute(BaseModel):
    """The attribute's new value (its type depends on the attribute) and, optionally, why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: JsonValue
    reason: str | None = Field(default=None, max_length=1000)


class RemoveAttribute(BaseModel):
    """The query of a removal, kept as a model so an idempotency key covers it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: str | None = Field(default=None, max_length=1000)


class AttributeChanged(BaseModel):
    """``value`` is the attribute's value in normal form after the change (None once removed)."""

    customer_id: UUID
    attribute: AttributeName
    value: Annotated[JsonValue, PersonalBy("attribute", ATTRIBUTE_KINDS)]
    event_id: UUID
    position: int


def checked_value(name: AttributeName, value: JsonValue, today: date) -> JsonValue:
    """The value in normal form; 422 (``invalid_attribute``) saying what is wrong otherwise."""
    try:
        normal = attribute_json(name, value)
    except InvalidAttribute as exc:
        raise ApiError(422, "invalid_attribute", str(exc)) from exc
    if name is AttributeName.BIRTHDAY and isinstance(normal, str) and date.fromisoformat(normal) > today:
        raise ApiError(422, "invalid_attribute", f"birthday: {normal} is in the future")
    return normal


AttributeEvent = AttributeSet | AttributeCleared


async def _append(
    conn: Conn, command: Command, customer_id: UUID, event: AttributeEvent, reason: str | None
) -> Answer:
    require_not_merged(await require_customer(conn, command.access, customer_id))
    meta: dict[str, Any] = {"actor": command.access.principal.id, "customer_id": str(customer_id)}
    if reason is not None:
        meta["reason"] = reason
    appended = await append_locked(conn, customer_stream(customer_id), [NewEvent(event, meta)], ANY)
    changed = AttributeChanged(
        customer_id=customer_id,
        attribute=event.attribute,
        value=event.value if isinstance(event, AttributeSet) else None,
        event_id=event.event_id,
        position=appended.last_position,
    )
    return Answer(200, changed.model_dump(mode="json"))


def _change_fields(command: Command, customer_id: UUID, name: AttributeName) -> dict[str, Any]:
    envelope = command.stamp.envelope(0)
    return {
        **envelope,
        "customer_id": customer_id,
        "attribute": name,
        "source": AttributeSource.STAFF,
        "source_event_id": envelope["event_id"],  # a staff change is its own evidence
    }


def router() -> APIRouter:
    routes = guarded_router(tags=["customers"])
    commands = secured(Permission.RUN_COMMANDS)
    path = "/v1/customers/{customer_id}/attributes/{name}"

    @routes.put(path, response_model=AttributeChanged, responses=RESPONSES, openapi_extra=commands)
    async def set_attribute(
        request: Request,
        access: AccessDep,
        customer_id: UUID,
        name: AttributeName,
        body: SetAttribute,
        key: IdempotencyHeader = None,
    ) -> JSONResponse:
        """Set or correct a profile attribute; the previous value stays in the field's history."""
        value = checked_value(name, body.value, control_of(request).clock().date())
        command = Command(request, access, key, body)
        event = AttributeSet(
            **AttributeSet.type_fields(), **_change_fields(command, customer_id, name), value=value
        )
        return await command.run(lambda conn: _append(conn, command, customer_id, event, body.reason))

    @routes.delete(path, response_model=AttributeChanged, responses=RESPONSES, openapi_extra=commands)
    async def remove_attribute(
        request: Request,
        access: AccessDep,
        customer_id: UUID,
        name: AttributeName,
        reason: Annotated[str | None, Query(max_length=1000)] = None,
        key: IdempotencyHeader = None,
    ) -> JSONResponse:
        """Remove a profile attribute's value; its history stays."""
        body = RemoveAttribute(reason=reason)
        command = Command(request, access, key, body)
        event = AttributeCleared(
            **AttributeCleared.type_fields(), **_change_fields(command, customer_id, name), reason=reason
        )
        return await command.run(lambda conn: _append(conn, command, customer_id, event, reason))

    return routes
