"""Pure projection logic of tasks: task view + event -> task view (live, rebuild and replay alike)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from contracts.read.pipeline import TaskView
from contracts.sales_tasks import (
    TaskAssigned,
    TaskCancelled,
    TaskCompleted,
    TaskCreated,
    TaskEvent,
    TaskStatus,
)
from projections.pipeline.evolve import Fact, fold_keyed


def _created(fact: Fact, event: TaskCreated) -> TaskView:
    return TaskView(
        task_id=event.task_id,
        kind=event.kind.value,
        title=event.title,
        customer_id=event.customer_id,
        deal_id=event.deal_id,
        due_at=event.due_at,
        status=TaskStatus.OPEN.value,
        created_at=event.occurred_at,
        version=fact.stream_version,
        created_position=fact.position,
        last_position=fact.position,
    )


def _changes(event: TaskEvent) -> dict[str, Any]:
    if isinstance(event, TaskAssigned):
        return {"assignee": event.assignee, "team": event.team, "routing": event.routing.value}
    if isinstance(event, TaskCompleted):
        return {"status": TaskStatus.COMPLETED.value, "closed_at": event.occurred_at, "note": event.outcome}
    if isinstance(event, TaskCancelled):
        return {"status": TaskStatus.CANCELLED.value, "closed_at": event.occurred_at, "note": event.reason}
    return {}


def evolve_task(task: TaskView | None, fact: Fact) -> TaskView | None:
    """The task after ``fact``; facts already folded in, and other events, leave it as it is."""
    event = fact.event
    if not isinstance(event, TaskEvent) or (task is not None and fact.position <= task.last_position):
        return task
    if isinstance(event, TaskCreated):
        return task if task is not None else _created(fact, event)
    if task is None:
        return None
    update = {**_changes(event), "version": fact.stream_version, "last_position": fact.position}
    return task.model_copy(update=update)


def task_of(fact: Fact) -> UUID | None:
    return fact.event.task_id if isinstance(fact.event, TaskEvent) else None


def fold_tasks(tasks: dict[UUID, TaskView], facts: Iterable[Fact]) -> dict[UUID, TaskView]:
    """``tasks`` after ``facts`` (in position order), as a new mapping."""
    return fold_keyed(tasks, facts, task_of, evolve_task)
