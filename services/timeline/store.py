"""The timeline writer's transaction: resolve the sender, append to its stream, index identities."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

import structlog
from psycopg_pool import AsyncConnectionPool

from contracts import (
    CustomerAbsorbed,
    CustomerMergedInto,
    Identity,
    IdentityLinked,
    InteractionEvent,
    customer_stream,
    derived_event_id,
    stream_customer,
)
from contracts.identity_rules import DEFAULT_RULES, IdentityRules
from plumbing.eventstore import AppendResult, NewEvent
from plumbing.eventstore.postgres import (
    MIGRATIONS as EVENT_STORE_MIGRATIONS,
)
from plumbing.eventstore.postgres import (
    Conn,
    append_streams_locked,
    lock_appends,
    stored_positions,
    translated_errors,
)
from plumbing.identity_index import identity_facts, index_many_links, merge_identities
from plumbing.migrations import apply_migrations_async
from services.timeline.known import KnownIdentities, Links, Moved
from services.timeline.resolve import Merge, Resolution

MIGRATIONS = Path(__file__).parent / "migrations"

log = structlog.get_logger()


@dataclass(frozen=True)
class Recorded:
    """The outcome of recording one interaction; ``duplicate`` when it was stored before."""

    customer_id: UUID | None
    position: int
    duplicate: bool
    resolution: Resolution | None = None


async def migrate(dsn: str) -> None:
    """Event store tables plus the identity index."""
    await apply_migrations_async(dsn, EVENT_STORE_MIGRATIONS, MIGRATIONS)


def _customer(stream_id: str) -> UUID:
    customer = stream_customer(stream_id)
    if customer is None:  # the writer only ever appends to customer streams
        raise ValueError(f"{stream_id!r} is not a customer stream")
    return customer


def _derived(event: InteractionEvent, purpose: str) -> dict[str, object]:
    """Envelope fields of an event the hub derives from ``event`` (deterministic id, same times)."""
    return {
        "event_id": derived_event_id(event.event_id, purpose),
        "occurred_at": event.occurred_at,
        "received_at": event.received_at,
        "correlation_id": event.correlation_id,
    }


def _link_events(
    event: InteractionEvent, resolution: Resolution, meta: dict[str, str] | None = None
) -> list[NewEvent]:
    """The links of a resolution, as events. Made without validation (``model_construct``, whose every
    field mypy checks: a link per new identity is the writer's most frequent event after the interaction
    itself), since every value is a validated one already; a unit test keeps them valid as made.
    ``meta``: the customer's store metadata, when the caller has it already (shared, never changed)."""
    customer = resolution.customer_id
    if meta is None:
        meta = {"customer_id": str(customer)}
    return [
        NewEvent(
            IdentityLinked.model_construct(
                event_id=derived_event_id(event.event_id, f"link:{identity.key}"),
                occurred_at=event.occurred_at,
                received_at=event.received_at,
                correlation_id=event.correlation_id,
                customer_id=customer,
                identity=identity,
                rule=rule,
                evidence_event_id=event.event_id,
            ),
            meta,
        )
        for identity, rule in resolution.links
    ]


def _merge_events(event: InteractionEvent, survivor: UUID, merge: Merge) -> tuple[NewEvent, NewEvent]:
    """The event that closes the absorbed stream with a pointer to the survivor, and the one that records
    the merge on the survivor's stream."""
    evidence = {"rule": merge.rule, "evidence_event_id": event.event_id, "shared_identities": merge.shared}
    merged_into = CustomerMergedInto(
        **CustomerMergedInto.type_fields(),
        **_derived(event, f"merged_into:{merge.absorbed}"),
        customer_id=merge.absorbed,
        survivor_id=survivor,
        **evidence,
    )
    absorbed = CustomerAbsorbed(
        **CustomerAbsorbed.type_fields(),
        **_derived(event, f"absorbed:{merge.absorbed}"),
        customer_id=survivor,
        absorbed_id=merge.absorbed,
        **evidence,
    )
    return (
        NewEvent(merged_into, {"customer_id": str(merge.absorbed)}),
        NewEvent(absorbed, {"customer_id": str(survivor)}),
    )


def _log_refusals(event: InteractionEvent, resolution: Resolution) -> None:
    """Say why customers an event tied together stay apart: identity kinds only, never values."""
    for refused in resolution.refused:
        log.warning(
            "merge_refused",
            event_id=str(event.event_id),
            customer_id=str(refused.customer),
            other_customer_id=str(refused.other),
            reason=refused.reason,
            kinds=sorted({str(identity.kind) for identity in refused.identities}),
        )
    if resolution.skipped:
        log.info(
            "identities_skipped",
            event_id=str(event.event_id),
            customer_id=str(resolution.customer_id),
            reasons=sorted({f"{skipped.identity.kind}:{skipped.reason}" for skipped in resolution.skipped}),
        )


async def write_batch(
    conn: Conn, appends: Sequence[tuple[str, Sequence[NewEvent]]], index: Sequence[Links | Moved]
) -> list[AppendResult]:
    """A batch's appends in one multi-stream append, then its index changes in order (consecutive links
    in one statement per table). The writer's and ``hub import customers``' one way to write a batch."""
    appended = await append_streams_locked(conn, appends) if appends else []
    links: list[tuple[UUID, Sequence[Identity], UUID]] = []
    for change in index:
        if isinstance(change, Links):
            links.append((change.customer, change.identities, change.evidence_event_id))
            continue
        await index_many_links(conn, links)
        links = []
        await merge_identities(conn, change.absorbed, change.survivor)
    await index_many_links(conn, links)
    return appended


