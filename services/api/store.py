"""Read-model queries of the API; read models only, never the write side.

Every query that returns customer data takes the caller's :class:`RowScope` and applies it in its
WHERE clause, so rows outside the scope never leave PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg import sql
from psycopg.rows import dict_row

from contracts.read.customer_card import CustomerCard
from contracts.read.kinds import PersonalKind
from plumbing.access.kinds import collect_kinds, plan
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


async def cards_by_identity(conn: Conn, identity_key: str, scope: RowScope) -> list[dict[str, Any]]:
    """The cards holding ``identity_key`` within ``scope``: one, or several for an identity the rules
    let customers share (a family phone), the earliest-seen customer first."""
    visible, params = visible_customers(scope, sql.SQL("c.card"))
    cur = await conn.execute(
        sql.SQL(
            "SELECT c.card FROM card_identities i JOIN customer_cards c USING (customer_id)"
            " WHERE i.identity_key = %(identity_key)s AND ({})"
            " ORDER BY c.card ->> 'created_at', c.customer_id"
        ).format(visible),
        {"identity_key": identity_key, **params},
    )
    return [row[0] for row in await cur.fetchall()]


@dataclass(frozen=True)
class TimelinePage:
    items: list[dict[str, Any]]
    next_before: int | None


async def timeline(
    conn: Conn,
    customer_id: UUID,
    before: int | None,
    limit: int,
    *,
    channels: Sequence[str] = (),
    event_types: Sequence[str] = (),
) -> TimelinePage:
    """Newest first; ``before`` is the position the previous page ended at. ``channels`` and
    ``event_types`` keep only the interactions of those channels and types (empty: any).

    Call it only with the id of a card the caller's scope reached (see :func:`card`).
    """
    conditions = [sql.SQL("customer_id = %(customer)s AND position < %(before)s")]
    if channels:
        conditions.append(sql.SQL("channel = ANY(%(channels)s)"))
    if event_types:
        conditions.append(sql.SQL("event_type = ANY(%(types)s)"))
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            sql.SQL(
                "SELECT position, event_id, event_type, channel, provider, direction, summary, occurred_at"
                " FROM card_timeline WHERE {} ORDER BY position DESC LIMIT %(limit)s"
            ).format(sql.SQL(" AND ").join(conditions)),
            {
                "customer": customer_id,
                "before": before if before is not None else 2**63 - 1,
                "channels": list(channels),
                "types": list(event_types),
                "limit": limit + 1,
            },
        )
        rows = await cur.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    return TimelinePage(items=rows, next_before=rows[-1]["position"] if more else None)


_SEARCH = """
SELECT c.card FROM customer_cards c
 WHERE c.customer_id IN (
         SELECT customer_id FROM card_search
          WHERE term ~>=~ %(low)s AND term ~<~ %(high)s AND term LIKE %(pattern)s
       )
   AND c.card ->> 'merged_into' IS NULL AND c.customer_id > %(after)s AND ({visible})
 ORDER BY c.customer_id LIMIT %(limit)s
"""
_NIL = UUID(int=0)


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


async def search_cards(
    conn: Conn, prefix: str, scope: RowScope, after: UUID | None, limit: int
) -> list[dict[str, Any]]:
    """Cards with a search term starting with ``prefix`` (already in the terms' normal form, see
    :mod:`projections.customer_card.search`) that ``scope`` reaches, by customer id after ``after``.

    The byte-order range lets the ``text_pattern_ops`` index find the terms even in a generic plan;
    ``LIKE`` keeps the answer exact.
    """
    visible, params = visible_customers(scope, sql.SQL("c.card"))
    cur = await conn.execute(
        sql.SQL(_SEARCH).format(visible=visible),
        {
            "low": prefix,
            "high": prefix + "\U0010ffff",
            "pattern": _like_prefix(prefix),
            "after": after or _NIL,
            "limit": limit,
            **params,
        },
    )
    return [row[0] for row in await cur.fetchall()]


async def personal_values(
    conn: Conn, customer_ids: Iterable[UUID], kinds: frozenset[PersonalKind]
) -> set[str]:
    """Every value of ``kinds`` on the cards of ``customer_ids`` (merge history and attribute history
    included): what the safety net behind masks looks for in an answer naming these customers."""
    cur = await conn.execute(
        "SELECT card FROM customer_cards WHERE customer_id = ANY(%s)", (list(customer_ids),)
    )
    card = plan(CustomerCard)
    return {value for (found,) in await cur.fetchall() for value in collect_kinds(card, found, kinds)}


async def card_checkpoint(conn: Conn) -> int:
    """The log position the customer cards include: what ``min_position`` is compared with."""
    cur = await conn.execute("SELECT position FROM projection_checkpoints WHERE name = 'customer_card'")
    row = await cur.fetchone()
    return int(row[0]) if row else 0
