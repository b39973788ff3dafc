"""The timeline writer's transaction: resolve the sender, append to its stream, index identities."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import structlog
from psycopg_pool import AsyncConnectionPool

from contracts import (
    CustomerAbsorbed,
    CustomerMergedInto,
    IdentityLinked,
    InteractionEvent,
    customer_stream,
    derived_event_id,
    stream_customer,
)
from contracts.identity_rules import DEFAULT_RULES, IdentityRules, group_of
from plumbing.eventstore import ANY, NewEvent
from plumbing.eventstore.postgres import (
    MIGRATIONS as EVENT_STORE_MIGRATIONS,
)
from plumbing.eventstore.postgres import (
    Conn,
    append_locked,
    append_streams_locked,
    lock_appends,
    stored_positions,
    translated_errors,
)
from plumbing.identity_index import holdings, index_links, index_many_links, merge_identities, owners
from plumbing.migrations import apply_migrations_async
from plumbing.separations import separated_pairs
from services.timeline.resolve import Merge, Resolution, resolve

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


async def _seniority(conn: Conn, customers: set[UUID]) -> dict[UUID, int]:
    """customer -> first position of its stream: the older customer survives a merge.

    Only a merge needs it, so with fewer than two customers nothing is read (it scans streams).
    """
    if len(customers) < 2:
        return {}
    cur = await conn.execute(
        "SELECT stream_id, min(position) FROM events WHERE stream_id = ANY(%s) GROUP BY stream_id",
        ([customer_stream(c) for c in customers],),
    )
    return {_customer(stream): first for stream, first in await cur.fetchall()}


def _derived(event: InteractionEvent, purpose: str) -> dict[str, object]:
    """Envelope fields of an event the hub derives from ``event`` (deterministic id, same times)."""
    return {
        "event_id": derived_event_id(event.event_id, purpose),
        "occurred_at": event.occurred_at,
        "received_at": event.received_at,
        "correlation_id": event.correlation_id,
    }


def _link_events(event: InteractionEvent, resolution: Resolution) -> list[NewEvent]:
    meta = {"customer_id": str(resolution.customer_id)}
    return [
        NewEvent(
            IdentityLinked(
                **IdentityLinked.type_fields(),
                **_derived(event, f"link:{identity.key}"),
                customer_id=resolution.customer_id,
                identity=identity,
                rule=rule,
                evidence_event_id=event.event_id,
            ),
            meta,
        )
        for identity, rule in resolution.links
    ]


async def _merge(conn: Conn, event: InteractionEvent, survivor: UUID, merge: Merge) -> NewEvent:
    """Close the absorbed stream with a pointer to the survivor, move its identities, and return
    the event that records the merge on the survivor's stream."""
    merged_into = CustomerMergedInto(
        **CustomerMergedInto.type_fields(),
        **_derived(event, f"merged_into:{merge.absorbed}"),
        customer_id=merge.absorbed,
        survivor_id=survivor,
        rule=merge.rule,
        evidence_event_id=event.event_id,
        shared_identities=merge.shared,
    )
    await append_locked(
        conn, customer_stream(merge.absorbed), [NewEvent(merged_into, {"customer_id": str(merge.absorbed)})]
    )
    await merge_identities(conn, merge.absorbed, survivor)
    absorbed = CustomerAbsorbed(
        **CustomerAbsorbed.type_fields(),
        **_derived(event, f"absorbed:{merge.absorbed}"),
        customer_id=survivor,
        absorbed_id=merge.absorbed,
        rule=merge.rule,
        evidence_event_id=event.event_id,
        shared_identities=merge.shared,
    )
    return NewEvent(absorbed, {"customer_id": str(survivor)})


async def _resolve(conn: Conn, event: InteractionEvent, rules: IdentityRules) -> Resolution:
    """Read what the resolver needs about the sender's identities, and let it decide."""
    identities = event.sender.identities
    known = await owners(conn, [i.key for i in identities])
    candidates = _candidates(known)
    return resolve(
        identities,
        known,
        await _seniority(conn, candidates),
        derived_event_id(event.event_id, "customer"),
        rules,
        separated=await separated_pairs(conn, candidates),
        holdings=await holdings(conn, candidates) if _needs_holdings(event, candidates, rules) else None,
    )


def _candidates(known: Mapping[str, Sequence[UUID]]) -> set[UUID]:
    return {customer for held in known.values() for customer in held}


def _resolve_from(
    event: InteractionEvent, known: Mapping[str, tuple[UUID, ...]], rules: IdentityRules
) -> Resolution | None:
    """The resolution :func:`_resolve` would reach, when the owners of the sender's identities are all
    it needs: at most one customer holds them (no seniority, separations) and no per-customer limit
    applies (no holdings). ``None`` when more must be read."""
    mine = {i.key: known[i.key] for i in event.sender.identities if i.key in known}
    candidates = _candidates(mine)
    if len(candidates) > 1 or _needs_holdings(event, candidates, rules):
        return None
    return resolve(event.sender.identities, mine, {}, derived_event_id(event.event_id, "customer"), rules)


def _needs_holdings(event: InteractionEvent, candidates: set[UUID], rules: IdentityRules) -> bool:
    """Whether a per-customer limit can matter: a merge (two candidates) or an identity of a limited
    group; otherwise the customers' identities are not read (saves a query on most events)."""
    if not candidates or not rules.limits_customers:
        return False
    identities = event.sender.identities
    return len(candidates) > 1 or any(rules.max_per_customer(group_of(i)) is not None for i in identities)


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


