"""What a batch of import rows appends, decided in memory with the timeline writer's own resolution.

Each row is resolved as an interaction carrying its identities would be (:class:`KnownIdentities`, the
writer's batch view of the identity index, under the same identity rules): a row whose email a customer
holds adds to that customer, a row holding identities of two customers merges them (where the rules
allow), a row of unknown identities makes a new customer. Its events are what the writer would write
(merges, then ``customer.identity.linked`` per new identity) plus one ``customer.attribute.set`` per
value, all with actor ``import``. Pure: no I/O.

Idempotency: every event id is derived from the row's key (:attr:`ImportRow.key`, a keyed id of the
row's content) and a purpose, so a row whose events are stored is recognised by them
(:func:`candidate_ids`) and adds nothing when imported again.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from contracts import (
    AttributeSet,
    AttributeSource,
    CustomerAbsorbed,
    CustomerMergedInto,
    IdentityLinked,
    customer_stream,
)
from contracts.identity_rules import IdentityRules
from hub.importing.ids import absorbed_id, merged_into_id
from hub.importing.rows import BadRow, ImportRow
from plumbing.eventstore import NewEvent
from services.timeline.known import KnownIdentities, Links, Moved
from services.timeline.resolve import Merge, Resolution

#: The actor of every event an import appends (in the event where the contract has one, and the metadata).
ACTOR = "import"


@dataclass(frozen=True)
class Stamp:
    """The envelope values every event of one import run shares."""

    at: datetime
    correlation_id: str


def candidate_ids(row: ImportRow) -> tuple[UUID, ...]:
    """Ids of events the row appends whenever it appends anything, whatever the store holds: if one is
    stored, the row was imported before (a row's events are written in one transaction, all or none).
    A value is always set, so its id is enough; without values, only the links of its new identities
    were written, so any of them."""
    return row.attribute_ids[:1] or row.link_ids


def imported_before(rows: Iterable[ImportRow], stored: Iterable[UUID]) -> set[UUID]:
    """The keys of ``rows`` with an event among ``stored`` ids."""
    found = set(stored)
    return {row.key for row in rows if any(event_id in found for event_id in candidate_ids(row))}


@dataclass(frozen=True)
class MergeNote:
    """A merge a row causes: ``absorbed`` becomes part of ``survivor``, proved by identities of ``kinds``."""

    line: int
    survivor: UUID
    absorbed: UUID
    rule: str
    kinds: tuple[str, ...]


@dataclass(frozen=True)
class RefusalNote:
    """Two customers a row ties together that the rules keep apart, and why."""

    line: int
    customer: UUID
    other: UUID
    reason: str


@dataclass(frozen=True)
class RowOutcome:
    """What one row did: its customer, whether new, and how many links and values it added."""

    line: int
    customer_id: UUID
    is_new_customer: bool
    links: int
    attributes: int
    merges: int

    @property
    def changed(self) -> bool:
        return bool(self.links or self.attributes or self.merges)


@dataclass
class BatchPlan:
    """What a batch appends (in order), the index changes (in order), and what each row did."""

    appends: list[tuple[str, list[NewEvent]]] = field(default_factory=list)
    index: list[Links | Moved] = field(default_factory=list)
    outcomes: list[RowOutcome] = field(default_factory=list)
    merges: list[MergeNote] = field(default_factory=list)
    refusals: list[RefusalNote] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    bad: list[BadRow] = field(default_factory=list)
    imported_before: int = 0

    @property
    def events(self) -> int:
        return sum(len(events) for _, events in self.appends)


def _meta(customer: UUID) -> dict[str, str]:
    return {"customer_id": str(customer), "actor": ACTOR}


def _envelope(stamp: Stamp, event_id: UUID) -> dict[str, object]:
    return {
        "event_id": event_id,
        "occurred_at": stamp.at,
        "received_at": stamp.at,
        "correlation_id": stamp.correlation_id,
    }


def _link_events(row: ImportRow, resolution: Resolution, stamp: Stamp) -> list[NewEvent]:
    """Made without validation, as the writer makes its links: every value is a validated one already
    (a unit test keeps them valid as made)."""
    customer = resolution.customer_id
    ids = dict(zip(row.identities, row.link_ids, strict=True))
    return [
        NewEvent(
            IdentityLinked.model_construct(  # every field given: no default to resolve, twice as fast
                event_type="customer.identity.linked",
                schema_version=1,
                event_id=ids[identity],
                occurred_at=stamp.at,
                received_at=stamp.at,
                correlation_id=stamp.correlation_id,
                customer_id=customer,
                identity=identity,
                rule=rule,
                evidence_event_id=row.key,
                actor=ACTOR,
            ),
            _meta(customer),
        )
        for identity, rule in resolution.links
    ]


def _attribute_events(row: ImportRow, customer: UUID, stamp: Stamp) -> list[NewEvent]:
    """One value each, in normal form already (:func:`hub.importing.mapping.map_record`)."""
    return [
        NewEvent(
            AttributeSet.model_construct(
                event_type="customer.attribute.set",
                schema_version=1,
                provider=None,
                event_id=event_id,
                occurred_at=stamp.at,
                received_at=stamp.at,
                correlation_id=stamp.correlation_id,
                customer_id=customer,
                attribute=name,
                source=AttributeSource.STAFF,
                actor=ACTOR,
                source_event_id=row.key,
                value=value,
            ),
            _meta(customer),
        )
        for (name, value), event_id in zip(row.attributes, row.attribute_ids, strict=True)
    ]


def _merge_events(row: ImportRow, survivor: UUID, merge: Merge, stamp: Stamp) -> tuple[NewEvent, NewEvent]:
    """The event closing the absorbed stream, and the one recording the merge on the survivor's."""
    evidence = {
        "rule": merge.rule,
        "evidence_event_id": row.key,
        "shared_identities": merge.shared,
        "actor": ACTOR,
    }
    closing = CustomerMergedInto(
        **CustomerMergedInto.type_fields(),
        **_envelope(stamp, merged_into_id(row.key, merge.absorbed)),
        customer_id=merge.absorbed,
        survivor_id=survivor,
        **evidence,
    )
    recording = CustomerAbsorbed(
        **CustomerAbsorbed.type_fields(),
        **_envelope(stamp, absorbed_id(row.key, merge.absorbed)),
        customer_id=survivor,
        absorbed_id=merge.absorbed,
        **evidence,
    )
    return NewEvent(closing, _meta(merge.absorbed)), NewEvent(recording, _meta(survivor))


def _unusable(row: ImportRow, resolution: Resolution) -> BadRow:
    reasons = sorted({f"{s.identity.kind.value}: {s.reason}" for s in resolution.skipped})
    return BadRow(row.line, f"no identity the identity rules let match or link ({'; '.join(reasons)})")


class _Planner:
    def __init__(self, known: KnownIdentities, rules: IdentityRules, stamp: Stamp) -> None:
        self.known, self.rules, self.stamp = known, rules, stamp
        self.plan = BatchPlan()

    def add(self, row: ImportRow) -> None:
        resolution = self.known.resolve_identities(row.identities, row.key, self.rules)
        if resolution.is_new_customer and not resolution.links:
            self.plan.bad.append(_unusable(row, resolution))  # a customer nobody could ever find again
            return
        self.known.record(resolution)
        self._note(row, resolution)
        self._queue(row, resolution)

    def _note(self, row: ImportRow, resolution: Resolution) -> None:
        plan, survivor = self.plan, resolution.survivor or resolution.customer_id
        plan.merges += [
            MergeNote(row.line, survivor, m.absorbed, m.rule, tuple(sorted({i.kind.value for i in m.shared})))
            for m in resolution.merges
        ]
        plan.refusals += [RefusalNote(row.line, r.customer, r.other, r.reason) for r in resolution.refused]
        for skipped in resolution.skipped:
            reason = f"{skipped.identity.kind.value}:{skipped.reason}"
            plan.skipped[reason] = plan.skipped.get(reason, 0) + 1
        plan.outcomes.append(
            RowOutcome(
                row.line,
                resolution.customer_id,
                resolution.is_new_customer,
                len(resolution.links),
                len(row.attributes),
                len(resolution.merges),
            )
        )

    def _queue(self, row: ImportRow, resolution: Resolution) -> None:
        """In the order the timeline writer writes an interaction's resolution (``_Writes.add``)."""
        plan, stamp = self.plan, self.stamp
        customer = resolution.customer_id
        survivor = resolution.survivor or customer
        merged: list[NewEvent] = []
        for merge in resolution.merges:
            closing, recording = _merge_events(row, survivor, merge, stamp)
            plan.appends.append((customer_stream(merge.absorbed), [closing]))
            plan.index.append(Moved(merge.absorbed, survivor))
            merged.append(recording)
        if merged and survivor != customer:
            plan.appends.append((customer_stream(survivor), merged))
            merged = []
        own = [*merged, *_link_events(row, resolution, stamp), *_attribute_events(row, customer, stamp)]
        if own:
            plan.appends.append((customer_stream(customer), own))
        links = tuple(identity for identity, _ in resolution.links)
        if links:
            plan.index.append(Links(customer, links, row.key))


def plan_batch(
    rows: Sequence[ImportRow],
    before: set[UUID],
    known: KnownIdentities,
    rules: IdentityRules,
    stamp: Stamp,
) -> BatchPlan:
    """Decide ``rows`` in order on ``known`` (which each decision updates, as the store would change);
    rows whose key is in ``before`` were imported before and add nothing."""
    planner = _Planner(known, rules, stamp)
    for row in rows:
        if row.key in before:
            planner.plan.imported_before += 1
        else:
            planner.add(row)
    return planner.plan


def identity_keys(rows: Iterable[ImportRow], skip: Collection[UUID] = ()) -> list[str]:
    """The identity keys of ``rows`` (not those whose key is in ``skip``), sorted, each once."""
    return sorted({identity.key for row in rows if row.key not in skip for identity in row.identities})
