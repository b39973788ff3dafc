"""The write side as merge commands read and change it, inside their transaction (append lock held).

Reads go to the event store itself, never to the card, so a command decides against what its append
will sit on. The identity index is changed here in the same transaction as the events it mirrors.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from uuid import UUID

from contracts import customer_stream
from plumbing.access.fastapi import Access
from plumbing.access.policy import RowResource, ScopeKind
from plumbing.eventstore.model import RecordedEvent
from plumbing.eventstore.postgres import Conn, read_stream
from services.api import store
from services.api.sales_errors import IllegalTransition, NotFound
from services.api.unmerge_plan import Streams, absorbed_customers, merged_into


@dataclass(frozen=True)
class CustomerState:
    """A customer as a command sees it: its stream, and the survivor it is merged into now."""

    customer_id: UUID
    events: Sequence[RecordedEvent]

    @property
    def exists(self) -> bool:
        """A customer exists when its stream does (customers are born from events)."""
        return bool(self.events)

    @property
    def merged_into(self) -> UUID | None:
        return merged_into(self.events)


async def customer_state(conn: Conn, customer_id: UUID) -> CustomerState:
    return CustomerState(customer_id, await read_stream(conn, customer_stream(customer_id)))


async def require_customer(conn: Conn, access: Access, customer_id: UUID) -> CustomerState:
    """The customer's state; 404 when it has no stream, or is outside the caller's rows."""
    state = await customer_state(conn, customer_id)
    scope = access.rows(RowResource.CUSTOMERS)
    hidden = scope.kind is not ScopeKind.ALL and await store.card(conn, customer_id, scope) is None
    if not state.exists or hidden:
        raise NotFound(f"no customer {customer_id}", "customer_not_found")
    return state


def require_not_merged(state: CustomerState) -> None:
    """409 when the customer was merged into another one: commands go to the survivor (named)."""
    if state.merged_into is not None:
        raise IllegalTransition(
            f"customer {state.customer_id} was merged into {state.merged_into}; act on {state.merged_into}",
            "customer_merged",
        )


async def load_streams(conn: Conn, customers: Iterable[UUID]) -> Streams:
    """The streams of ``customers`` and of every customer they absorbed, recursively."""
    loaded: dict[UUID, list[RecordedEvent]] = {}
    pending = list(customers)
    while pending:
        customer = pending.pop()
        if customer in loaded:
            continue
        loaded[customer] = await read_stream(conn, customer_stream(customer))
        pending.extend(absorbed_customers(loaded[customer]) - loaded.keys())
    return loaded


