"""The purchase rule as a process: follows the global log like a projection and closes deals as won.

It runs under :func:`plumbing.projection.follow`, so its state (which deals each customer has open)
and its checkpoint commit in one transaction. When a purchase makes a deal eligible, it takes the
event store's append lock in that same transaction, reads the deal's stream, and appends ``DealWon``
with the version it read: the deal's current state decides (a deal a person closed meanwhile stays
as they left it), and the append, the state and the checkpoint commit together, exactly once. The
event id derives from the purchase, so even a replay from an older checkpoint appends nothing twice.

Merges are followed as a map (``autoclose_merges``: absorbed -> survivor), not by rewriting candidates:
a deal keeps the customer it was opened for, and a purchase considers the open deals of the buyer and
of every customer merged into them, directly or through a chain. So a deal opened on a customer id
that was merged away before (or after) the deal was opened is found, and an undone merge
(``CustomerUnmerged``) gives the restored customer its deals back by deleting one row.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import structlog

from contracts import (
    CustomerAbsorbed,
    CustomerUnmerged,
    DealAmountChanged,
    DealEvent,
    DealLost,
    DealOpened,
    DealReopened,
    DealWon,
    Envelope,
    PurchaseRecorded,
    UnknownEventType,
    deal_stream,
    event_types_of,
    parse_event,
    stream_customer,
)
from contracts.base import STORED
from contracts.sales_config import PipelinesConfig
from plumbing.eventstore import Interest, NewEvent, RecordedEvent, stream_category
from plumbing.eventstore.postgres import Conn, append_locked, lock_appends, read_stream
from projections.pipeline.autoclose_rule import ACTOR, Candidate, close_as_won, eligible
from projections.pipeline.evolve import fold, to_fact

NAME = "deal_autoclose"
log = structlog.get_logger()


async def _track(conn: Conn, position: int, event: DealEvent) -> None:
    """Keep the candidates table in step with the deal's life."""
    if isinstance(event, DealOpened):
        await conn.execute(
            "INSERT INTO autoclose_candidates"
            " (deal_id, customer_id, pipeline_id, currency, amount, opened_position, open)"
            " VALUES (%s, %s, %s, %s, %s, %s, true) ON CONFLICT (deal_id) DO NOTHING",
            (
                event.deal_id,
                event.customer_id,
                event.pipeline_id,
                event.amount.currency,
                event.amount.amount,
                position,
            ),
        )
    elif isinstance(event, DealAmountChanged):
        await conn.execute(
            "UPDATE autoclose_candidates SET currency = %s, amount = %s WHERE deal_id = %s",
            (event.amount.currency, event.amount.amount, event.deal_id),
        )
    elif isinstance(event, DealWon | DealLost | DealReopened):
        opened = isinstance(event, DealReopened)
        await conn.execute(
            "UPDATE autoclose_candidates SET open = %s WHERE deal_id = %s", (opened, event.deal_id)
        )


async def _follow_merge(conn: Conn, event: CustomerAbsorbed | CustomerUnmerged) -> None:
    """Record a merge (absorbed -> survivor) or forget an undone one."""
    if isinstance(event, CustomerAbsorbed):
        await conn.execute(
            "INSERT INTO autoclose_merges (absorbed_id, survivor_id) VALUES (%s, %s)"
            " ON CONFLICT (absorbed_id) DO UPDATE SET survivor_id = excluded.survivor_id",
            (event.absorbed_id, event.customer_id),
        )
    else:
        await conn.execute(
            "DELETE FROM autoclose_merges WHERE absorbed_id = %s AND survivor_id = %s",
            (event.restored_id, event.customer_id),
        )


_CANDIDATES = """
WITH RECURSIVE speaks_for(customer_id) AS (
    SELECT %(customer)s::uuid
    UNION
    SELECT m.absorbed_id FROM autoclose_merges m JOIN speaks_for s ON m.survivor_id = s.customer_id
)
SELECT deal_id, pipeline_id, currency, amount, opened_position FROM autoclose_candidates
 WHERE customer_id IN (SELECT customer_id FROM speaks_for) AND open
"""


async def _candidates(conn: Conn, customer_id: UUID) -> list[Candidate]:
    """Open deals of ``customer_id`` and of every customer merged into it (``UNION`` ends any cycle)."""
    cur = await conn.execute(_CANDIDATES, {"customer": customer_id})
    return [Candidate(*row) for row in await cur.fetchall()]


class AutoCloseOnPurchase:
    """Closes a customer's open deal as won when they buy (see :mod:`autoclose_rule` for which deal)."""

    name = NAME
    #: Deals, the merges that move them between customers, and purchases.
    interest = Interest(
        categories=frozenset({"deal"}),
        event_types=event_types_of(CustomerAbsorbed, CustomerUnmerged, PurchaseRecorded),
    )

    def __init__(self, pipelines: PipelinesConfig) -> None:
        self.pipelines = pipelines

    async def apply(self, conn: Conn, events: Sequence[RecordedEvent]) -> None:
        for recorded in events:
            event = _parse(recorded)
            if isinstance(event, DealEvent):
                await _track(conn, recorded.position, event)
            elif isinstance(event, CustomerAbsorbed | CustomerUnmerged):
                await _follow_merge(conn, event)
            elif isinstance(event, PurchaseRecorded):
                customer_id = stream_customer(recorded.stream_id)
                if customer_id is not None:
                    await self._close(conn, customer_id, event)

    async def _close(self, conn: Conn, customer_id: UUID, purchase: PurchaseRecorded) -> None:
        found = eligible(await _candidates(conn, customer_id), purchase, self.pipelines)
        if not found:
            return
        await lock_appends(conn)  # from here the deal streams cannot change under us
        for candidate in found:
            stream = deal_stream(candidate.deal_id)
            facts = [fact for fact in map(to_fact, await read_stream(conn, stream)) if fact is not None]
            deal = fold({}, facts).get(candidate.deal_id)
            won = close_as_won(deal, purchase, self.pipelines) if deal is not None else None
            if deal is None or won is None:
                continue
            meta = {"actor": ACTOR, "customer_id": str(customer_id), "cause_event_id": str(purchase.event_id)}
            result = await append_locked(conn, stream, [NewEvent(won, meta)], deal.version)
            await conn.execute(
                "UPDATE autoclose_candidates SET open = false WHERE deal_id = %s", (deal.deal_id,)
            )
            log.info(
                "deal_closed_by_purchase",
                deal_id=str(deal.deal_id),
                customer_id=str(customer_id),
                event_id=str(won.event_id),
                purchase_event_id=str(purchase.event_id),
                position=result.last_position,
                already_stored=result.already_stored,
            )
            return


def _parse(recorded: RecordedEvent) -> Envelope | None:
    """Only deal and customer streams matter here; anything unknown is skipped."""
    if stream_category(recorded.stream_id) not in {"deal", "customer"}:
        return None
    try:
        return parse_event(recorded.data, STORED)
    except UnknownEventType:
        return None
