"""The write side as commands read it, inside their transaction: deals, tasks, team queues, customers.

Reads go to the event store itself, never to a read model: a command decides against the state its
append will be checked against, not against a projection that may lag.
"""

from __future__ import annotations

from uuid import UUID

from contracts import DealEvent, customer_stream, deal_stream, parse_event
from contracts.sales_tasks import QueueEvent, TaskEvent, queue_stream, task_stream
from plumbing.eventstore.postgres import Conn, read_stream
from services.api.sales_assign import TeamQueue, fold_queue
from services.api.sales_deals import DealState, fold
from services.api.sales_errors import InvalidCommand, NotFound
from services.api.sales_tasks import TaskState, fold_task


async def stream_exists(conn: Conn, stream_id: str) -> bool:
    cur = await conn.execute("SELECT 1 FROM streams WHERE stream_id = %s", (stream_id,))
    return await cur.fetchone() is not None


async def require_customer(conn: Conn, customer_id: UUID) -> None:
    """422 unless the hub has a timeline for ``customer_id`` (customers are born from interactions)."""
    if not await stream_exists(conn, customer_stream(customer_id)):
        raise InvalidCommand(f"no customer {customer_id}", "unknown_customer")


async def deal_state(conn: Conn, deal_id: UUID) -> DealState | None:
    """The deal folded from its stream; None when there is no such deal."""
    history: list[tuple[int, DealEvent]] = []
    for recorded in await read_stream(conn, deal_stream(deal_id)):
        event = parse_event(recorded.data)
        if isinstance(event, DealEvent):
            history.append((recorded.stream_version, event))
    return fold(history)


async def require_deal(conn: Conn, deal_id: UUID) -> DealState:
    state = await deal_state(conn, deal_id)
    if state is None:
        raise NotFound(f"no deal {deal_id}", "deal_not_found")
    return state


async def task_state(conn: Conn, task_id: UUID) -> TaskState | None:
    """The task folded from its stream; None when there is no such task."""
    history: list[tuple[int, TaskEvent]] = []
    for recorded in await read_stream(conn, task_stream(task_id)):
        event = parse_event(recorded.data)
        if isinstance(event, TaskEvent):
            history.append((recorded.stream_version, event))
    return fold_task(history)


async def team_queue(conn: Conn, team_id: str) -> TeamQueue:
    """A team's queue folded from its stream (an empty queue before its first task)."""
    history: list[tuple[int, QueueEvent]] = []
    for recorded in await read_stream(conn, queue_stream(team_id)):
        event = parse_event(recorded.data)
        if isinstance(event, QueueEvent):
            history.append((recorded.stream_version, event))
    return fold_queue(team_id, history)