async def _record_locked(conn: Conn, event: InteractionEvent, rules: IdentityRules) -> Recorded:
    """Record one interaction inside a transaction that holds the append lock."""
    stored = await stored_positions(conn, [event.event_id])
    if stored:
        position, stream_id, _ = stored[event.event_id]
        return Recorded(_customer(stream_id), position, duplicate=True)
    resolution = await _resolve(conn, event, rules)
    _log_refusals(event, resolution)
    customer = resolution.customer_id
    survivor = resolution.survivor or customer
    merged = [await _merge(conn, event, survivor, merge) for merge in resolution.merges]
    if merged and survivor != customer:
        # A refused merge sent the event to a customer of higher priority: the survivor records its merges.
        await append_locked(conn, customer_stream(survivor), merged, ANY)
        merged = []
    batch = [*merged, *_link_events(event, resolution), NewEvent(event, {"customer_id": str(customer)})]
    result = await append_locked(conn, customer_stream(customer), batch, ANY)
    links = [identity for identity, _ in resolution.links]
    if links:
        await index_links(conn, customer, links, event.event_id)
    return Recorded(customer, result.last_position, duplicate=False, resolution=resolution)


class _BatchRecorder:
    """Records a batch inside one locked transaction in a few round trips instead of several per event.

    The batch's duplicates and the owners of all its senders' identities are read once. An event whose
    resolution needs nothing else (the common case: a known customer, or a new one) is decided in
    memory and its append waits, to be written with the others in one multi-stream append. An event
    that needs more (a merge, a per-customer limit) first flushes what waits, then goes the one-by-one
    way (:func:`_record_locked`), after which the owners are read again: a merge moves identities. The
    outcome is the one the one-by-one way gives for the same events in the same order.
    """

    def __init__(self, conn: Conn, events: Sequence[InteractionEvent], rules: IdentityRules) -> None:
        self.conn, self.events, self.rules = conn, events, rules
        self.keys = sorted({identity.key for event in events for identity in event.sender.identities})
        self.known: dict[str, tuple[UUID, ...]] = {}
        self.stale: set[str] = set()  # keys linked by waiting events: their owners are read again first
        self.waiting: list[tuple[int, InteractionEvent, Resolution]] = []
        self.results: list[Recorded | None] = [None] * len(events)

    async def record(self) -> list[Recorded]:
        stored = await stored_positions(self.conn, [event.event_id for event in self.events])
        self.known = await owners(self.conn, self.keys)
        first_of: dict[UUID, int] = {}
        repeats: list[tuple[int, int]] = []
        for n, event in enumerate(self.events):
            if event.event_id in stored:
                position, stream_id, _ = stored[event.event_id]
                self.results[n] = Recorded(_customer(stream_id), position, duplicate=True)
            elif event.event_id in first_of:
                repeats.append((n, first_of[event.event_id]))  # delivered twice in one batch
            else:
                first_of[event.event_id] = n
                await self._record(n, event)
        await self._flush()
        for n, first in repeats:
            original = self._result(first)
            self.results[n] = Recorded(original.customer_id, original.position, duplicate=True)
        return [self._result(n) for n in range(len(self.events))]

    def _result(self, n: int) -> Recorded:
        result = self.results[n]
        if result is None:  # every event is decided by the end of record()
            raise RuntimeError(f"event {n} of the batch was not recorded")
        return result

    async def _record(self, n: int, event: InteractionEvent) -> None:
        if self.stale.intersection(identity.key for identity in event.sender.identities):
            await self._flush()
            fresh = await owners(self.conn, sorted(self.stale))
            self.known.update(fresh)
            self.stale.clear()
        resolution = _resolve_from(event, self.known, self.rules)
        if resolution is None:
            await self._flush()
            self.results[n] = await _record_locked(self.conn, event, self.rules)
            self.known = await owners(self.conn, self.keys)
            self.stale.clear()
            return
        _log_refusals(event, resolution)
        self.waiting.append((n, event, resolution))
        self.stale.update(identity.key for identity, _ in resolution.links)

    async def _flush(self) -> None:
        """Write the waiting events: one multi-stream append, one index insert."""
        if not self.waiting:
            return
        appends = [
            (
                customer_stream(resolution.customer_id),
                [
                    *_link_events(event, resolution),
                    NewEvent(event, {"customer_id": str(resolution.customer_id)}),
                ],
            )
            for _, event, resolution in self.waiting
        ]
        appended = await append_streams_locked(self.conn, appends)
        await index_many_links(
            self.conn,
            [
                (resolution.customer_id, [identity for identity, _ in resolution.links], event.event_id)
                for _, event, resolution in self.waiting
            ],
        )
        for (n, _, resolution), result in zip(self.waiting, appended, strict=True):
            self.results[n] = Recorded(resolution.customer_id, result.positions[-1], False, resolution)
        self.waiting.clear()


async def record_interactions(
    pool: AsyncConnectionPool[Conn], events: Sequence[InteractionEvent], rules: IdentityRules = DEFAULT_RULES
) -> list[Recorded]:
    """Record a batch of interactions in ONE transaction, in order: all of them or none.

    For each event: resolve the sender under ``rules``, merge customers it proves to be one, and
    append, together with the identity index. So an identity never points at a customer whose events were not
    written, and a redelivered event (same ``event_id``) changes nothing. One transaction per
    batch amortises the commit (fsync) and the append lock over many events, and
    :class:`_BatchRecorder` the round trips.
    """
    async with translated_errors(), pool.connection() as conn, conn.transaction():
        await lock_appends(conn)
        return await _BatchRecorder(conn, events, rules).record()


async def record_interaction(
    pool: AsyncConnectionPool[Conn], event: InteractionEvent, rules: IdentityRules = DEFAULT_RULES
) -> Recorded:
    """:func:`record_interactions` for a single event."""
    (recorded,) = await record_interactions(pool, [event], rules)
    return recorded
