"""Pure deal decisions: a command and the deal's current state -> the events to append, or a refusal.

The stage machine: a deal opens in an open stage; while open it moves between open stages and its
amount, owner and expected close change; it closes as won (into the pipeline's closed-won stage) or
lost (closed-lost, with a configured reason); only a closed deal reopens. A closed deal changes only
by being reopened. Every command on an existing deal carries the version the caller decided against,
so two staff members working from the same screen cannot overwrite each other silently.
No I/O here: the shell reads the stream, calls :func:`decide`, and appends what it returns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from contracts import (
    DealAmountChanged,
    DealEvent,
    DealExpectedCloseChanged,
    DealLost,
    DealOpened,
    DealOwnerChanged,
    DealReopened,
    DealStageMoved,
    DealStatus,
    DealWon,
    Money,
)
from contracts.sales_config import Closed, Pipeline, PipelinesConfig, StaffConfig
from services.api.sales_commands import DEFAULT_KEY_TTL
from services.api.sales_errors import IllegalTransition, InvalidCommand, WrongVersion
from services.api.sales_stamp import Stamp


@dataclass(frozen=True)
class DealState:
    """What decisions need of a deal; ``version`` is its stream's (0 after the opening event)."""

    deal_id: UUID
    customer_id: UUID
    pipeline_id: str
    stage_id: str
    status: DealStatus
    amount: Money
    owner_id: str
    expected_close: date | None
    version: int
    last_open_stage: str  # where a reopened deal goes back to by default


def evolve(state: DealState | None, event: DealEvent, version: int) -> DealState | None:
    """The deal after ``event`` (stored at stream ``version``)."""
    if isinstance(event, DealOpened):
        return DealState(
            deal_id=event.deal_id,
            customer_id=event.customer_id,
            pipeline_id=event.pipeline_id,
            stage_id=event.stage_id,
            status=DealStatus.OPEN,
            amount=event.amount,
            owner_id=event.owner_id,
            expected_close=event.expected_close,
            version=version,
            last_open_stage=event.stage_id,
        )
    if state is None:
        return None
    changes: dict[str, Any] = {"version": version}
    if isinstance(event, DealStageMoved | DealReopened):
        stage = event.to_stage if isinstance(event, DealStageMoved) else event.stage_id
        changes.update(stage_id=stage, last_open_stage=stage, status=DealStatus.OPEN)
    elif isinstance(event, DealWon):
        changes.update(stage_id=event.stage_id, status=DealStatus.WON, amount=event.amount)
    elif isinstance(event, DealLost):
        changes.update(stage_id=event.stage_id, status=DealStatus.LOST)
    elif isinstance(event, DealAmountChanged):
        changes.update(amount=event.amount)
    elif isinstance(event, DealOwnerChanged):
        changes.update(owner_id=event.owner_id)
    elif isinstance(event, DealExpectedCloseChanged):
        changes.update(expected_close=event.expected_close)
    return replace(state, **changes)


def fold(history: Iterable[tuple[int, DealEvent]]) -> DealState | None:
    """The current state from ``(stream_version, event)`` pairs, oldest first."""
    state: DealState | None = None
    for version, event in history:
        state = evolve(state, event, version)
    return state


@dataclass(frozen=True)
class Rules:
    """The configuration decisions are checked against (and how long idempotency keys last)."""

    pipelines: PipelinesConfig
    staff: StaffConfig
    idempotency_ttl: timedelta = DEFAULT_KEY_TTL

    def pipeline(self, pipeline_id: str) -> Pipeline:
        found = self.pipelines.pipeline(pipeline_id)
        if found is None:
            known = ", ".join(p.id for p in self.pipelines.pipelines)
            raise InvalidCommand(f"no pipeline {pipeline_id!r}; pipelines: {known}", "unknown_pipeline")
        return found

    def open_stage(self, pipeline: Pipeline, stage_id: str) -> str:
        stage = pipeline.stage(stage_id)
        if stage is None or stage.closed is not None:
            known = ", ".join(s.id for s in pipeline.open_stages)
            hint = " (close a deal with /win or /lose)" if stage is not None else ""
            raise InvalidCommand(
                f"{stage_id!r} is not an open stage of pipeline {pipeline.id}{hint}; open stages: {known}",
                "unknown_stage",
            )
        return stage.id

    def staff_member(self, staff_id: str) -> str:
        if not self.staff.is_staff(staff_id):
            raise InvalidCommand(f"{staff_id!r} is not a staff member (deploy/staff.toml)", "unknown_staff")
        return staff_id


