"""Pure task decisions: a command, the task's state and an assignment -> the events for the task's stream
and for the team queues it leaves and joins, or a refusal.

A task is open from creation until it is completed or cancelled; only an open task is reassigned,
completed or cancelled, and every command on an existing task carries the version it was decided
against. Every change of who holds an open task is mirrored in the queues, so a team's queue stream
alone tells the distribution policy each member's load.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from contracts.sales_tasks import (
    QueueEvent,
    TaskAssigned,
    TaskCancelled,
    TaskCompleted,
    TaskCreated,
    TaskEvent,
    TaskKind,
    TaskQueued,
    TaskReleased,
    TaskStatus,
)
from services.api.sales_assign import Assignment
from services.api.sales_errors import IllegalTransition, WrongVersion
from services.api.sales_stamp import Stamp


@dataclass(frozen=True)
class TaskState:
    task_id: UUID
    customer_id: UUID | None
    deal_id: UUID | None
    status: TaskStatus
    assignee: str
    team: str
    version: int


def evolve_task(state: TaskState | None, event: TaskEvent, version: int) -> TaskState | None:
    if isinstance(event, TaskCreated):
        # The assignment follows in the same append; until then the task is nobody's.
        return TaskState(event.task_id, event.customer_id, event.deal_id, TaskStatus.OPEN, "", "", version)
    if state is None:
        return None
    if isinstance(event, TaskAssigned):
        return replace(state, assignee=event.assignee, team=event.team, version=version)
    if isinstance(event, TaskCompleted):
        return replace(state, status=TaskStatus.COMPLETED, version=version)
    if isinstance(event, TaskCancelled):
        return replace(state, status=TaskStatus.CANCELLED, version=version)
    return replace(state, version=version)


def fold_task(history: Iterable[tuple[int, TaskEvent]]) -> TaskState | None:
    state: TaskState | None = None
    for version, event in history:
        state = evolve_task(state, event, version)
    return state


@dataclass(frozen=True)
class CreateTask:
    task_id: UUID
    kind: TaskKind
    title: str
    due_at: datetime
    customer_id: UUID | None
    deal_id: UUID | None


@dataclass(frozen=True)
class Decision:
    """Events for the task's stream, and per team the events for its queue stream."""

    task: list[TaskEvent]
    queues: dict[str, list[QueueEvent]]


class _Envelopes:
    """Numbers the events of one decision, so each gets its own deterministic id."""

    def __init__(self, stamp: Stamp) -> None:
        self.stamp = stamp
        self.n = 0

    def next(self) -> dict[str, Any]:
        self.n += 1
        return self.stamp.envelope(self.n)


def _assigned(env: _Envelopes, task_id: UUID, to: Assignment, previous: str | None) -> TaskAssigned:
    return TaskAssigned(
        **TaskAssigned.type_fields(),
        **env.next(),
        task_id=task_id,
        assignee=to.assignee,
        team=to.team,
        routing=to.routing,
        previous_assignee=previous,
    )


def _queued(env: _Envelopes, task_id: UUID, to: Assignment) -> TaskQueued:
    fields = {"team": to.team, "task_id": task_id, "assignee": to.assignee, "routing": to.routing}
    return TaskQueued(**TaskQueued.type_fields(), **env.next(), **fields)


Why = Literal["completed", "cancelled", "reassigned"]


def _released(env: _Envelopes, state: TaskState, why: Why) -> TaskReleased:
    fields = {"team": state.team, "task_id": state.task_id, "assignee": state.assignee, "why": why}
    return TaskReleased(**TaskReleased.type_fields(), **env.next(), **fields)


def decide_create(command: CreateTask, to: Assignment, stamp: Stamp) -> Decision:
    env = _Envelopes(stamp)
    created = TaskCreated(
        **TaskCreated.type_fields(),
        **env.next(),
        task_id=command.task_id,
        kind=command.kind,
        title=command.title,
        customer_id=command.customer_id,
        deal_id=command.deal_id,
        due_at=command.due_at,
    )
    return Decision(
        [created, _assigned(env, command.task_id, to, None)], {to.team: [_queued(env, command.task_id, to)]}
    )


def _check(state: TaskState, expected_version: int, doing: str) -> None:
    if expected_version != state.version:
        raise WrongVersion(f"task {state.task_id} is at version {state.version}, not {expected_version}")
    if state.status is not TaskStatus.OPEN:
        raise IllegalTransition(f"cannot {doing}: task {state.task_id} is {state.status.value}")


def decide_reassign(state: TaskState, expected_version: int, to: Assignment, stamp: Stamp) -> Decision:
    """Move an open task to another staff member: released from the old queue, queued in the new one."""
    _check(state, expected_version, "reassign")
    if to.assignee == state.assignee:
        raise IllegalTransition(f"task {state.task_id} is already {to.assignee}'s", "no_change")
    env = _Envelopes(stamp)
    assigned = _assigned(env, state.task_id, to, state.assignee)
    queues: dict[str, list[QueueEvent]] = {state.team: [_released(env, state, "reassigned")]}
    queues.setdefault(to.team, []).append(_queued(env, state.task_id, to))
    return Decision([assigned], queues)


def decide_close(
    state: TaskState,
    expected_version: int,
    outcome: Literal["completed", "cancelled"],
    note: str | None,
    stamp: Stamp,
) -> Decision:
    """Complete or cancel an open task (``note``: the outcome or the reason); it leaves its queue."""
    _check(state, expected_version, "complete" if outcome == "completed" else "cancel")
    env = _Envelopes(stamp)
    base = {**env.next(), "task_id": state.task_id}
    event: TaskEvent = (
        TaskCompleted(**TaskCompleted.type_fields(), **base, outcome=note)
        if outcome == "completed"
        else TaskCancelled(**TaskCancelled.type_fields(), **base, reason=note)
    )
    return Decision([event], {state.team: [_released(env, state, outcome)]})
