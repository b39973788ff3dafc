"""The identity facts the timeline writer once read one statement each: the reference that
:func:`plumbing.identity_index.identity_facts`, which reads them all in one statement, is checked against."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from uuid import UUID

from plumbing.eventstore.postgres import Conn


async def first_positions(conn: Conn, streams: Sequence[str]) -> dict[str, int]:
    """stream -> the position of its first event, for the streams that exist: one index lookup per
    stream (versions and positions grow together under the append lock), however long the stream."""
    cur = await conn.execute(
        "SELECT stream_id, position FROM events WHERE stream_id = ANY(%b::text[]) AND stream_version = 0",
        (sorted(set(streams)),),
    )
    return {stream: position for stream, position in await cur.fetchall()}


async def separated_pairs(conn: Conn, customers: Collection[UUID]) -> set[frozenset[UUID]]:
    """The separated pairs among ``customers`` (both members in the collection); empty for fewer than two."""
    if len(set(customers)) < 2:
        return set()
    ids = list(set(customers))
    cur = await conn.execute(
        "SELECT customer_a, customer_b FROM customer_separations"
        " WHERE customer_a = ANY(%(ids)b::uuid[]) AND customer_b = ANY(%(ids)b::uuid[])",
        {"ids": ids},
    )
    return {frozenset((a, b)) for a, b in await cur.fetchall()}


async def holdings(conn: Conn, customers: Collection[UUID]) -> dict[UUID, list[str]]:
    """customer -> the person identity keys it holds (for per-customer limits, which never count
    transaction references: see :meth:`contracts.identity_rules.IdentityRules.max_per_customer`)."""
    cur = await conn.execute(
        "SELECT customer_id, identity_key FROM identity_index WHERE customer_id = ANY(%b::uuid[])"
        " ORDER BY identity_key",
        (list(customers),),
    )
    found: dict[UUID, list[str]] = {customer: [] for customer in customers}
    for customer, key in await cur.fetchall():
        found[customer].append(key)
    return found
