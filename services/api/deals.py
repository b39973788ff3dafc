"""HTTP commands on deals and notes: validate, decide against the deal's stream, append, answer the position.

Every command answers the new store ``position`` (read your own write with ``min_position``) and the
deal's new ``version`` (send it back as ``expected_version`` with the next command). Refusals: 404 for
a deal the caller cannot see, 409 for a stale ``expected_version`` or a transition the stage machine
forbids, 422 for input that can never work. Nothing is appended when a command is refused.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import partial
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts import DealEvent, Money, NoteAdded, deal_stream, derived_event_id, note_stream
from contracts.interactions import CurrencyCode
from plumbing.access.fastapi import Access, AccessDep, guarded_router, secured
from plumbing.access.policy import Permission, RowResource
from plumbing.eventstore import NO_STREAM, AppendResult, ExpectedVersion, NewEvent
from plumbing.eventstore.postgres import Conn, append_locked
from services.api.sales_commands import Answer
from services.api.sales_deals import (
    ChangeAmount,
    ChangeExpectedClose,
    ChangeOwner,
    DealChange,
    LoseDeal,
    MoveStage,
    OpenDeal,
    ReopenDeal,
    Rules,
    WinDeal,
    decide,
    decide_open,
)
from services.api.sales_errors import NotFound
from services.api.sales_http import REFUSALS, Command, IdempotencyHeader
from services.api.sales_scope import StaffScope
from services.api.sales_streams import require_customer, require_deal, subject_customer

Amount = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=4, description="exact; send a string")]
Currency = Annotated[CurrencyCode, Field(description="ISO 4217")]
Version = Annotated[int, Field(ge=0, description="the deal's version the command was decided against")]
Text = Annotated[str, Field(min_length=1, max_length=300)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OpenDealBody(_Body):
    customer_id: UUID
    title: Text
    amount: Amount
    currency: Currency
    pipeline_id: str
    stage_id: str | None = Field(default=None, description="default: the pipeline's first stage")
    owner_id: str | None = Field(default=None, description="default: the caller")
    expected_close: date | None = None
    source_channel: str | None = Field(default=None, min_length=1, max_length=64)
    source_campaign: str | None = Field(default=None, min_length=1, max_length=200)


class _ChangeBody(_Body):
    """A command on an existing deal; ``command()`` is its domain form (HTTP shapes stay out of decide)."""

    expected_version: Version

    def command(self) -> DealChange:
        raise NotImplementedError


class StageBody(_ChangeBody):
    stage_id: str

    def command(self) -> DealChange:
        return MoveStage(self.expected_version, self.stage_id)


class AmountBody(_ChangeBody):
    amount: Amount
    currency: Currency

    def command(self) -> DealChange:
        return ChangeAmount(self.expected_version, Money(amount=self.amount, currency=self.currency))


class OwnerBody(_ChangeBody):
    owner_id: str

    def command(self) -> DealChange:
        return ChangeOwner(self.expected_version, self.owner_id)


class ExpectedCloseBody(_ChangeBody):
    expected_close: date | None = Field(description="null: no longer known")

    def command(self) -> DealChange:
        return ChangeExpectedClose(self.expected_version, self.expected_close)


class WinBody(_ChangeBody):
    order_id: str | None = Field(default=None, min_length=1, max_length=200)
    amount: Amount | None = Field(default=None, description="the final amount; default: the deal's")
    currency: Currency | None = None

    @model_validator(mode="after")
    def _amount_with_currency(self) -> WinBody:
        if (self.amount is None) != (self.currency is None):
            raise ValueError("give amount and currency together, or neither")
        return self

    def command(self) -> DealChange:
        final = Money(amount=self.amount, currency=self.currency) if self.amount is not None else None
        return WinDeal(self.expected_version, order_id=self.order_id, amount=final)


class LoseBody(_ChangeBody):
    reason: str = Field(description="one of the pipeline's loss reasons")
    comment: str | None = Field(default=None, max_length=2000)

    def command(self) -> DealChange:
        return LoseDeal(self.expected_version, self.reason, self.comment)


class ReopenBody(_ChangeBody):
    stage_id: str | None = Field(default=None, description="default: the stage the deal closed from")

    def command(self) -> DealChange:
        return ReopenDeal(self.expected_version, self.stage_id)


class NoteBody(_Body):
    customer_id: UUID | None = None
    deal_id: UUID | None = None
    text: str = Field(min_length=1, max_length=5000)

    @model_validator(mode="after")
    def _about_something(self) -> NoteBody:
        if self.customer_id is None and self.deal_id is None:
            raise ValueError("a note needs a customer_id, a deal_id, or both")
        return self


class DealAccepted(BaseModel):
    deal_id: UUID
    version: int
    position: int


class NoteAccepted(BaseModel):
    note_id: UUID
    position: int


def _metadata(access: Access, customer_id: UUID) -> dict[str, Any]:
    principal = access.principal
    return {
        "actor": principal.id,
        "principal_kind": principal.kind.value,
        "key_id": principal.key_id,
        "request_id": access.request_id,
        "customer_id": str(customer_id),
    }


async def _append(
    conn: Conn,
    stream_id: str,
    events: list[DealEvent] | list[NoteAdded],
    expected: ExpectedVersion,
    meta: dict[str, Any],
) -> AppendResult:
    return await append_locked(conn, stream_id, [NewEvent(event, meta) for event in events], expected)


class DealCommands:
    """The shell of deal and note commands: scope checks, stream reads, decide, append."""

    def __init__(self, rules: Rules) -> None:
        self.rules = rules

    def scope(self, access: Access) -> StaffScope:
        return StaffScope.of(access.rows(RowResource.DEALS), self.rules.staff)

    async def open(self, command: Command, body: OpenDealBody) -> JSONResponse:
        owner = body.owner_id or command.access.principal.id
        scope = self.scope(command.access)
        deal_id = derived_event_id(command.stamp.seed, "deal")
        opening = OpenDeal(
            deal_id=deal_id,
            customer_id=body.customer_id,
            title=body.title,
            amount=Money(amount=body.amount, currency=body.currency),
            pipeline_id=body.pipeline_id,
            owner_id=owner,
            stage_id=body.stage_id,
            expected_close=body.expected_close,
            source_channel=body.source_channel,
            source_campaign=body.source_campaign,
        )

        async def work(conn: Conn) -> Answer:
            scope.require(owner)
            await require_customer(conn, body.customer_id)
            events = decide_open(opening, self.rules, command.stamp)
            meta = _metadata(command.access, body.customer_id)
            result = await _append(conn, deal_stream(deal_id), events, NO_STREAM, meta)
            return Answer(201, _accepted(deal_id, result))

        return await command.run(work)

    async def change(self, command: Command, deal_id: UUID, body: _ChangeBody) -> JSONResponse:
        change = body.command()
        scope = self.scope(command.access)

        async def work(conn: Conn) -> Answer:
            state = await require_deal(conn, deal_id)
            if not scope.covers(state.owner_id):
                raise NotFound(f"no deal {deal_id}", "deal_not_found")
            if isinstance(change, ChangeOwner):
                scope.require(change.owner_id)
            events = decide(change, state, self.rules, command.stamp)
            meta = _metadata(command.access, state.customer_id)
            result = await _append(conn, deal_stream(deal_id), events, state.version, meta)
            return Answer(200, _accepted(deal_id, result))

        return await command.run(work)

    async def note(self, command: Command, body: NoteBody) -> JSONResponse:
        note_id = derived_event_id(command.stamp.seed, "note")
        scope = self.scope(command.access)

        async def work(conn: Conn) -> Answer:
            customer_id = await subject_customer(conn, body.customer_id, body.deal_id, scope)
            note = NoteAdded(
                **NoteAdded.type_fields(),
                **command.stamp.envelope(),
                note_id=note_id,
                customer_id=customer_id,
                deal_id=body.deal_id,
                text=body.text,
            )
            meta = _metadata(command.access, customer_id)
            result = await _append(conn, note_stream(note_id), [note], NO_STREAM, meta)
            return Answer(201, {"note_id": str(note_id), "position": result.last_position})

        return await command.run(work)


def _accepted(deal_id: UUID, result: AppendResult) -> dict[str, Any]:
    return {"deal_id": str(deal_id), "version": result.stream_version, "position": result.last_position}


def router(rules: Rules) -> APIRouter:
    routes = guarded_router(tags=["deals"])
    commands = DealCommands(rules)
    command = partial(Command, key_ttl=rules.idempotency_ttl)  # keys expire as configured
    write = secured(Permission.WRITE_DEALS)

    @routes.post(
        "/v1/deals", status_code=201, response_model=DealAccepted, responses=REFUSALS, openapi_extra=write
    )
    async def open_deal(
        request: Request, access: AccessDep, body: OpenDealBody, idempotency_key: IdempotencyHeader = None
    ) -> JSONResponse:
        """Open a deal for a customer in a pipeline's open stage."""
        return await commands.open(command(request, access, idempotency_key, body), body)

    def change_route(path: str, body_type: type[_ChangeBody], summary: str) -> None:
        async def change_deal(
            request: Request,
            access: AccessDep,
            deal_id: UUID,
            body: _ChangeBody,
            idempotency_key: IdempotencyHeader = None,
        ) -> JSONResponse:
            return await commands.change(command(request, access, idempotency_key, body), deal_id, body)

        # One handler for every change; FastAPI validates and documents the body by this route's class.
        change_deal.__annotations__["body"] = body_type
        routes.post(
            f"/v1/deals/{{deal_id}}/{path}",
            response_model=DealAccepted,
            responses=REFUSALS,
            openapi_extra=write,
            summary=summary,
            operation_id=f"deal_{path.replace('-', '_')}",
        )(change_deal)

    change_route("stage", StageBody, "Move an open deal to another open stage")
    change_route("amount", AmountBody, "Change an open deal's amount")
    change_route("owner", OwnerBody, "Give an open deal to another staff member")
    change_route("expected-close", ExpectedCloseBody, "Change an open deal's expected close date")
    change_route("win", WinBody, "Close an open deal as won")
    change_route("lose", LoseBody, "Close an open deal as lost, with a configured reason")
    change_route("reopen", ReopenBody, "Reopen a closed deal")

    @routes.post(
        "/v1/notes", status_code=201, response_model=NoteAccepted, responses=REFUSALS, openapi_extra=write
    )
    async def add_note(
        request: Request, access: AccessDep, body: NoteBody, idempotency_key: IdempotencyHeader = None
    ) -> JSONResponse:
        """Add a note to a customer, a deal, or both."""
        return await commands.note(command(request, access, idempotency_key, body), body)

    return routes