@dataclass
class _Writes:
    """What a batch writes, in the order the one-at-a-time writer would write it."""

    appends: list[tuple[str, list[NewEvent]]] = field(default_factory=list)
    index: list[Links | Moved] = field(default_factory=list)
    #: customer -> (its stream, its store metadata): made once per customer of the batch, not per event
    #: (the metadata dict is shared by its events; the store copies it before adding to it).
    _of: dict[UUID, tuple[str, dict[str, str]]] = field(default_factory=dict)

    def _customer(self, customer: UUID) -> tuple[str, dict[str, str]]:
        made = self._of.get(customer)
        if made is None:
            made = self._of[customer] = (customer_stream(customer), {"customer_id": str(customer)})
        return made

    def add(self, event: InteractionEvent, resolution: Resolution) -> int:
        """Queue what recording ``event`` writes; returns which append ends with the event itself.

        Each merge closes the absorbed stream and moves its identities; the survivor records the merges
        (on its own stream first when a refused merge sent the event to another customer); the event's
        customer gets them, the new links and the event."""
        customer = resolution.customer_id
        survivor = resolution.survivor or customer
        merged: list[NewEvent] = []
        for merge in resolution.merges:
            closing, recording = _merge_events(event, survivor, merge)
            self.appends.append((customer_stream(merge.absorbed), [closing]))
            self.index.append(Moved(merge.absorbed, survivor))
            merged.append(recording)
        if merged and survivor != customer:
            self.appends.append((customer_stream(survivor), merged))
            merged = []
        stream, meta = self._customer(customer)
        if not (merged or resolution.new_links or resolution.shared_links):  # most events of a busy store
            self.appends.append((stream, [NewEvent(event, meta)]))
            return len(self.appends) - 1
        own = [*merged, *_link_events(event, resolution, meta), NewEvent(event, meta)]
        self.appends.append((stream, own))
        links = tuple(identity for identity, _ in resolution.links)
        if links:
            self.index.append(Links(customer, links, event.event_id))
        return len(self.appends) - 1

    async def write(self, conn: Conn) -> list[AppendResult]:
        return await write_batch(conn, self.appends, self.index)


async def read_known(conn: Conn, keys: Sequence[str], rules: IdentityRules) -> KnownIdentities:
    """The identity facts of a batch: the owners of its identities, and about those customers their
    first positions, separations and (when the rules limit anything per customer) person identities,
    in one statement (:func:`plumbing.identity_index.identity_facts`)."""
    facts = await identity_facts(conn, keys, rules.limits_customers)
    return KnownIdentities.read(facts.owners, facts.first_positions, facts.separated, facts.holdings)


class _BatchRecorder:
    """Records a batch inside one locked transaction in a few statements, however many events.

    The batch's duplicates and every identity fact its events need are read once (:func:`read_known`).
    Each event is then decided in memory, in order, on those facts as the events before it changed them
    (:class:`KnownIdentities`), and everything is written at the end: one multi-stream append, the index
    changes in order. The outcome is the one recording the same events one at a time gives.
    """

    def __init__(self, conn: Conn, events: Sequence[InteractionEvent], rules: IdentityRules) -> None:
        self.conn, self.events, self.rules = conn, events, rules

    async def record(self) -> list[Recorded]:
        events = self.events
        stored = await stored_positions(self.conn, [event.event_id for event in events])
        fresh: dict[UUID, InteractionEvent] = {}  # batch order; a repeat inside the batch counts once
        for event in events:
            if event.event_id not in stored:
                fresh.setdefault(event.event_id, event)
        keys = sorted({identity.key for event in fresh.values() for identity in event.sender.identities})
        nothing = KnownIdentities.read({}, {}, set(), None)
        known = await read_known(self.conn, keys, self.rules) if fresh else nothing
        writes = _Writes()
        decided: dict[UUID, tuple[Resolution, int]] = {}
        for event_id, event in fresh.items():
            resolution = known.resolve(event, self.rules)
            _log_refusals(event, resolution)
            known.record(resolution)
            decided[event_id] = (resolution, writes.add(event, resolution))
        appended = await writes.write(self.conn)
        results: list[Recorded] = []
        first: set[UUID] = set()
        for event in events:
            if event.event_id in stored:
                position, stream_id, _ = stored[event.event_id]
                results.append(Recorded(_customer(stream_id), position, duplicate=True))
                continue
            resolution, append = decided[event.event_id]
            position = appended[append].positions[-1]
            repeat = event.event_id in first  # delivered twice in one batch: the second is a duplicate
            first.add(event.event_id)
            results.append(Recorded(resolution.customer_id, position, repeat, None if repeat else resolution))
        return results


async def record_interactions(
    pool: AsyncConnectionPool[Conn], events: Sequence[InteractionEvent], rules: IdentityRules = DEFAULT_RULES
) -> list[Recorded]:
    """Record a batch of interactions in ONE transaction, in order: all of them or none.

    For each event: resolve the sender under ``rules``, merge customers it proves to be one, and
    append, together with the identity index. So an identity never points at a customer whose events were not
    written, and a redelivered event (same ``event_id``) changes nothing. One transaction per
    batch amortises the commit (fsync) and the append lock over many events, :class:`_BatchRecorder`
    the statements, and pipeline mode the round trips: what needs no answer (the lock, the index changes,
    the notification, the commit) is sent along with the next statement that does.
    """
    async with translated_errors(), pool.connection() as conn, conn.pipeline(), conn.transaction():
        await lock_appends(conn)
        return await _BatchRecorder(conn, events, rules).record()


async def record_interaction(
    pool: AsyncConnectionPool[Conn], event: InteractionEvent, rules: IdentityRules = DEFAULT_RULES
) -> Recorded:
    """:func:`record_interactions` for a single event."""
    (recorded,) = await record_interactions(pool, [event], rules)
    return recorded
