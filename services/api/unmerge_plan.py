"""What undoing a merge gives back: a pure decision over the streams involved, no I/O.

A merge leaves two facts in the store: ``customer.absorbed`` on the survivor's stream and
``customer.merged_into`` on the absorbed customer's, which ends there. From then on every event of
either person lands on the survivor's stream. Undoing the merge decides, from the streams alone:

* **returned identities**: what the absorbed customer had at the merge (its own links, the
  identities of customers it had absorbed before and not given back, minus what staff removed), plus
  the identities first linked by events that go back with it, minus those staff removed since;
* **moved events**: events appended to the survivor after the merge that belong to the absorbed
  person. An interaction goes back when every identity its sender already had (those it did not
  link itself) is on the absorbed side and none on the survivor's; the identity links it caused go
  with it, and so does any customer event naming a moved event (``*_event_id``: recordings, media,
  attributes). An interaction carrying identities of both sides (the merge's own evidence) stays.
  A staff link stays with the survivor; a staff unlink of an absorbed-side identity goes back.

An identity both customers held (a weak one, such as a family phone, which the index may give to several
customers) is on both sides: an event known only by it stays, and the restored customer gets it back
while the survivor keeps it (``kept_by_survivor``).

Sides are tracked in stream order: links caused by a staying event join the survivor's side, those
caused by a moved event the absorbed side, and customers the survivor absorbed later (with their
identities) stay with the survivor.

Known limit: events that reached the survivor through its own later merge into a third customer and
the undoing of that one sit on the third customer's stream; they are not looked at and stay.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from contracts import (
    CustomerAbsorbed,
    CustomerMergedInto,
    CustomerRestored,
    CustomerUnmerged,
    Identity,
    IdentityLinked,
    IdentityUnlinked,
    Sender,
)
from plumbing.eventstore.model import RecordedEvent

#: customer -> its whole stream, oldest first: the survivor, the absorbed customer, and every
#: customer either of them absorbed, recursively (see :func:`absorbed_customers`).
Streams = Mapping[UUID, Sequence[RecordedEvent]]

_BOOKKEEPING = frozenset(
    {
        CustomerAbsorbed.EVENT_TYPE,
        CustomerMergedInto.EVENT_TYPE,
        CustomerUnmerged.EVENT_TYPE,
        CustomerRestored.EVENT_TYPE,
        IdentityLinked.EVENT_TYPE,
        IdentityUnlinked.EVENT_TYPE,
    }
)


class CannotUnmerge(Exception):
    """The merge cannot be undone now; ``code`` is machine-readable (the HTTP shell answers 409)."""

    code = "cannot_unmerge"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NoMergeToUndo(CannotUnmerge):
    code = "merge_not_found"


class SurvivorMergedAway(CannotUnmerge):
    """The survivor was itself merged into another customer since: undo that merge first."""

    code = "customer_merged"


@dataclass(frozen=True)
class UnmergePlan:
    """What ``customer.unmerged`` / ``customer.restored`` will say; ids in the survivor's stream order."""

    merge_event_id: UUID
    returned_identities: tuple[Identity, ...]
    moved_event_ids: tuple[UUID, ...]
    #: Returned identities the survivor holds too (a weak identity both customers had): the restored
    #: customer gets them back and the survivor keeps them.
    kept_by_survivor: frozenset[str] = frozenset()


def merged_into(events: Sequence[RecordedEvent]) -> UUID | None:
    """The customer this stream's customer is merged into now, or None when it speaks for itself."""
    for event in reversed(events):
        if event.event_type == CustomerRestored.EVENT_TYPE:
            return None
        if event.event_type == CustomerMergedInto.EVENT_TYPE:
            return CustomerMergedInto.model_validate(event.data).survivor_id
    return None


def open_merge(survivor_events: Sequence[RecordedEvent], absorbed_id: UUID) -> RecordedEvent | None:
    """The latest ``customer.absorbed`` of ``absorbed_id`` on the survivor's stream not undone yet."""
    undone = {
        CustomerUnmerged.model_validate(event.data).merge_event_id
        for event in survivor_events
        if event.event_type == CustomerUnmerged.EVENT_TYPE
    }
    for event in reversed(survivor_events):
        if event.event_type == CustomerAbsorbed.EVENT_TYPE and event.event_id not in undone:
            if CustomerAbsorbed.model_validate(event.data).absorbed_id == absorbed_id:
                return event
    return None


