"""Keeps what the channel report would otherwise recompute from every customer's whole history: each
customer's first touch, each sale's first- and last-touch attribution, and touches counted per UTC day,
customer, channel and source. All are a function of the fact rows as they stand, so they are refreshed
once at the end of a batch, after its merges and unmerges moved rows:

* customers a merge or an unmerge in the batch concerned are recomputed whole (first touch, every sale,
  their day counts);
* any other customer with new touches gets those touches' day counts recounted, an earlier first touch
  if one arrived, and their sales after their earliest new touch (a late delivery lands before sales
  already counted) re-attributed, as are the batch's new sales. In log order that is only the batch's own
  sales: the cost of a batch does not grow with the customer's history.

A sale's first touch is the customer's first touch when it lies strictly before the sale (by occurred_at,
then position: the purchase's own touch is never before itself); its last touch is the latest one strictly
before it; NULL when there is none (the report then counts the sale for its own channel and source).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from uuid import UUID

from plumbing.eventstore.postgres import Conn

#: Re-attributes the sales whose positions the ``{targets}`` query yields.
_ATTRIBUTE = """
UPDATE analytics_sales s SET
    first_channel = CASE WHEN (f.occurred_at, f.position) < (s.occurred_at, s.position) THEN f.channel END,
    first_source = CASE WHEN (f.occurred_at, f.position) < (s.occurred_at, s.position) THEN f.source END,
    last_channel = l.channel,
    last_source = l.source
FROM ({targets}) AS target
LEFT JOIN analytics_sales x ON x.position = target.position
LEFT JOIN analytics_first_touches f ON f.customer_id = x.customer_id
LEFT JOIN LATERAL (
    SELECT t.channel, t.source FROM analytics_touches t
    WHERE t.customer_id = x.customer_id AND t.occurred_at <= x.occurred_at
      AND (t.occurred_at, t.position) < (x.occurred_at, x.position)
    ORDER BY t.occurred_at DESC, t.position DESC LIMIT 1
) l ON TRUE
WHERE s.position = target.position
"""

_OF_CUSTOMERS = "SELECT position FROM analytics_sales WHERE customer_id = ANY(%(whole)b::uuid[])"

#: New sales, and sales after the earliest new touch of each customer.
_AFTER_NEW = """
SELECT unnest(%(sales)b::bigint[]) AS position
UNION
SELECT x.position FROM unnest(%(ids)b::uuid[], %(ats)b::timestamptz[], %(positions)b::bigint[])
    AS m(customer_id, occurred_at, position)
JOIN analytics_sales x ON x.customer_id = m.customer_id AND x.occurred_at >= m.occurred_at
    AND (x.occurred_at, x.position) > (m.occurred_at, m.position)
"""


async def refresh(
    conn: Conn, touch_positions: Sequence[int], sale_positions: Sequence[int], moved: Collection[UUID]
) -> None:
    """After a batch wrote the touches and sales at these positions and merged or unmerged ``moved``."""
    whole = list(moved)
    if whole:
        await _recompute(conn, whole)
    if touch_positions:
        await _recount_days(conn, touch_positions, whole)
        earliest = await _earliest_new_touches(conn, touch_positions, whole)
        await _lower_first_touches(conn, touch_positions, whole)
        ids = list(earliest)
        await conn.execute(
            _ATTRIBUTE.format(targets=_AFTER_NEW),
            {
                "sales": list(sale_positions),
                "ids": ids,
                "ats": [earliest[c][0] for c in ids],
                "positions": [earliest[c][1] for c in ids],
            },
        )
    elif sale_positions:
        await conn.execute(
            _ATTRIBUTE.format(targets="SELECT unnest(%(sales)b::bigint[]) AS position"),
            {"sales": list(sale_positions)},
        )


async def _recompute(conn: Conn, whole: list[UUID]) -> None:
    """First touches and every sale's attribution of ``whole``, from their rows as they stand now."""
    await conn.execute("DELETE FROM analytics_first_touches WHERE customer_id = ANY(%b::uuid[])", (whole,))
    await conn.execute(
        "INSERT INTO analytics_first_touches (customer_id, occurred_at, position, channel, source)"
        " SELECT c.id, t.occurred_at, t.position, t.channel, t.source FROM unnest(%b::uuid[]) AS c(id)"
        " CROSS JOIN LATERAL (SELECT occurred_at, position, channel, source FROM analytics_touches"
        " WHERE customer_id = c.id ORDER BY occurred_at, position LIMIT 1) AS t",
        (whole,),
    )
    await conn.execute(_ATTRIBUTE.format(targets=_OF_CUSTOMERS), {"whole": whole})
    await conn.execute("DELETE FROM analytics_touch_days WHERE customer_id = ANY(%b::uuid[])", (whole,))
    await conn.execute(
        "INSERT INTO analytics_touch_days (day, customer_id, channel, source, interactions)"
        " SELECT (occurred_at AT TIME ZONE 'UTC')::date, customer_id, channel, source, count(*)"
        " FROM analytics_touches WHERE customer_id = ANY(%b::uuid[]) GROUP BY 1, 2, 3, 4",
        (whole,),
    )


