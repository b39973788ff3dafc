"""The analytics projection: fact rows, reply times, deals, tasks and versioned customer traits.

One batch is applied in one transaction with its checkpoint (see :mod:`plumbing.projection`). Merges
move an absorbed customer's rows to the survivor (and later rows of the absorbed id are written for the
survivor through ``analytics_aliases``); an unmerge moves back the rows whose stream (or, for deals and
tasks, whose ``customer_id`` when created) was the restored customer's, the events the unmerge names, and
the replies whose reply went back with them. Traits are then recomputed whole for every customer the
batch touched and stored as a new version from the batch's event time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from contracts import CustomerAbsorbed, CustomerUnmerged, DealEvent, DealOpened
from contracts.read.analytics import CustomerTraits
from contracts.sales_tasks import TaskCreated, TaskEvent
from plumbing.eventstore import RecordedEvent
from plumbing.eventstore.postgres import Conn
from plumbing.projection import MIGRATIONS as CHECKPOINT_MIGRATIONS
from plumbing.sql_rows import columns
from projections.analytics import journeys, rows
from projections.analytics.facts import (
    DealRow,
    Fact,
    Response,
    Sale,
    TaskRow,
    Thread,
    Touch,
    evolve_deal,
    evolve_task,
    is_conversation,
    read_facts,
    sale_of,
    step_thread,
    touch_of,
)
from projections.analytics.traits import step_traits, traits_of

MIGRATIONS = (CHECKPOINT_MIGRATIONS, Path(__file__).parent / "migrations")
NAME = "analytics"
_MOVABLE = (
    "analytics_touches",
    "analytics_sales",
    "analytics_deals",
    "analytics_tasks",
    "analytics_responses",
)


@dataclass
class _Batch:
    """What one batch changes, gathered before it is written."""

    touches: list[Touch] = field(default_factory=list)
    sales: list[Sale] = field(default_factory=list)
    origin: dict[int, UUID] = field(default_factory=dict)


async def _aliases(conn: Conn, ids: Iterable[UUID]) -> dict[UUID, UUID]:
    cur = await conn.execute(
        "SELECT customer_id, survivor_id FROM analytics_aliases WHERE customer_id = ANY(%b::uuid[])",
        (list(ids),),
    )
    return {row[0]: row[1] for row in await cur.fetchall()}


def _gather(facts: Sequence[Fact], aliases: dict[UUID, UUID]) -> _Batch:
    batch = _Batch()
    for fact in facts:
        touch, sale = touch_of(fact), sale_of(fact)
        if touch is not None:
            owner = aliases.get(touch.customer_id)
            batch.origin[touch.position] = touch.customer_id
            batch.touches.append(touch if owner is None else replace(touch, customer_id=owner))
        if sale is not None:
            owner = aliases.get(sale.customer_id)
            batch.origin[sale.position] = sale.customer_id
            batch.sales.append(sale if owner is None else replace(sale, customer_id=owner))
    return batch


async def _replies(conn: Conn, touches: Sequence[Touch]) -> None:
    talk = [t for t in touches if is_conversation(t)]
    threads = await rows.load_threads(conn, {(t.customer_id, t.channel) for t in talk})
    changed: dict[tuple[UUID, str], Thread] = {}
    responses: list[Response] = []
    for touch in talk:
        key = (touch.customer_id, touch.channel)
        thread, response = step_thread(threads.get(key), touch)
        threads[key] = changed[key] = thread
        if response is not None:
            responses.append(response)
    await rows.save_threads(conn, changed.values(), responses)


async def _deals_and_tasks(conn: Conn, facts: Sequence[Fact], aliases: dict[UUID, UUID]) -> None:
    deal_ids = {f.event.deal_id for f in facts if isinstance(f.event, DealEvent)}
    deals: dict[UUID, DealRow | None] = dict(await rows.load_deals(conn, deal_ids))
    task_ids = {f.event.task_id for f in facts if isinstance(f.event, TaskEvent)}
    tasks: dict[UUID, TaskRow | None] = dict(await rows.load_tasks(conn, task_ids))
    changed_deals: dict[UUID, DealRow] = {}
    changed_tasks: dict[UUID, TaskRow] = {}
    origin: dict[UUID, UUID] = {}
    task_origin: dict[UUID, UUID | None] = {}
    for fact in facts:
        if isinstance(fact.event, DealEvent):
            key = fact.event.deal_id
            deal = evolve_deal(deals.get(key), fact.position, fact.event)
            if deal is not None and deal is not deals.get(key):
                origin.setdefault(key, deal.customer_id)
                deal = replace(deal, customer_id=aliases.get(deal.customer_id, deal.customer_id))
                deals[key] = changed_deals[key] = deal
        elif isinstance(fact.event, TaskEvent):
            key = fact.event.task_id
            task = evolve_task(tasks.get(key), fact.position, fact.event)
            if task is not None and task is not tasks.get(key):
                owner = task.customer_id
                task_origin.setdefault(key, owner)
                task = replace(task, customer_id=aliases.get(owner, owner) if owner else None)
                tasks[key] = changed_tasks[key] = task
    if changed_deals:
        await rows.save_deals(conn, list(changed_deals.values()), origin)
    if changed_tasks:
        await rows.save_tasks(conn, list(changed_tasks.values()), task_origin)


async def _merge(conn: Conn, absorbed: UUID, survivor: UUID) -> None:
    await conn.execute(
        "INSERT INTO analytics_aliases (customer_id, survivor_id) VALUES (%s, %s)"
        " ON CONFLICT (customer_id) DO UPDATE SET survivor_id = excluded.survivor_id",
        (absorbed, survivor),
    )
    await conn.execute(
        "UPDATE analytics_aliases SET survivor_id = %s WHERE survivor_id = %s", (survivor, absorbed)
    )
    for table in _MOVABLE:
        await conn.execute(
            f"UPDATE {table} SET customer_id = %s WHERE customer_id = %s",  # noqa: S608 - constant names
            (survivor, absorbed),
        )


async def _unmerge(conn: Conn, survivor: UUID, event: CustomerUnmerged) -> None:
    restored, moved = event.restored_id, list(event.moved_event_ids)
    await conn.execute("DELETE FROM analytics_aliases WHERE customer_id = %s", (restored,))
    for table in ("analytics_touches", "analytics_sales"):
        await conn.execute(
            f"UPDATE {table} SET customer_id = %s"  # noqa: S608 - constant names
            " WHERE customer_id = %s AND (origin_id = %s OR event_id = ANY(%b::uuid[]))",
            (restored, survivor, restored, moved),
        )
    for table in ("analytics_deals", "analytics_tasks"):
        await conn.execute(
            f"UPDATE {table} SET customer_id = %s"  # noqa: S608 - constant names
            " WHERE customer_id = %s AND origin_id = %s",
            (restored, survivor, restored),
        )
    # A reply counts for the customer of the reply's touch (its position is the reply's).
    await conn.execute(
        "UPDATE analytics_responses r SET customer_id = t.customer_id FROM analytics_touches t"
        " WHERE r.position = t.position AND r.customer_id = %s AND t.customer_id = %s",
        (survivor, restored),
    )


@dataclass
class _Current:
    """A customer's open traits version (None: the customer has none open); ``document`` is the traits
    as JSON (``model_dump(mode="json")``), what a change is detected on and what is stored."""

    version: int
    valid_from: datetime
    traits: CustomerTraits | None
    document: dict[str, Any] | None


@dataclass
class _Row:
    """A traits version the batch wrote, as it stands now."""

    valid_from: datetime
    valid_to: datetime | None
    position: int
    traits: CustomerTraits
    document: dict[str, Any]


class _Versions:
    """Traits versions fact by fact: a change at the instant of the open version replaces it, a later one
    closes it and opens the next, so the history does not depend on batch sizes.

    The batch's versions are kept here and written at its end in at most three statements (:meth:`flush`)
    instead of one or two per fact: only this class reads or writes ``analytics_traits`` during a batch,
    and it answers from the rows as they would stand had every change been written when it was made.
    ``current`` is the open version of every customer the batch involves; ``below`` the highest version
    before the batch other than the open one, for those without one (the rest are read when needed: a
    merge closed their open one)."""

    def __init__(self, conn: Conn, current: dict[UUID, _Current], below: dict[UUID, int | None]) -> None:
        self.conn = conn
        self.current = current
        self.opened = {customer_id: found.version for customer_id, found in current.items()}
        self.below = below
        self.deleted: set[tuple[UUID, int]] = set()  # rows from before the batch
        self.closed: dict[tuple[UUID, int], datetime] = {}  # rows from before the batch: their valid_to
        self.written: dict[tuple[UUID, int], _Row] = {}
        self.numbers: dict[UUID, set[int]] = {}  # versions in ``written``, by customer

    def traits(self, customer_id: UUID) -> CustomerTraits | None:
        found = self.current.get(customer_id)
        return found.traits if found else None

    async def _next_version(self, customer_id: UUID) -> int:
        """After closed versions (a customer merged away and restored), numbering goes on."""
        if customer_id not in self.below:
            cur = await self.conn.execute(  # nothing written yet: the rows from before the batch
                "SELECT max(version) FROM analytics_traits WHERE customer_id = %s AND version <> %s",
                (customer_id, self.opened.get(customer_id, -1)),
            )
            row = await cur.fetchone()
            self.below[customer_id] = row[0] if row else None
        versions = [*self.numbers.get(customer_id, ()), self.below[customer_id]]
        opened = self.opened.get(customer_id)
        if opened is not None and (customer_id, opened) not in self.deleted:
            versions.append(opened)
        return max((v for v in versions if v is not None), default=-1) + 1

    def _delete(self, key: tuple[UUID, int]) -> None:
        if key in self.written:
            del self.written[key]
            self.numbers[key[0]].discard(key[1])
        else:
            self.deleted.add(key)

    def _close(self, key: tuple[UUID, int], at: datetime) -> None:
        if key in self.written:
            self.written[key].valid_to = at
        else:
            self.closed[key] = at

    async def write(self, customer_id: UUID, new: CustomerTraits | None, at: datetime, position: int) -> None:
        now = self.current.get(customer_id)
        document = _dump(new)
        if document == (now.document if now else None):
            return
        version = await self._next_version(customer_id) if now is None else 0
        if now is not None:
            at = max(at, now.valid_from)
            version = now.version
            if at == now.valid_from:
                self._delete((customer_id, version))
            else:
                self._close((customer_id, version), at)
                version += 1
        if new is None or document is None:
            self.current.pop(customer_id, None)
            return
        self.written[(customer_id, version)] = _Row(at, None, position, new, document)
        self.numbers.setdefault(customer_id, set()).add(version)
        self.current[customer_id] = _Current(version, at, new, document)

    async def flush(self) -> None:
        """Write the batch's changes: rows deleted and closed first (the open version of a customer is
        unique, and a deleted one's number may be taken again), then the new rows."""
        if self.deleted:
            await self.conn.execute(
                "DELETE FROM analytics_traits WHERE (customer_id, version) IN"
                " (SELECT * FROM unnest(%b::uuid[], %b::integer[]))",
                columns(list(self.deleted)),
            )
        if self.closed:
            await self.conn.execute(
                "UPDATE analytics_traits t SET valid_to = c.valid_to"
                " FROM unnest(%b::uuid[], %b::integer[], %b::timestamptz[]) AS c(id, version, valid_to)"
                " WHERE t.customer_id = c.id AND t.version = c.version",
                columns([(*key, at) for key, at in self.closed.items()]),
            )
        if self.written:
            await self.conn.execute(
                "INSERT INTO analytics_traits (customer_id, version, valid_from, valid_to, position,"
                " last_purchase_at, last_contact_at, purchase_count, traits)"
                " SELECT c, v, f, t, p, lp, lc, n, d::jsonb FROM unnest(%b::uuid[], %b::integer[],"
                " %b::timestamptz[], %b::timestamptz[], %b::bigint[], %b::timestamptz[], %b::timestamptz[],"
                " %b::integer[], %b::text[]) AS r(c, v, f, t, p, lp, lc, n, d)",
                columns(
                    [
                        (
                            customer_id,
                            version,
                            row.valid_from,
                            row.valid_to,
                            row.position,
                            row.traits.last_purchase_at,
                            row.traits.last_contact_at,
                            row.traits.purchase_count,
                            rows.json_text(row.document),
                        )
                        for (customer_id, version), row in self.written.items()
                    ]
                ),
            )


