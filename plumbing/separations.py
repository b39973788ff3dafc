"""Customers a staff member separated by undoing their merge: automatic rules never merge them again.

Written in the transaction that appends the ``customer.unmerged`` event it mirrors, and cleared in
the transaction of a later staff merge of the same pair (staff may overrule their own separation;
rules may not). The table is created by the timeline writer's migrations, next to the identity index.
"""

from __future__ import annotations

from uuid import UUID

from plumbing.eventstore.postgres import Conn


def _ordered(one: UUID, other: UUID) -> tuple[UUID, UUID]:
    """The pair's one spelling in the table: smaller uuid first (PostgreSQL orders uuids bytewise)."""
    if one == other:
        raise ValueError("a customer cannot be separated from itself")
    return (one, other) if one.bytes < other.bytes else (other, one)


async def separate(conn: Conn, one: UUID, other: UUID, unmerge_event_id: UUID) -> None:
    """Record ``one`` and ``other`` as separated by ``unmerge_event_id`` (a repeat keeps the latest)."""
    a, b = _ordered(one, other)
    await conn.execute(
        "INSERT INTO customer_separations (customer_a, customer_b, unmerge_event_id) VALUES (%s, %s, %s)"
        " ON CONFLICT (customer_a, customer_b)"
        " DO UPDATE SET unmerge_event_id = EXCLUDED.unmerge_event_id, separated_at = now()",
        (a, b, unmerge_event_id),
    )


async def clear_separation(conn: Conn, one: UUID, other: UUID) -> bool:
    """Forget that the pair was separated (a staff merge overrules it); whether there was a row."""
    a, b = _ordered(one, other)
    cur = await conn.execute(
        "DELETE FROM customer_separations WHERE customer_a = %s AND customer_b = %s", (a, b)
    )
    return cur.rowcount > 0
