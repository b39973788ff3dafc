"""The customer card as it stood at a past store position or moment, for auditors.

Computed by the same fold as the live projection (:mod:`projections.customer_card.refold`) over the
log up to that point, never by a second implementation, so it can be checked against snapshots the
live read model served at the time.
"""

from __future__ import annotations

from uuid import UUID

from contracts.read.customer_card import CustomerCard
from plumbing.eventstore.postgres import Conn
from projections.customer_card.refold import MAX_MERGE_DEPTH, MergeCycle, refold


async def card_as_of(conn: Conn, customer_id: UUID, position: int) -> CustomerCard | None:
    """The card that spoke for ``customer_id`` at ``position``: its own, or its survivor's if it had
    been merged away by then; None when the customer had no events yet."""
    seen: set[UUID] = set()
    current = customer_id
    while len(seen) < MAX_MERGE_DEPTH:
        seen.add(current)
        card = (await refold(conn, current, position)).card
        if card is None or card.merged_into is None:
            return card
        if card.merged_into in seen:
            break
        current = card.merged_into
    raise MergeCycle(f"merges of {customer_id} loop or nest deeper than {MAX_MERGE_DEPTH}")