def _dump(traits: CustomerTraits | None) -> dict[str, Any] | None:
    return None if traits is None else traits.model_dump(mode="json")


async def _open_versions(conn: Conn, ids: Iterable[UUID]) -> _Versions:
    """The open version of each of ``ids`` that has one, and the highest version of each other."""
    cur = await conn.execute(
        "SELECT c.id, o.version, o.valid_from, o.traits, CASE WHEN o.version IS NULL THEN"
        " (SELECT max(version) FROM analytics_traits WHERE customer_id = c.id) END"
        " FROM unnest(%b::uuid[]) AS c(id)"
        " LEFT JOIN analytics_traits o ON o.customer_id = c.id AND o.valid_to IS NULL",
        (list(set(ids)),),
    )
    current: dict[UUID, _Current] = {}
    below: dict[UUID, int | None] = {}
    for customer_id, version, valid_from, document, top in await cur.fetchall():
        if version is None:
            below[customer_id] = top
        else:
            traits = CustomerTraits.model_validate(document)
            current[customer_id] = _Current(version, valid_from, traits, _dump(traits))
    return _Versions(conn, current, below)


async def _recompute(conn: Conn, versions: _Versions, ids: Sequence[UUID], fact: Fact) -> None:
    """After a merge or unmerge at ``fact``: the customers' traits from their facts up to it."""
    touches, sales = await rows.facts_of(conn, ids, upto=fact.position)
    for customer_id in ids:
        mine_t = [t for t in touches if t.customer_id == customer_id]
        mine_s = [s for s in sales if s.customer_id == customer_id]
        new = traits_of(customer_id, mine_t, mine_s)
        await versions.write(customer_id, new, fact.event.occurred_at, fact.position)