# --- commands ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenDeal:
    deal_id: UUID
    customer_id: UUID
    title: str
    amount: Money
    pipeline_id: str
    owner_id: str
    stage_id: str | None = None
    expected_close: date | None = None
    source_channel: str | None = None
    source_campaign: str | None = None


@dataclass(frozen=True)
class MoveStage:
    expected_version: int
    stage_id: str


@dataclass(frozen=True)
class ChangeAmount:
    expected_version: int
    amount: Money


@dataclass(frozen=True)
class ChangeOwner:
    expected_version: int
    owner_id: str


@dataclass(frozen=True)
class ChangeExpectedClose:
    expected_version: int
    expected_close: date | None


@dataclass(frozen=True)
class WinDeal:
    expected_version: int
    order_id: str | None = None
    amount: Money | None = None
    purchase_event_id: UUID | None = None


@dataclass(frozen=True)
class LoseDeal:
    expected_version: int
    reason: str
    comment: str | None = None


@dataclass(frozen=True)
class ReopenDeal:
    expected_version: int
    stage_id: str | None = None


DealChange = MoveStage | ChangeAmount | ChangeOwner | ChangeExpectedClose | WinDeal | LoseDeal | ReopenDeal


# --- decisions ---------------------------------------------------------------------------------------


def _non_negative(amount: Money) -> Money:
    if amount.amount < 0:
        raise InvalidCommand(f"amount must not be negative, got {amount.amount}", "invalid_amount")
    return amount


def decide_open(command: OpenDeal, rules: Rules, stamp: Stamp) -> list[DealEvent]:
    """Open a deal: the pipeline and stage exist (default: the first open stage), the owner is staff."""
    pipeline = rules.pipeline(command.pipeline_id)
    stage = rules.open_stage(pipeline, command.stage_id or pipeline.open_stages[0].id)
    return [
        DealOpened(
            **DealOpened.type_fields(),
            **stamp.envelope(),
            deal_id=command.deal_id,
            customer_id=command.customer_id,
            title=command.title,
            amount=_non_negative(command.amount),
            pipeline_id=pipeline.id,
            stage_id=stage,
            owner_id=rules.staff_member(command.owner_id),
            expected_close=command.expected_close,
            source_channel=command.source_channel,
            source_campaign=command.source_campaign,
        )
    ]


def _check_version(state: DealState, expected: int) -> None:
    if expected != state.version:
        raise WrongVersion(f"deal {state.deal_id} is at version {state.version}, not {expected}")


def _unchanged(what: str, value: object) -> IllegalTransition:
    return IllegalTransition(f"{what} is already {value}", "no_change")


@dataclass(frozen=True)
class _Decision:
    """What every single-event decision on an existing deal sees."""

    state: DealState
    pipeline: Pipeline
    rules: Rules
    base: dict[str, Any]  # envelope fields and the deal id


def _move(command: MoveStage, d: _Decision) -> DealEvent:
    target = d.rules.open_stage(d.pipeline, command.stage_id)
    if target == d.state.stage_id:
        raise _unchanged("the stage", target)
    return DealStageMoved(
        **DealStageMoved.type_fields(), **d.base, from_stage=d.state.stage_id, to_stage=target
    )


