"""The write side as commands read it, inside their transaction: deals, tasks, team queues, customers.

Reads go to the event store itself, never to a read model: a command decides against the state its
append will be checked against, not against a projection that may lag.
"""

from __future__ import annotations

from typing import TypeVar
from uuid import UUID

from contracts import DealEvent, Envelope, customer_stream, deal_stream, parse_event
from contracts.base import STORED
from contracts.sales_tasks import QueueEvent, TaskEvent, queue_stream, task_stream
from plumbing.eventstore.postgres import Conn, read_stream
from services.api.sales_assign import TeamQueue, fold_queue
from services.api.sales_deals import DealState, fold
from services.api.sales_errors import InvalidCommand, NotFound
from services.api.sales_scope import StaffScope
from services.api.sales_tasks import TaskState, fold_task

E = TypeVar("E", bound=Envelope)


async def stream_exists(conn: Conn, stream_id: str) -> bool:
    cur = await conn.execute("SELECT 1 FROM streams WHERE stream_id = %s", (stream_id,))
    return await cur.fetchone() is not None


async def require_customer(conn: Conn, customer_id: UUID) -> None:
    """422 unless the hub has a timeline for ``customer_id`` (customers are born from interactions)."""
    if not await stream_exists(conn, customer_stream(customer_id)):
        raise InvalidCommand(f"no customer {customer_id}", "unknown_customer")


async def _history(conn: Conn, stream_id: str, kind: type[E]) -> list[tuple[int, E]]:
    """The stream's events of ``kind`` with their stream versions, oldest first (what folds take)."""
    history: list[tuple[int, E]] = []
    for recorded in await read_stream(conn, stream_id):
        event = parse_event(recorded.data, STORED)
        if isinstance(event, kind):
            history.append((recorded.stream_version, event))
    return history


async def deal_state(conn: Conn, deal_id: UUID) -> DealState | None:
    """The deal folded from its stream; None when there is no such deal."""
    return fold(await _history(conn, deal_stream(deal_id), DealEvent))


async def require_deal(conn: Conn, deal_id: UUID) -> DealState:
    state = await deal_state(conn, deal_id)
    if state is None:
        raise NotFound(f"no deal {deal_id}", "deal_not_found")
    return state


async def subject_customer(
    conn: Conn, customer_id: UUID | None, deal_id: UUID | None, scope: StaffScope
) -> UUID:
    """The customer a note or task is about: the one named, checked against the deal named (which
    the caller must reach), or the deal's own customer."""
    if deal_id is not None:
        deal = await require_deal(conn, deal_id)
        if not scope.covers(deal.owner_id):
            raise NotFound(f"no deal {deal_id}", "deal_not_found")
        if customer_id is not None and customer_id != deal.customer_id:
            raise InvalidCommand(f"deal {deal_id} is not a deal of customer {customer_id}")
        customer_id = deal.customer_id
    assert customer_id is not None  # the body names a customer, a deal, or both
    await require_customer(conn, customer_id)
    return customer_id


async def task_state(conn: Conn, task_id: UUID) -> TaskState | None:
    """The task folded from its stream; None when there is no such task."""
    return fold_task(await _history(conn, task_stream(task_id), TaskEvent))


async def team_queue(conn: Conn, team_id: str) -> TeamQueue:
    """A team's queue folded from its stream (an empty queue before its first task)."""
    return fold_queue(team_id, await _history(conn, queue_stream(team_id), QueueEvent))