def _involved(facts: Sequence[Fact], batch: _Batch) -> set[UUID]:
    ids = {t.customer_id for t in batch.touches} | {s.customer_id for s in batch.sales}
    for fact in facts:
        if isinstance(fact.event, CustomerAbsorbed) and fact.customer_id is not None:
            ids |= {fact.customer_id, fact.event.absorbed_id}
        elif isinstance(fact.event, CustomerUnmerged) and fact.customer_id is not None:
            ids |= {fact.customer_id, fact.event.restored_id}
    return ids


async def _traits(conn: Conn, facts: Sequence[Fact], batch: _Batch) -> None:
    """Fold every fact into its customer's traits in log order; merges move rows, then recompute."""
    versions = await _open_versions(conn, _involved(facts, batch))
    touches = {t.position: t for t in batch.touches}
    sales = {s.position: s for s in batch.sales}
    for fact in facts:
        event, owner = fact.event, fact.customer_id
        touch, sale = touches.get(fact.position), sales.get(fact.position)
        if touch is not None or sale is not None:
            customer_id = (touch or sale).customer_id  # type: ignore[union-attr]  # one is set
            traits = versions.traits(customer_id)
            for part in (touch, sale):
                if part is not None:
                    traits = step_traits(traits, part)
            await versions.write(customer_id, traits, event.occurred_at, fact.position)
        elif isinstance(event, CustomerAbsorbed) and owner is not None:
            await _merge(conn, event.absorbed_id, owner)
            await _recompute(conn, versions, [owner, event.absorbed_id], fact)
        elif isinstance(event, CustomerUnmerged) and owner is not None:
            await _unmerge(conn, owner, event)
            await _recompute(conn, versions, [owner, event.restored_id], fact)
    await versions.flush()


