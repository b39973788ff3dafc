"""HTTP commands and queues of sales-support tasks.

Commands decide inside the command transaction (append lock held): the team's queue is read from its
stream, the policy picks the assignee, and the task's events and the queue's events are appended
together, the queue with the version it was read at. Two tasks created at once for one team therefore
never see the same loads, and a cap is never overrun.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from contracts import derived_event_id
from contracts.read.pipeline import TaskView, is_overdue
from contracts.sales_tasks import TaskKind, queue_stream, task_stream
from plumbing.access.fastapi import Access, AccessDep, control_of, guarded_router, secured
from plumbing.access.policy import Permission, RowResource
from plumbing.eventstore import NO_STREAM, ExpectedVersion, NewEvent
from plumbing.eventstore.postgres import Conn, append_locked
from plumbing.http import ApiError
from services.api import sales_queries as queries
from services.api.cursor import BadCursor, decode_cursor, encode_cursor
from services.api.sales_assign import Assignment, Target, TeamQueue, assign, team_for
from services.api.sales_commands import Answer
from services.api.sales_deals import Rules
from services.api.sales_errors import NotFound
from services.api.sales_http import REFUSALS, Command, IdempotencyHeader, pool_of
from services.api.sales_scope import StaffScope
from services.api.sales_streams import subject_customer, task_state, team_queue
from services.api.sales_tasks import (
    CreateTask,
    Decision,
    TaskState,
    decide_close,
    decide_create,
    decide_reassign,
)

Version = Annotated[int, Field(ge=0, description="the task's version the command was decided against")]
StatusQuery = Annotated[
    Literal["open", "overdue", "completed", "cancelled"] | None,
    Query(description="overdue: open and due before now"),
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Targeted(_Body):
    assignee: str | None = Field(default=None, description="a staff member; or give team")
    team: str | None = Field(default=None, description="a team: its distribution policy picks the assignee")

    @model_validator(mode="after")
    def _one_target(self) -> _Targeted:
        if (self.assignee is None) == (self.team is None):
            raise ValueError("name exactly one of assignee or team")
        return self

    def target(self) -> Target:
        return Target(assignee=self.assignee, team=self.team)


class TaskBody(_Targeted):
    kind: TaskKind
    title: str = Field(min_length=1, max_length=300)
    due_at: AwareDatetime
    customer_id: UUID | None = None
    deal_id: UUID | None = None

    @model_validator(mode="after")
    def _for_something(self) -> TaskBody:
        if self.customer_id is None and self.deal_id is None:
            raise ValueError("a task needs a customer_id, a deal_id, or both")
        return self


class ReassignBody(_Targeted):
    expected_version: Version


class CompleteBody(_Body):
    expected_version: Version
    outcome: str | None = Field(default=None, max_length=2000)


class CancelBody(_Body):
    expected_version: Version
    reason: str | None = Field(default=None, max_length=2000)


class TaskAccepted(BaseModel):
    task_id: UUID
    version: int
    position: int
    assignee: str
    team: str


class TaskItem(TaskView):
    overdue: bool  # at the read's "now"


class TaskPage(BaseModel):
    items: list[TaskItem]
    next_cursor: str | None


class TaskCommands:
    """The shell of task commands: scope checks, stream reads, distribution, decide, append."""

    def __init__(self, rules: Rules) -> None:
        self.rules = rules

    def scope(self, access: Access) -> StaffScope:
        return StaffScope.of(access.rows(RowResource.DEALS), self.rules.staff)

    async def _assignment(
        self, conn: Conn, target: Target, scope: StaffScope
    ) -> tuple[Assignment, TeamQueue]:
        """Who gets the task, and the queue (as read) the choice was made from."""
        team = team_for(target, self.rules.staff)
        queue = await team_queue(conn, team.id)
        chosen = assign(target, team, queue)
        scope.require(chosen.assignee)
        return chosen, queue

    async def _append(
        self,
        conn: Conn,
        task_id: UUID,
        decision: Decision,
        expected: ExpectedVersion,
        queues: dict[str, TeamQueue],
        meta: dict[str, Any],
    ) -> dict[str, Any]:
        """Append to the task's stream and to each queue at the version it was read at; the answer's ids."""
        result = await append_locked(
            conn, task_stream(task_id), [NewEvent(e, meta) for e in decision.task], expected
        )
        position = result.last_position
        for team, events in decision.queues.items():
            queue = queues.get(team) or await team_queue(conn, team)
            at = NO_STREAM if queue.version is None else queue.version
            appended = await append_locked(conn, queue_stream(team), [NewEvent(e, meta) for e in events], at)
            position = max(position, appended.last_position)
        return {"task_id": str(task_id), "version": result.stream_version, "position": position}

    async def create(self, command: Command, body: TaskBody) -> JSONResponse:
        task_id = derived_event_id(command.stamp.seed, "task")
        scope = self.scope(command.access)

        async def work(conn: Conn) -> Answer:
            customer_id = await subject_customer(conn, body.customer_id, body.deal_id, scope)
            chosen, queue = await self._assignment(conn, body.target(), scope)
            creating = CreateTask(task_id, body.kind, body.title, body.due_at, customer_id, body.deal_id)
            decision = decide_create(creating, chosen, command.stamp)
            meta = _metadata(command.access, customer_id)
            ids = await self._append(conn, task_id, decision, NO_STREAM, {queue.team: queue}, meta)
            return Answer(201, {**ids, "assignee": chosen.assignee, "team": chosen.team})

        return await command.run(work)

    async def _existing(self, conn: Conn, task_id: UUID, scope: StaffScope) -> TaskState:
        state = await task_state(conn, task_id)
        if state is None or not scope.covers(state.assignee):
            raise NotFound(f"no task {task_id}", "task_not_found")
        return state

    async def reassign(self, command: Command, task_id: UUID, body: ReassignBody) -> JSONResponse:
        scope = self.scope(command.access)

        async def work(conn: Conn) -> Answer:
            state = await self._existing(conn, task_id, scope)
            chosen, queue = await self._assignment(conn, body.target(), scope)
            decision = decide_reassign(state, body.expected_version, chosen, command.stamp)
            meta = _metadata(command.access, state.customer_id)
            ids = await self._append(conn, task_id, decision, state.version, {queue.team: queue}, meta)
            return Answer(200, {**ids, "assignee": chosen.assignee, "team": chosen.team})

        return await command.run(work)

    async def close(self, command: Command, task_id: UUID, body: CompleteBody | CancelBody) -> JSONResponse:
        scope = self.scope(command.access)
        outcome: Literal["completed", "cancelled"] = (
            "completed" if isinstance(body, CompleteBody) else "cancelled"
        )
        note = body.outcome if isinstance(body, CompleteBody) else body.reason

        async def work(conn: Conn) -> Answer:
            state = await self._existing(conn, task_id, scope)
            decision = decide_close(state, body.expected_version, outcome, note, command.stamp)
            meta = _metadata(command.access, state.customer_id)
            ids = await self._append(conn, task_id, decision, state.version, {}, meta)
            return Answer(200, {**ids, "assignee": state.assignee, "team": state.team})

        return await command.run(work)


def _metadata(access: Access, customer_id: UUID | None) -> dict[str, Any]:
    principal = access.principal
    meta = {"actor": principal.id, "principal_kind": principal.kind.value, "request_id": access.request_id}
    return {**meta, "customer_id": str(customer_id)} if customer_id is not None else meta


def _page(views: list[TaskView], next_after: int | None, now: datetime) -> TaskPage:
    items = [TaskItem(**dict(view), overdue=is_overdue(view, now)) for view in views]
    return TaskPage(items=items, next_cursor=encode_cursor(next_after) if next_after is not None else None)


def router(rules: Rules) -> APIRouter:
    routes = guarded_router(tags=["tasks"])
    commands = TaskCommands(rules)
    command = partial(Command, key_ttl=rules.idempotency_ttl)  # keys expire as configured
    write, read = secured(Permission.WRITE_DEALS), secured(Permission.READ_DEALS)

    @routes.post(
        "/v1/tasks", status_code=201, response_model=TaskAccepted, responses=REFUSALS, openapi_extra=write
    )
    async def create_task(
        request: Request, access: AccessDep, body: TaskBody, idempotency_key: IdempotencyHeader = None
    ) -> JSONResponse:
        """Create a task for a customer or a deal, for a named staff member or a team's policy."""
        return await commands.create(command(request, access, idempotency_key, body), body)

    @routes.post(
        "/v1/tasks/{task_id}/reassign", response_model=TaskAccepted, responses=REFUSALS, openapi_extra=write
    )
    async def reassign_task(
        request: Request,
        access: AccessDep,
        task_id: UUID,
        body: ReassignBody,
        idempotency_key: IdempotencyHeader = None,
    ) -> JSONResponse:
        """Give an open task to another staff member, or back to a team's policy."""
        return await commands.reassign(command(request, access, idempotency_key, body), task_id, body)

    @routes.post(
        "/v1/tasks/{task_id}/complete", response_model=TaskAccepted, responses=REFUSALS, openapi_extra=write
    )
    async def complete_task(
        request: Request,
        access: AccessDep,
        task_id: UUID,
        body: CompleteBody,
        idempotency_key: IdempotencyHeader = None,
    ) -> JSONResponse:
        """Mark an open task done."""
        return await commands.close(command(request, access, idempotency_key, body), task_id, body)

    @routes.post(
        "/v1/tasks/{task_id}/cancel", response_model=TaskAccepted, responses=REFUSALS, openapi_extra=write
    )
    async def cancel_task(
        request: Request,
        access: AccessDep,
        task_id: UUID,
        body: CancelBody,
        idempotency_key: IdempotencyHeader = None,
    ) -> JSONResponse:
        """Cancel an open task."""
        return await commands.close(command(request, access, idempotency_key, body), task_id, body)

    async def _list(
        request: Request, access: AccessDep, wanted: queries.TaskFilter, limit: int, cursor: str | None
    ) -> TaskPage:
        try:
            after = decode_cursor(cursor) if cursor else None
        except BadCursor as exc:
            raise ApiError(422, "invalid_cursor", str(exc)) from exc
        now = control_of(request).clock()
        async with pool_of(request).connection() as conn:
            page = await queries.tasks(conn, wanted, commands.scope(access), now, after, limit)
        return _page(page.items, page.next_after, now)

    @routes.get("/v1/tasks", response_model=TaskPage, openapi_extra=read)
    async def list_tasks(
        request: Request,
        access: AccessDep,
        status: StatusQuery = None,
        assignee: str | None = None,
        team: str | None = None,
        customer: UUID | None = None,
        deal: UUID | None = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        cursor: str | None = None,
    ) -> TaskPage:
        """Tasks the caller may see, oldest first: the sales-support queue (``status=overdue``: late ones)."""
        wanted = queries.TaskFilter(status, assignee, team, customer, deal)
        return await _list(request, access, wanted, limit, cursor)

    @routes.get("/v1/staff/{staff_id}/tasks", response_model=TaskPage, openapi_extra=read)
    async def staff_tasks(
        request: Request,
        access: AccessDep,
        staff_id: str,
        status: StatusQuery = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        cursor: str | None = None,
    ) -> TaskPage:
        """One staff member's tasks, oldest first (empty for staff outside the caller's rows)."""
        return await _list(request, access, queries.TaskFilter(status, assignee=staff_id), limit, cursor)

    return routes
