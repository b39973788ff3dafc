"""A customer's card re-folded from the log: how merges and unmerges are applied, and how ``as_of`` reads.

A card is the fold of :func:`~projections.customer_card.evolve.evolve` over the events *attributed* to
its customer up to a position, in log order:

- the events of its own stream, less those a later :class:`CustomerUnmerged` moved out, and less a
  :class:`CustomerAbsorbed` whose merge was undone;
- for each merge that stands, the attributed events of the absorbed customer up to the merge (without
  that customer's own merge markers, which describe the absorbed card, not this one);
- the events a :class:`CustomerRestored` moved in (they sit on the former survivor's stream).

Merging therefore needs no second implementation of every card field (a snapshot merge would), an
unmerge gives back exactly the cards the two customers would have without the merge, and the live
projection, a rebuild and a point-in-time read all fold the same events with the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from contracts import (
    CustomerAbsorbed,
    CustomerMergedInto,
    CustomerRestored,
    CustomerUnmerged,
    customer_stream,
)
from contracts.read.customer_card import CustomerCard
from plumbing.eventstore import RecordedEvent
from plumbing.eventstore.postgres import Conn, read_events, read_stream_until
from projections.customer_card.evolve import Fact, evolve_in_place
from projections.customer_card.facts import to_event

#: Merges nest only as deep as customers were absorbed in turn; this bounds a corrupt cycle.
MAX_MERGE_DEPTH = 64

#: Markers that describe the absorbed card itself; folded into a survivor they would mislabel it.
_ABSORBED_MARKERS = frozenset({CustomerMergedInto.EVENT_TYPE, CustomerRestored.EVENT_TYPE})


class MergeCycle(RuntimeError):
    """The log says a customer absorbed itself, directly or through others: it cannot be folded."""


@dataclass(frozen=True)
class Refolded:
    """A card and the stored events it is the fold of (in position order), for its index rows."""

    card: CustomerCard | None
    events: tuple[RecordedEvent, ...]

    @property
    def absorbed_ids(self) -> frozenset[UUID]:
        """Every customer whose events this card took in (directly or through nested merges)."""
        return frozenset(
            CustomerAbsorbed.model_validate(r.data).absorbed_id
            for r in self.events
            if r.event_type == CustomerAbsorbed.EVENT_TYPE
        )


async def attributed_events(
    conn: Conn, customer_id: UUID, until_position: int, _seen: frozenset[UUID] = frozenset()
) -> list[RecordedEvent]:
    """The events ``customer_id``'s card folds as of ``until_position``, in position order."""
    if customer_id in _seen or len(_seen) >= MAX_MERGE_DEPTH:
        raise MergeCycle(f"customer {customer_id} absorbs itself through {sorted(map(str, _seen))}")
    seen = _seen | {customer_id}
    own = await read_stream_until(conn, customer_stream(customer_id), until_position)
    undone, moved_out, moved_in = _unmerge_marks(own)
    attributed: list[RecordedEvent] = []
    for recorded in own:
        if recorded.event_id in moved_out:
            continue
        if recorded.event_type == CustomerAbsorbed.EVENT_TYPE:
            if recorded.event_id in undone:
                continue
            absorbed_id = CustomerAbsorbed.model_validate(recorded.data).absorbed_id
            nested = await attributed_events(conn, absorbed_id, recorded.position, seen)
            attributed.extend(r for r in nested if r.event_type not in _ABSORBED_MARKERS)
        attributed.append(recorded)
    if moved_in:
        moved = await read_events(conn, sorted(moved_in))
        attributed.extend(r for r in moved if r.position <= until_position)
    return sorted(attributed, key=lambda r: r.position)


def _unmerge_marks(own: Sequence[RecordedEvent]) -> tuple[set[UUID], set[UUID], set[UUID]]:
    """From a stream's unmerge markers: the merges undone, events moved out, events moved in."""
    undone: set[UUID] = set()
    moved_out: set[UUID] = set()
    moved_in: set[UUID] = set()
    for recorded in own:
        if recorded.event_type == CustomerUnmerged.EVENT_TYPE:
            unmerged = CustomerUnmerged.model_validate(recorded.data)
            undone.add(unmerged.merge_event_id)
            moved_out.update(unmerged.moved_event_ids)
        elif recorded.event_type == CustomerRestored.EVENT_TYPE:
            moved_in.update(CustomerRestored.model_validate(recorded.data).moved_event_ids)
    return undone, moved_out, moved_in


def fold(customer_id: UUID, events: Sequence[RecordedEvent]) -> CustomerCard | None:
    """The card of ``customer_id`` folded from ``events`` (already attributed and in order)."""
    card: CustomerCard | None = None
    for recorded in events:
        event = to_event(recorded)
        if event is not None:
            card, _ = evolve_in_place(card, Fact(recorded.position, customer_id, event))
    return card


async def refold(conn: Conn, customer_id: UUID, until_position: int) -> Refolded:
    """``customer_id``'s card as it stood at ``until_position``, folded from the log."""
    events = await attributed_events(conn, customer_id, until_position)
    return Refolded(fold(customer_id, events), tuple(events))