def _moved(facts: Sequence[Fact]) -> set[UUID]:
    """The customers whose rows the batch's merges and unmerges moved (both sides of each)."""
    moved: set[UUID] = set()
    for fact in facts:
        if isinstance(fact.event, CustomerAbsorbed) and fact.customer_id is not None:
            moved |= {fact.customer_id, fact.event.absorbed_id}
        elif isinstance(fact.event, CustomerUnmerged) and fact.customer_id is not None:
            moved |= {fact.customer_id, fact.event.restored_id}
    return moved


def _customers(facts: Sequence[Fact], streams: set[UUID]) -> set[UUID]:
    """The customers of a batch: of its customer streams, and those a deal or a task is opened for."""
    ids = set(streams)
    for fact in facts:
        if isinstance(fact.event, DealOpened | TaskCreated) and fact.event.customer_id is not None:
            ids.add(fact.event.customer_id)
    return ids


class AnalyticsProjection:
    """Builds the ``analytics_*`` tables from the log."""

    name = NAME

    async def apply(self, conn: Conn, events: Sequence[RecordedEvent]) -> None:
        facts, streams = read_facts(events)
        if not facts:  # nothing to write
            return
        aliases = await _aliases(conn, _customers(facts, streams))
        batch = _gather(facts, aliases)
        await rows.insert_touches(conn, batch.touches, batch.origin)
        await rows.insert_sales(conn, batch.sales, batch.origin)
        await _replies(conn, batch.touches)
        await _deals_and_tasks(conn, facts, aliases)
        await _traits(conn, facts, batch)
        touches, sales = [t.position for t in batch.touches], [s.position for s in batch.sales]
        await journeys.refresh(conn, touches, sales, _moved(facts))