def _change_amount(command: ChangeAmount, d: _Decision) -> DealEvent:
    if command.amount == d.state.amount:
        raise _unchanged("the amount", f"{d.state.amount.amount} {d.state.amount.currency}")
    amount = _non_negative(command.amount)
    return DealAmountChanged(
        **DealAmountChanged.type_fields(), **d.base, previous=d.state.amount, amount=amount
    )


def _change_owner(command: ChangeOwner, d: _Decision) -> DealEvent:
    if command.owner_id == d.state.owner_id:
        raise _unchanged("the owner", d.state.owner_id)
    owner = d.rules.staff_member(command.owner_id)
    return DealOwnerChanged(
        **DealOwnerChanged.type_fields(), **d.base, previous_owner=d.state.owner_id, owner_id=owner
    )


def _change_expected_close(command: ChangeExpectedClose, d: _Decision) -> DealEvent:
    if command.expected_close == d.state.expected_close:
        raise _unchanged("the expected close date", d.state.expected_close)
    return DealExpectedCloseChanged(
        **DealExpectedCloseChanged.type_fields(),
        **d.base,
        previous=d.state.expected_close,
        expected_close=command.expected_close,
    )


def _win(command: WinDeal, d: _Decision) -> DealEvent:
    return DealWon(
        **DealWon.type_fields(),
        **d.base,
        from_stage=d.state.stage_id,
        stage_id=d.pipeline.closed_stage(Closed.WON).id,
        amount=_non_negative(command.amount) if command.amount is not None else d.state.amount,
        order_id=command.order_id,
        purchase_event_id=command.purchase_event_id,
    )


def _lose(command: LoseDeal, d: _Decision) -> DealEvent:
    reasons = d.rules.pipelines.reasons_for(d.pipeline)
    if command.reason not in reasons:
        raise InvalidCommand(
            f"{command.reason!r} is not a loss reason of pipeline {d.pipeline.id};"
            f" reasons: {', '.join(reasons)}",
            "unknown_loss_reason",
        )
    return DealLost(
        **DealLost.type_fields(),
        **d.base,
        from_stage=d.state.stage_id,
        stage_id=d.pipeline.closed_stage(Closed.LOST).id,
        reason=command.reason,
        comment=command.comment,
    )


def _reopen(command: ReopenDeal, d: _Decision) -> DealEvent:
    stage = d.rules.open_stage(d.pipeline, command.stage_id or d.state.last_open_stage)
    return DealReopened(**DealReopened.type_fields(), **d.base, from_stage=d.state.stage_id, stage_id=stage)


_HANDLERS: dict[type[Any], tuple[str, Callable[[Any, _Decision], DealEvent]]] = {
    MoveStage: ("move the stage", _move),
    ChangeAmount: ("change the amount", _change_amount),
    ChangeOwner: ("change the owner", _change_owner),
    ChangeExpectedClose: ("change the expected close date", _change_expected_close),
    WinDeal: ("win", _win),
    LoseDeal: ("lose", _lose),
    ReopenDeal: ("reopen", _reopen),
}


def decide(command: DealChange, state: DealState, rules: Rules, stamp: Stamp) -> list[DealEvent]:
    """The events ``command`` causes on ``state``, or a refusal.

    The version is checked first: a caller who decided against an old version learns that, not
    whatever else changed since. Only :class:`ReopenDeal` applies to a closed deal, and only to one.
    """
    _check_version(state, command.expected_version)
    doing, handler = _HANDLERS[type(command)]
    reopening = isinstance(command, ReopenDeal)
    if reopening == (state.status is DealStatus.OPEN):
        hint = "" if reopening else "; reopen it first"
        raise IllegalTransition(f"cannot {doing}: deal {state.deal_id} is {state.status.value}{hint}")
    base = {**stamp.envelope(), "deal_id": state.deal_id}
    return [handler(command, _Decision(state, rules.pipeline(state.pipeline_id), rules, base))]
