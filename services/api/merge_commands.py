"""Staff merge two customers by hand, and undo a merge (whoever made it: a rule or a staff member).

Both commands run in the sales commands' shell (:mod:`services.api.sales_commands`): one transaction
holding the event store's append lock, with the ``Idempotency-Key`` claimed in it. Inside it the
command reads the streams it decides against, appends the pair of events (one on each customer's
stream), moves the identity index rows and records or clears the pair's separation, so nothing is
ever half-written and the index never points at a customer whose events were not written.

* ``POST /v1/customers/{survivor_id}/merges`` ``{"absorbed_id", "reason"}``: ``customer.merged_into``
  on the absorbed stream, ``customer.absorbed`` on the survivor's (rule ``staff``, the caller as actor,
  the absorbed event's own id as evidence). Re-posting a merge that is in place answers 200 with it.
* ``POST /v1/customers/{survivor_id}/merges/{absorbed_id}/undo`` ``{"reason"}``: decided by the pure
  :func:`services.api.unmerge_plan.plan_unmerge`; ``customer.unmerged`` on the survivor's stream, then
  ``customer.restored`` on the restored customer's; the returned identities point at it again and the
  pair is separated, so identity rules never merge the two again (a staff merge may).

Every success answers the store ``position`` of its last event (read your write with ``min_position``).
The reason is kept in the events' store metadata (merges) or in the events themselves (unmerges).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from contracts import (
    CustomerAbsorbed,
    CustomerMergedInto,
    CustomerRestored,
    CustomerUnmerged,
    customer_stream,
)
from contracts.read.kinds import Contact
from plumbing.access.fastapi import Access, AccessDep, guarded_router, secured
from plumbing.access.policy import Permission
from plumbing.eventstore import ANY, NewEvent
from plumbing.eventstore.postgres import Conn, append_locked
from plumbing.identity_index import merge_identities, return_identities
from plumbing.separations import clear_separation, separate
from services.api.merge_store import (
    CustomerState,
    load_streams,
    require_customer,
    require_not_merged,
)
from services.api.sales_commands import Answer
from services.api.sales_errors import IllegalTransition, InvalidCommand
from services.api.sales_http import REFUSALS, Command, IdempotencyHeader
from services.api.unmerge_plan import CannotUnmerge, UnmergePlan, open_merge, plan_unmerge

#: The rule recorded on merges made by a staff member.
STAFF_RULE = "staff"
Reason = Field(default=None, max_length=1000, description="why, for whoever reads the history later")
log = structlog.get_logger()

RESPONSES: dict[int | str, dict[str, Any]] = {
    **REFUSALS,
    404: {
        "model": REFUSALS[404]["model"],
        "description": "no such customer (or not one the caller may touch)",
    },
    409: {
        "model": REFUSALS[409]["model"],
        "description": "a customer is merged into another one, or there is no merge to undo",
    },
}


class MergeBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    absorbed_id: UUID = Field(description="the customer whose history and identities join the survivor")
    reason: str | None = Reason


class UndoBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: str | None = Reason


class MergeResult(BaseModel):
    """``merged`` is false when the merge was in place already (nothing appended)."""

    survivor_id: UUID
    absorbed_id: UUID
    merged: bool
    merge_event_id: UUID
    separation_cleared: bool
    position: int


class UnmergeResult(BaseModel):
    survivor_id: UUID
    restored_id: UUID
    merge_event_id: UUID
    unmerge_event_id: UUID
    restored_event_id: UUID
    returned_identities: list[Contact]
    moved_event_ids: list[UUID]
    position: int


def _metadata(access: Access, customer_id: UUID, reason: str | None) -> dict[str, Any]:
    principal = access.principal
    meta: dict[str, Any] = {
        "actor": principal.id,
        "principal_kind": principal.kind.value,
        "key_id": principal.key_id,
        "request_id": access.request_id,
        "customer_id": str(customer_id),
    }
    return meta if reason is None else {**meta, "reason": reason}


def _existing_merge(survivor: CustomerState, absorbed_id: UUID) -> Answer:
    """The answer for a merge already in place: the ``customer.absorbed`` that made it."""
    event = open_merge(survivor.events, absorbed_id)
    if event is None:  # merged_into says so, so the survivor's stream has it; a corrupt store otherwise
        raise IllegalTransition(
            f"customer {absorbed_id} is merged into {survivor.customer_id} without a trace"
        )
    result = MergeResult(
        survivor_id=survivor.customer_id,
        absorbed_id=absorbed_id,
        merged=False,
        merge_event_id=event.event_id,
        separation_cleared=False,
        position=event.position,
    )
    return Answer(200, result.model_dump(mode="json"))


async def _merge(conn: Conn, command: Command, survivor_id: UUID, body: MergeBody) -> Answer:
    if body.absorbed_id == survivor_id:
        raise InvalidCommand("a customer cannot be merged with itself", "cannot_merge_self")
    survivor = await require_customer(conn, command.access, survivor_id)
    absorbed = await require_customer(conn, command.access, body.absorbed_id)
    require_not_merged(survivor)
    if absorbed.merged_into == survivor_id:
        return _existing_merge(survivor, body.absorbed_id)
    require_not_merged(absorbed)
    stamp = command.stamp
    absorbed_event = CustomerAbsorbed(
        **CustomerAbsorbed.type_fields(),
        **stamp.envelope(1),
        customer_id=survivor_id,
        absorbed_id=body.absorbed_id,
        rule=STAFF_RULE,
        evidence_event_id=stamp.envelope(1)["event_id"],
    )
    merged_into = CustomerMergedInto(
        **CustomerMergedInto.type_fields(),
        **stamp.envelope(0),
        customer_id=body.absorbed_id,
        survivor_id=survivor_id,
        rule=STAFF_RULE,
        evidence_event_id=absorbed_event.event_id,
    )
    access = command.access
    await append_locked(
        conn,
        customer_stream(body.absorbed_id),
        [NewEvent(merged_into, _metadata(access, body.absorbed_id, body.reason))],
        ANY,
    )
    await merge_identities(conn, body.absorbed_id, survivor_id)
    appended = await append_locked(
        conn,
        customer_stream(survivor_id),
        [NewEvent(absorbed_event, _metadata(access, survivor_id, body.reason))],
    )
    cleared = await clear_separation(conn, survivor_id, body.absorbed_id)
    log.info(
        "customers_merged",
        survivor_id=str(survivor_id),
        absorbed_id=str(body.absorbed_id),
        separation_cleared=cleared,
    )
    result = MergeResult(
        survivor_id=survivor_id,
        absorbed_id=body.absorbed_id,
        merged=True,
        merge_event_id=absorbed_event.event_id,
        separation_cleared=cleared,
        position=appended.last_position,
    )
    return Answer(201, result.model_dump(mode="json"))


def _unmerge_events(
    command: Command, survivor_id: UUID, restored_id: UUID, plan: UnmergePlan, reason: str | None
) -> tuple[CustomerUnmerged, CustomerRestored]:
    shared = {
        "merge_event_id": plan.merge_event_id,
        "returned_identities": plan.returned_identities,
        "moved_event_ids": plan.moved_event_ids,
        "reason": reason,
    }
    unmerged = CustomerUnmerged(
        **CustomerUnmerged.type_fields(),
        **command.stamp.envelope(0),
        **shared,
        customer_id=survivor_id,
        restored_id=restored_id,
    )
    restored = CustomerRestored(
        **CustomerRestored.type_fields(),
        **command.stamp.envelope(1),
        **shared,
        customer_id=restored_id,
        survivor_id=survivor_id,
        unmerge_event_id=unmerged.event_id,
    )
    return unmerged, restored


async def _undo(conn: Conn, command: Command, survivor_id: UUID, absorbed_id: UUID, body: UndoBody) -> Answer:
    await require_customer(conn, command.access, survivor_id)
    await require_customer(conn, command.access, absorbed_id)
    try:
        plan = plan_unmerge(survivor_id, absorbed_id, await load_streams(conn, [survivor_id, absorbed_id]))
    except CannotUnmerge as exc:
        raise IllegalTransition(exc.message, exc.code) from exc
    unmerged, restored = _unmerge_events(command, survivor_id, absorbed_id, plan, body.reason)
    access = command.access
    await append_locked(
        conn, customer_stream(survivor_id), [NewEvent(unmerged, _metadata(access, survivor_id, body.reason))]
    )
    appended = await append_locked(
        conn, customer_stream(absorbed_id), [NewEvent(restored, _metadata(access, absorbed_id, body.reason))]
    )
    keys = [identity.key for identity in plan.returned_identities]
    moved = await return_identities(conn, keys, plan.kept_by_survivor, survivor_id, absorbed_id)
    if moved != len(keys):  # the index is rebuildable from the events; say so rather than refuse
        log.warning("unmerge_index_drift", survivor_id=str(survivor_id), expected=len(keys), moved=moved)
    await separate(conn, survivor_id, absorbed_id, unmerged.event_id)
    log.info(
        "customers_unmerged",
        survivor_id=str(survivor_id),
        restored_id=str(absorbed_id),
        identities_returned=len(keys),
        events_moved=len(plan.moved_event_ids),
    )
    result = UnmergeResult(
        survivor_id=survivor_id,
        restored_id=absorbed_id,
        merge_event_id=plan.merge_event_id,
        unmerge_event_id=unmerged.event_id,
        restored_event_id=restored.event_id,
        returned_identities=keys,
        moved_event_ids=list(plan.moved_event_ids),
        position=appended.last_position,
    )
    return Answer(201, result.model_dump(mode="json"))


def router() -> APIRouter:
    routes = guarded_router(tags=["customers"])
    merge = secured(Permission.MERGE_CUSTOMERS)

    @routes.post(
        "/v1/customers/{customer_id}/merges",
        response_model=MergeResult,
        responses=RESPONSES,
        status_code=201,
        openapi_extra=merge,
    )
    async def merge_customers(
        request: Request, access: AccessDep, customer_id: UUID, body: MergeBody, key: IdempotencyHeader = None
    ) -> JSONResponse:
        """Merge ``absorbed_id`` into this customer by hand; 200 when that merge is in place already."""
        command = Command(request, access, key, body)
        return await command.run(lambda conn: _merge(conn, command, customer_id, body))

    @routes.post(
        "/v1/customers/{customer_id}/merges/{absorbed_id}/undo",
        response_model=UnmergeResult,
        responses=RESPONSES,
        status_code=201,
        openapi_extra=merge,
    )
    async def undo_merge(
        request: Request,
        access: AccessDep,
        customer_id: UUID,
        absorbed_id: UUID,
        body: UndoBody,
        key: IdempotencyHeader = None,
    ) -> JSONResponse:
        """Undo the merge of ``absorbed_id`` into this customer: it is a customer of its own again."""
        command = Command(request, access, key, body)
        return await command.run(lambda conn: _undo(conn, command, customer_id, absorbed_id, body))

    return routes
