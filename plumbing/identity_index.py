"""The write-side identity index: which customer each normalised identity belongs to.

Written only in the transaction that appends the ``customer.identity.linked`` event it mirrors
(by the timeline writer, and by staff commands), so it never points at a customer whose events
were not written; it can be rebuilt from those events. The table is created by the timeline
writer's migrations.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from contracts import Identity
from plumbing.eventstore.postgres import Conn


async def owners(conn: Conn, keys: Sequence[str]) -> dict[str, UUID]:
    """identity key -> customer, for the keys already linked."""
    cur = await conn.execute(
        "SELECT identity_key, customer_id FROM identity_index WHERE identity_key = ANY(%s)", (list(keys),)
    )
    return {key: customer for key, customer in await cur.fetchall()}


async def index_links(
    conn: Conn, customer_id: UUID, identities: Sequence[Identity], evidence_event_id: UUID
) -> None:
    """Point ``identities`` at ``customer_id``; a key linked already is a constraint violation."""
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO identity_index (identity_key, customer_id, evidence_event_id) VALUES (%s, %s, %s)",
            [(identity.key, customer_id, evidence_event_id) for identity in identities],
        )
