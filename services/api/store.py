"""Read-model queries of the API; read models only, never the write side."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg.rows import dict_row

from plumbing.eventstore.postgres import Conn

#: Merges are resolved at write time, so chains stay short; this only bounds a corrupt cycle.
_MAX_MERGE_HOPS = 16


async def card(conn: Conn, customer_id: UUID) -> dict[str, Any] | None:
    """The card of ``customer_id``, or of the customer that absorbed it (following merges)."""
    for _ in range(_MAX_MERGE_HOPS):
        cur = await conn.execute("SELECT card FROM customer_cards WHERE customer_id = %s", (customer_id,))
        row = await cur.fetchone()
        if row is None:
            return None
        found: dict[str, Any] = row[0]
        if not found.get("merged_into"):
            return found
        customer_id = UUID(found["merged_into"])
    raise RuntimeError(f"merge chain longer than {_MAX_MERGE_HOPS} at customer {customer_id}")


async def card_by_identity(conn: Conn, identity_key: str) -> dict[str, Any] | None:
    cur = await conn.execute(
        "SELECT c.card FROM card_identities i JOIN customer_cards c USING (customer_id)"
        " WHERE i.identity_key = %s",
        (identity_key,),
    )
    row = await cur.fetchone()
    return row[0] if row else None


@dataclass(frozen=True)
class TimelinePage:
    items: list[dict[str, Any]]
    next_before: int | None


async def timeline(conn: Conn, customer_id: UUID, before: int | None, limit: int) -> TimelinePage:
    """Newest first; ``before`` is the position the previous page ended at."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT position, event_id, event_type, channel, provider, summary, occurred_at"
            " FROM card_timeline WHERE customer_id = %s AND position < %s"
            " ORDER BY position DESC LIMIT %s",
            (customer_id, before if before is not None else 2**63 - 1, limit + 1),
        )
        rows = await cur.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    return TimelinePage(items=rows, next_before=rows[-1]["position"] if more else None)


async def card_checkpoint(conn: Conn) -> int:
    """The log position the customer cards include: what ``min_position`` is compared with."""
    cur = await conn.execute("SELECT position FROM projection_checkpoints WHERE name = 'customer_card'")
    row = await cur.fetchone()
    return int(row[0]) if row else 0
