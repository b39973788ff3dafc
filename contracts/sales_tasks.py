"""Sales-support tasks: created for a customer or a deal, assigned to a staff member, done or cancelled.

Two kinds of streams:

* ``task-<uuid>``: one task's life (created, assigned and reassigned, completed or cancelled);
* ``taskqueue-<team>``: a team's queue, the aggregate whose invariants distribution keeps (each
  member's open tasks under the cap, the round-robin turn). Every assignment into a member of the team
  is queued there, every completion, cancellation or reassignment away released, so the queue's
  state, and with it the next assignee, is derived from the event store alone.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar, Literal, Self
from uuid import UUID

from pydantic import AwareDatetime, Field, model_validator

from contracts.sales import ConfigId, SalesEvent, StaffId

_TASK_PREFIX = "task-"
_QUEUE_PREFIX = "taskqueue-"


def task_stream(task_id: UUID) -> str:
    """The event store stream of one task."""
    return f"{_TASK_PREFIX}{task_id}"


def queue_stream(team_id: str) -> str:
    """The event store stream of a team's task queue."""
    return f"{_QUEUE_PREFIX}{team_id}"


class TaskKind(StrEnum):
    CALL_BACK = "call_back"
    SEND_OFFER = "send_offer"
    MEETING = "meeting"
    FOLLOW_UP = "follow_up"
    OTHER = "other"


class TaskStatus(StrEnum):
    OPEN = "open"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class Routing(StrEnum):
    """How an assignee was chosen: named by a person, or by the team's distribution policy."""

    EXPLICIT = "explicit"
    ROUND_ROBIN = "round_robin"
    LEAST_LOADED = "least_loaded"


class TaskEvent(SalesEvent):
    """Base of events on a task's stream."""

    task_id: UUID


class TaskCreated(TaskEvent):
    """A task for a customer, a deal, or both, due at ``due_at`` (its assignment follows at once)."""

    EVENT_TYPE: ClassVar[str] = "sales.task.created"
    event_type: Literal["sales.task.created"] = "sales.task.created"
    schema_version: Literal[1] = 1
    kind: TaskKind
    title: str = Field(min_length=1, max_length=300)
    customer_id: UUID | None = None
    deal_id: UUID | None = None
    due_at: AwareDatetime

    @model_validator(mode="after")
    def _about_something(self) -> Self:
        if self.customer_id is None and self.deal_id is None:
            raise ValueError("a task is for a customer, a deal, or both")
        return self


class TaskAssigned(TaskEvent):
    """The task is now ``assignee``'s (of ``team``); ``previous_assignee`` is None on first assignment."""

    EVENT_TYPE: ClassVar[str] = "sales.task.assigned"
    event_type: Literal["sales.task.assigned"] = "sales.task.assigned"
    schema_version: Literal[1] = 1
    assignee: StaffId
    team: ConfigId
    routing: Routing
    previous_assignee: StaffId | None = None


class TaskCompleted(TaskEvent):
    EVENT_TYPE: ClassVar[str] = "sales.task.completed"
    event_type: Literal["sales.task.completed"] = "sales.task.completed"
    schema_version: Literal[1] = 1
    outcome: str | None = Field(default=None, max_length=2000)


class TaskCancelled(TaskEvent):
    EVENT_TYPE: ClassVar[str] = "sales.task.cancelled"
    event_type: Literal["sales.task.cancelled"] = "sales.task.cancelled"
    schema_version: Literal[1] = 1
    reason: str | None = Field(default=None, max_length=2000)


class QueueEvent(SalesEvent):
    """Base of events on a team's queue stream."""

    team: ConfigId
    task_id: UUID
    assignee: StaffId


class TaskQueued(QueueEvent):
    """A task entered ``assignee``'s queue (``routing`` says whether the rotation chose them)."""

    EVENT_TYPE: ClassVar[str] = "sales.queue.task_queued"
    event_type: Literal["sales.queue.task_queued"] = "sales.queue.task_queued"
    schema_version: Literal[1] = 1
    routing: Routing


class TaskReleased(QueueEvent):
    """A task left ``assignee``'s queue: completed, cancelled, or reassigned to someone else."""

    EVENT_TYPE: ClassVar[str] = "sales.queue.task_released"
    event_type: Literal["sales.queue.task_released"] = "sales.queue.task_released"
    schema_version: Literal[1] = 1
    why: Literal["completed", "cancelled", "reassigned"]


TASK_EVENTS: tuple[type[SalesEvent], ...] = (
    TaskCreated,
    TaskAssigned,
    TaskCompleted,
    TaskCancelled,
    TaskQueued,
    TaskReleased,
)