def absorbed_customers(events: Iterable[RecordedEvent]) -> set[UUID]:
    """Every customer this stream ever absorbed (undone or not): the streams a plan may need."""
    return {
        CustomerAbsorbed.model_validate(event.data).absorbed_id
        for event in events
        if event.event_type == CustomerAbsorbed.EVENT_TYPE
    }


def _stream(streams: Streams, customer: UUID) -> Sequence[RecordedEvent]:
    try:
        return streams[customer]
    except KeyError:
        raise ValueError(f"the stream of customer {customer} was not given") from None


def _until_merged(streams: Streams, absorbed: RecordedEvent) -> tuple[UUID, Sequence[RecordedEvent]]:
    """The absorbed customer of ``absorbed`` and its stream up to (without) the matching merged_into."""
    merge = CustomerAbsorbed.model_validate(absorbed.data)
    events = _stream(streams, merge.absorbed_id)
    for index, event in enumerate(events):
        if event.event_type == CustomerMergedInto.EVENT_TYPE:
            closing = CustomerMergedInto.model_validate(event.data)
            if (
                closing.survivor_id == merge.customer_id
                and closing.evidence_event_id == merge.evidence_event_id
            ):
                return merge.absorbed_id, events[:index]
    return merge.absorbed_id, events


def identities_of(
    streams: Streams, events: Sequence[RecordedEvent], seen: frozenset[UUID]
) -> dict[str, Identity]:
    """key -> identity of the customer whose stream (or stream prefix) ``events`` is, by folding it:
    links add, unlinks remove, an absorbed customer adds what it had at its merge, an undone merge
    removes what went back, and a restore resets to what came back."""
    held: dict[str, Identity] = {}
    for event in events:
        kind = event.event_type
        if kind == IdentityLinked.EVENT_TYPE:
            identity = IdentityLinked.model_validate(event.data).identity
            held[identity.key] = identity
        elif kind == IdentityUnlinked.EVENT_TYPE:
            held.pop(IdentityUnlinked.model_validate(event.data).identity.key, None)
        elif kind == CustomerAbsorbed.EVENT_TYPE:
            absorbed, prefix = _until_merged(streams, event)
            if absorbed not in seen:  # a cycle would be a corrupt store; never fold forever
                held.update(identities_of(streams, prefix, seen | {absorbed}))
        elif kind == CustomerUnmerged.EVENT_TYPE:
            for identity in CustomerUnmerged.model_validate(event.data).returned_identities:
                held.pop(identity.key, None)
        elif kind == CustomerRestored.EVENT_TYPE:
            returned = CustomerRestored.model_validate(event.data).returned_identities
            held = {identity.key: identity for identity in returned}
    return held


def _sender_keys(data: Mapping[str, Any]) -> set[str] | None:
    """The keys of an interaction's sender; None for an event that is not an interaction."""
    if "sender" not in data:
        return None
    return {identity.key for identity in Sender.model_validate(data["sender"]).identities}


def _references(data: Mapping[str, Any]) -> set[UUID]:
    """The events a customer event names (``call_event_id``, ``message_event_id``, ``source_event_id``...)."""
    found: set[UUID] = set()
    for name, value in data.items():
        if name.endswith("_event_id") and isinstance(value, str):
            try:
                found.add(UUID(value))
            except ValueError:
                continue
    return found


@dataclass
class _Sides:
    """Identities of each side while walking the survivor's stream after the merge."""

    absorbed: dict[str, Identity]
    survivor: dict[str, Identity]
    moved: set[UUID]

    def belongs_to_absorbed(self, known: set[str]) -> bool:
        return bool(known) and known <= self.absorbed.keys() and not known & self.survivor.keys()


def _links_by_evidence(events: Sequence[RecordedEvent]) -> dict[UUID, list[RecordedEvent]]:
    """Identity links caused by another event (not staff links, whose evidence is themselves)."""
    caused: dict[UUID, list[RecordedEvent]] = {}
    for event in events:
        if event.event_type == IdentityLinked.EVENT_TYPE:
            evidence = IdentityLinked.model_validate(event.data).evidence_event_id
            if evidence != event.event_id:
                caused.setdefault(evidence, []).append(event)
    return caused