async def _recount_days(conn: Conn, positions: Sequence[int], whole: list[UUID]) -> None:
    """The day counts of every (day, customer, channel, source) the batch's touches fall in, recounted
    from the touches (a replayed touch is not counted twice), one customer's day at a time."""
    await conn.execute(
        "INSERT INTO analytics_touch_days (day, customer_id, channel, source, interactions)"
        " SELECT k.day, k.customer_id, k.channel, k.source, (SELECT count(*) FROM analytics_touches t"
        "   WHERE t.customer_id = k.customer_id AND t.occurred_at >= k.day::timestamp AT TIME ZONE 'UTC'"
        "   AND t.occurred_at < (k.day + 1)::timestamp AT TIME ZONE 'UTC'"
        "   AND t.channel = k.channel AND t.source = k.source)"
        " FROM (SELECT DISTINCT (occurred_at AT TIME ZONE 'UTC')::date AS day, customer_id, channel, source"
        "   FROM analytics_touches WHERE position = ANY(%b::bigint[])"
        "   AND customer_id <> ALL(%b::uuid[])) AS k"
        " ON CONFLICT (day, customer_id, channel, source) DO UPDATE SET interactions = excluded.interactions",
        (list(positions), whole),
    )


async def _earliest_new_touches(
    conn: Conn, positions: Sequence[int], whole: list[UUID]
) -> dict[UUID, tuple[datetime, int]]:
    """Per customer (other than ``whole``), the earliest of the batch's touches, as its rows stand now."""
    cur = await conn.execute(
        "SELECT DISTINCT ON (customer_id) customer_id, occurred_at, position FROM analytics_touches"
        " WHERE position = ANY(%b::bigint[]) AND customer_id <> ALL(%b::uuid[])"
        " ORDER BY customer_id, occurred_at, position",
        (list(positions), whole),
    )
    return {row[0]: (row[1], row[2]) for row in await cur.fetchall()}


async def _lower_first_touches(conn: Conn, positions: Sequence[int], whole: list[UUID]) -> None:
    await conn.execute(
        "INSERT INTO analytics_first_touches (customer_id, occurred_at, position, channel, source)"
        " SELECT DISTINCT ON (customer_id) customer_id, occurred_at, position, channel, source"
        " FROM analytics_touches WHERE position = ANY(%b::bigint[]) AND customer_id <> ALL(%b::uuid[])"
        " ORDER BY customer_id, occurred_at, position"
        " ON CONFLICT (customer_id) DO UPDATE SET occurred_at = excluded.occurred_at,"
        " position = excluded.position, channel = excluded.channel, source = excluded.source"
        " WHERE (excluded.occurred_at, excluded.position)"
        " < (analytics_first_touches.occurred_at, analytics_first_touches.position)",
        (list(positions), whole),
    )
