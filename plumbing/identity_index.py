"""The write-side identity index: which customers each normalised identity belongs to.

Written only in the transaction that appends the ``customer.identity.linked`` event it mirrors
(by the timeline writer, and by staff commands), so it never points at a customer whose events
were not written; it can be rebuilt from those events. The table is created by the timeline
writer's migrations. This module is the only one that reads or writes it.

Most identities have one customer. A weak identity (a kind the rules do not merge on, such as a
family phone) may have several: one row per (identity, customer). Which of them an event known only
by that identity goes to is the resolver's decision (``services.timeline.resolve``), not the index's.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from uuid import UUID

from contracts import Identity
from plumbing.eventstore.postgres import Conn


async def owners(conn: Conn, keys: Sequence[str]) -> dict[str, tuple[UUID, ...]]:
    """identity key -> its customers, in the order they got it, for the keys already linked."""
    cur = await conn.execute(
        "SELECT identity_key, customer_id FROM identity_index WHERE identity_key = ANY(%s)"
        " ORDER BY linked_at, customer_id",
        (list(keys),),
    )
    found: dict[str, tuple[UUID, ...]] = {}
    for key, customer in await cur.fetchall():
        found[key] = (*found.get(key, ()), customer)
    return found


async def holdings(conn: Conn, customers: Collection[UUID]) -> dict[UUID, list[str]]:
    """customer -> the identity keys it holds (for per-customer limits)."""
    cur = await conn.execute(
        "SELECT customer_id, identity_key FROM identity_index WHERE customer_id = ANY(%s)"
        " ORDER BY identity_key",
        (list(customers),),
    )
    found: dict[UUID, list[str]] = {customer: [] for customer in customers}
    for customer, key in await cur.fetchall():
        found[customer].append(key)
    return found


async def index_links(
    conn: Conn, customer_id: UUID, identities: Sequence[Identity], evidence_event_id: UUID
) -> None:
    """Point ``identities`` at ``customer_id`` (as well as at any customer holding them already);
    an identity this customer holds already is a constraint violation."""
    await index_many_links(conn, [(customer_id, identities, evidence_event_id)])


async def index_many_links(conn: Conn, linked: Sequence[tuple[UUID, Sequence[Identity], UUID]]) -> None:
    """:func:`index_links` for several ``(customer, identities, evidence event)`` at once (one batch)."""
    rows = [
        (identity.key, customer, evidence)
        for customer, identities, evidence in linked
        for identity in identities
    ]
    if not rows:
        return
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO identity_index (identity_key, customer_id, evidence_event_id) VALUES (%s, %s, %s)",
            rows,
        )


async def merge_identities(conn: Conn, absorbed: UUID, survivor: UUID) -> None:
    """A merge: every identity of ``absorbed`` is the survivor's now (held once, if both held it)."""
    await conn.execute(
        "DELETE FROM identity_index AS a WHERE a.customer_id = %(absorbed)s AND EXISTS"
        " (SELECT 1 FROM identity_index AS s WHERE s.customer_id = %(survivor)s"
        "  AND s.identity_key = a.identity_key)",
        {"absorbed": absorbed, "survivor": survivor},
    )
    await conn.execute(
        "UPDATE identity_index SET customer_id = %s WHERE customer_id = %s", (survivor, absorbed)
    )


async def return_identities(
    conn: Conn, keys: Collection[str], kept: Collection[str], survivor: UUID, restored: UUID
) -> int:
    """An unmerge: ``keys`` point at ``restored`` again; those in ``kept`` stay the survivor's too.

    Returns how many of ``keys`` the restored customer now holds that the survivor held (a
    mismatch with ``len(keys)`` means the index had drifted from the events).
    """
    cur = await conn.execute(
        "UPDATE identity_index SET customer_id = %s"
        " WHERE customer_id = %s AND identity_key = ANY(%s)"
        " AND NOT EXISTS (SELECT 1 FROM identity_index AS r WHERE r.customer_id = %s"
        "  AND r.identity_key = identity_index.identity_key)",
        (restored, survivor, [key for key in keys if key not in kept], restored),
    )
    moved = cur.rowcount
    cur = await conn.execute(
        "INSERT INTO identity_index (identity_key, customer_id, evidence_event_id)"
        " SELECT identity_key, %s, evidence_event_id FROM identity_index"
        " WHERE customer_id = %s AND identity_key = ANY(%s) ON CONFLICT DO NOTHING",
        (restored, survivor, [key for key in keys if key in kept]),
    )
    return moved + cur.rowcount


async def unindex(conn: Conn, customer_id: UUID, key: str) -> bool:
    """Remove ``key`` from ``customer_id``'s identities in the index; whether it was there."""
    cur = await conn.execute(
        "DELETE FROM identity_index WHERE customer_id = %s AND identity_key = %s", (customer_id, key)
    )
    return cur.rowcount > 0


async def holders(conn: Conn, key: str) -> set[UUID]:
    """The customers ``key`` points at in the index (none when it is unknown)."""
    cur = await conn.execute("SELECT customer_id FROM identity_index WHERE identity_key = %s", (key,))
    return {customer for (customer,) in await cur.fetchall()}


async def forget_identities(conn: Conn, customers: Collection[UUID]) -> int:
    """Erasure: ``customers`` hold no identity any more (their keys are personal data); how many rows went."""
    cur = await conn.execute("DELETE FROM identity_index WHERE customer_id = ANY(%s)", (list(customers),))
    return cur.rowcount