def _walk(streams: Streams, after: Sequence[RecordedEvent], sides: _Sides) -> None:
    """Decide every event after the merge, in stream order (links are decided with their cause)."""
    caused = _links_by_evidence(after)
    interactions = {event.event_id for event in after if _sender_keys(event.data) is not None}
    for event in after:
        data, kind = event.data, event.event_type
        keys = _sender_keys(data)
        if keys is not None:
            links = caused.get(event.event_id, [])
            linked = {IdentityLinked.model_validate(link.data).identity for link in links}
            back = sides.belongs_to_absorbed(keys - {identity.key for identity in linked})
            side = sides.absorbed if back else sides.survivor
            side.update({identity.key: identity for identity in linked})
            if back:
                sides.moved.update({event.event_id, *(link.event_id for link in links)})
        elif kind == IdentityLinked.EVENT_TYPE:
            link = IdentityLinked.model_validate(data)
            if link.evidence_event_id in interactions:
                continue  # decided with the interaction that caused it, which follows it
            back = link.evidence_event_id in sides.moved
            (sides.absorbed if back else sides.survivor)[link.identity.key] = link.identity
            if back:
                sides.moved.add(event.event_id)
        elif kind == IdentityUnlinked.EVENT_TYPE:
            key = IdentityUnlinked.model_validate(data).identity.key
            if key in sides.absorbed and key not in sides.survivor:
                sides.moved.add(event.event_id)
            sides.absorbed.pop(key, None)  # removed from the merged customer: from both of its sides
            sides.survivor.pop(key, None)
        elif kind == CustomerAbsorbed.EVENT_TYPE:
            absorbed, prefix = _until_merged(streams, event)
            sides.survivor.update(identities_of(streams, prefix, frozenset({absorbed})))
        elif kind == CustomerUnmerged.EVENT_TYPE:
            for identity in CustomerUnmerged.model_validate(data).returned_identities:
                sides.survivor.pop(identity.key, None)
        elif kind not in _BOOKKEEPING and _references(data) & sides.moved:
            sides.moved.add(event.event_id)
    _follow_references(after, sides)


def _follow_references(after: Sequence[RecordedEvent], sides: _Sides) -> None:
    """Customer events naming a moved event that comes later in the stream go back too."""
    changed = True
    while changed:
        changed = False
        for event in after:
            if event.event_id in sides.moved or event.event_type in _BOOKKEEPING:
                continue
            if _sender_keys(event.data) is None and _references(event.data) & sides.moved:
                sides.moved.add(event.event_id)
                changed = True


def plan_unmerge(survivor_id: UUID, absorbed_id: UUID, streams: Streams) -> UnmergePlan:
    """Decide what undoing the open merge of ``absorbed_id`` into ``survivor_id`` gives back.

    Raises :class:`SurvivorMergedAway` when the survivor is merged into another customer now, and
    :class:`NoMergeToUndo` when there is no merge of the two that is not undone yet.
    """
    survivor_events = _stream(streams, survivor_id)
    elsewhere = merged_into(survivor_events)
    if elsewhere is not None:
        raise SurvivorMergedAway(
            f"customer {survivor_id} was merged into {elsewhere} since; undo that merge first"
        )
    merge = open_merge(survivor_events, absorbed_id)
    if merge is None:
        raise NoMergeToUndo(f"customer {absorbed_id} is not merged into {survivor_id} (or it was undone)")
    _, absorbed_prefix = _until_merged(streams, merge)
    before = [event for event in survivor_events if event.stream_version < merge.stream_version]
    after = [event for event in survivor_events if event.stream_version > merge.stream_version]
    sides = _Sides(
        absorbed=identities_of(streams, absorbed_prefix, frozenset({absorbed_id})),
        survivor=identities_of(streams, before, frozenset({survivor_id})),
        moved=set(),
    )
    _walk(streams, after, sides)
    return UnmergePlan(
        merge_event_id=merge.event_id,
        returned_identities=tuple(sorted(sides.absorbed.values(), key=lambda identity: identity.key)),
        moved_event_ids=tuple(event.event_id for event in after if event.event_id in sides.moved),
        kept_by_survivor=frozenset(sides.absorbed.keys() & sides.survivor.keys()),
    )
