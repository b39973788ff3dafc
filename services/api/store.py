"""Read-model queries of the API; read models only, never the write side.

Every query that returns customer data takes the caller's :class:`RowScope` and applies it in its
WHERE clause, so rows outside the scope never leave PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg import sql
from psycopg.rows import dict_row

from plumbing.access.policy import ScopeKind
from plumbing.access.principal import RowScope
from plumbing.eventstore.postgres import Conn

#: Merges are resolved at write time, so chains stay short; this only bounds a corrupt cycle.
_MAX_MERGE_HOPS = 16


class UnsupportedScope(ValueError):
    """A row scope customers cannot be filtered by (the policy loader refuses these too)."""


def visible_customers(scope: RowScope, card: sql.Composable) -> tuple[sql.Composable, dict[str, Any]]:
    """The WHERE condition on a ``customer_cards.card`` column for ``scope``, and its parameters."""
    if scope.kind is ScopeKind.ALL:
        return sql.SQL("TRUE"), {}
    if scope.kind is ScopeKind.CHANNELS:
        # The card's "channels" object is keyed by the channels the customer interacted on.
        return sql.SQL("({} -> 'channels') ?| %(scope_channels)s").format(card), {
            "scope_channels": list(scope.channels)
        }
    if scope.kind is ScopeKind.NONE:
        return sql.SQL("FALSE"), {}
    raise UnsupportedScope(f"customers cannot be scoped by {scope.kind}")


_CARD = """
WITH RECURSIVE chain (customer_id, card, hops) AS (
    SELECT customer_id, card, 0 FROM customer_cards WHERE customer_id = %(customer_id)s
  UNION ALL
    SELECT c.customer_id, c.card, chain.hops + 1
      FROM chain JOIN customer_cards c ON c.customer_id = (chain.card ->> 'merged_into')::uuid
     WHERE chain.hops < %(max_hops)s
)
SELECT card FROM chain WHERE card ->> 'merged_into' IS NULL AND ({visible})
"""


async def card(conn: Conn, customer_id: UUID, scope: RowScope) -> dict[str, Any] | None:
    """The card of ``customer_id``, or of the customer that absorbed it (following merges), when
    ``scope`` reaches it; None both when there is none and when it is outside the scope."""
    visible, params = visible_customers(scope, sql.Identifier("card"))
    cur = await conn.execute(
        sql.SQL(_CARD).format(visible=visible),
        {"customer_id": customer_id, "max_hops": _MAX_MERGE_HOPS, **params},
    )
    row = await cur.fetchone()
    return row[0] if row else None


async def card_by_identity(conn: Conn, identity_key: str, scope: RowScope) -> dict[str, Any] | None:
    visible, params = visible_customers(scope, sql.SQL("c.card"))
    cur = await conn.execute(
        sql.SQL(
            "SELECT c.card FROM card_identities i JOIN customer_cards c USING (customer_id)"
            " WHERE i.identity_key = %(identity_key)s AND ({})"
        ).format(visible),
        {"identity_key": identity_key, **params},
    )
    row = await cur.fetchone()
    return row[0] if row else None


@dataclass(frozen=True)
class TimelinePage:
    items: list[dict[str, Any]]
    next_before: int | None


async def timeline(conn: Conn, customer_id: UUID, before: int | None, limit: int) -> TimelinePage:
    """Newest first; ``before`` is the position the previous page ended at.

    Call it only with the id of a card the caller's scope reached (see :func:`card`).
    """
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT position, event_id, event_type, channel, provider, direction, summary, occurred_at"
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
