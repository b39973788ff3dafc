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

from psycopg.types.json import Jsonb

from contracts import CustomerAbsorbed, CustomerUnmerged, DealEvent, DealOpened
from contracts.read.analytics import CustomerTraits
from contracts.sales_tasks import TaskCreated, TaskEvent
from plumbing.eventstore import RecordedEvent
from plumbing.eventstore.postgres import Conn
from plumbing.projection import MIGRATIONS as CHECKPOINT_MIGRATIONS
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
    sale_of,
    step_thread,
    to_fact,
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
        "SELECT customer_id, survivor_id FROM analytics_aliases WHERE customer_id = ANY(%s)", (list(ids),)
    )
    return {row[0]: row[1] for row in await cur.fetchall()}


def _gather(facts: Sequence[Fact], aliases: dict[UUID, UUID]) -> _Batch:
    batch = _Batch()
    for fact in facts:
        touch, sale = touch_of(fact), sale_of(fact)
        if touch is not None:
            owner = aliases.get(touch.customer_id, touch.customer_id)
            batch.origin[touch.position] = touch.customer_id
            batch.touches.append(replace(touch, customer_id=owner))
        if sale is not None:
            owner = aliases.get(sale.customer_id, sale.customer_id)
            batch.origin[sale.position] = sale.customer_id
            batch.sales.append(replace(sale, customer_id=owner))
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
            " WHERE customer_id = %s AND (origin_id = %s OR event_id = ANY(%s))",
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
    """A customer's open traits version (None: the customer has none open)."""

    version: int
    valid_from: datetime
    traits: CustomerTraits | None


class _Versions:
    """Writes traits versions fact by fact: a change at the instant of the open version replaces it,
    a later one closes it and opens the next, so the history does not depend on batch sizes."""

    def __init__(self, conn: Conn, current: dict[UUID, _Current]) -> None:
        self.conn = conn
        self.current = current

    def traits(self, customer_id: UUID) -> CustomerTraits | None:
        found = self.current.get(customer_id)
        return found.traits if found else None

    async def _next_version(self, customer_id: UUID) -> int:
        """After closed versions (a customer merged away and restored), numbering goes on."""
        cur = await self.conn.execute(
            "SELECT coalesce(max(version) + 1, 0) FROM analytics_traits WHERE customer_id = %s",
            (customer_id,),
        )
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def write(self, customer_id: UUID, new: CustomerTraits | None, at: datetime, position: int) -> None:
        now = self.current.get(customer_id)
        if _dump(new) == _dump(now.traits if now else None):
            return
        version = await self._next_version(customer_id) if now is None else 0
        if now is not None:
            at = max(at, now.valid_from)
            version = now.version
            if at == now.valid_from:
                await self.conn.execute(
                    "DELETE FROM analytics_traits WHERE customer_id = %s AND version = %s",
                    (customer_id, version),
                )
            else:
                await self.conn.execute(
                    "UPDATE analytics_traits SET valid_to = %s WHERE customer_id = %s AND version = %s",
                    (at, customer_id, version),
                )
                version += 1
        if new is None:
            self.current.pop(customer_id, None)
            return
        await self.conn.execute(
            "INSERT INTO analytics_traits (customer_id, version, valid_from, valid_to, position,"
            " last_purchase_at, last_contact_at, purchase_count, traits)"
            " VALUES (%s, %s, %s, NULL, %s, %s, %s, %s, %s)",
            (
                customer_id,
                version,
                at,
                position,
                new.last_purchase_at,
                new.last_contact_at,
                new.purchase_count,
                Jsonb(new.model_dump(mode="json")),
            ),
        )
        self.current[customer_id] = _Current(version, at, new)


def _dump(traits: CustomerTraits | None) -> dict[str, Any] | None:
    return None if traits is None else traits.model_dump(mode="json")


async def _open_versions(conn: Conn, ids: Iterable[UUID]) -> dict[UUID, _Current]:
    cur = await conn.execute(
        "SELECT customer_id, version, valid_from, traits FROM analytics_traits"
        " WHERE customer_id = ANY(%s) AND valid_to IS NULL",
        (list(ids),),
    )
    return {
        row[0]: _Current(row[1], row[2], CustomerTraits.model_validate(row[3]))
        for row in await cur.fetchall()
    }


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
    versions = _Versions(conn, await _open_versions(conn, _involved(facts, batch)))
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


def _moved(facts: Sequence[Fact]) -> set[UUID]:
    """The customers whose rows the batch's merges and unmerges moved (both sides of each)."""
    moved: set[UUID] = set()
    for fact in facts:
        if isinstance(fact.event, CustomerAbsorbed) and fact.customer_id is not None:
            moved |= {fact.customer_id, fact.event.absorbed_id}
        elif isinstance(fact.event, CustomerUnmerged) and fact.customer_id is not None:
            moved |= {fact.customer_id, fact.event.restored_id}
    return moved


def _customers(facts: Sequence[Fact]) -> set[UUID]:
    """The customers of a batch: of its customer streams, and those a deal or a task is opened for."""
    ids = {f.customer_id for f in facts if f.customer_id is not None}
    for fact in facts:
        if isinstance(fact.event, DealOpened | TaskCreated) and fact.event.customer_id is not None:
            ids.add(fact.event.customer_id)
    return ids


class AnalyticsProjection:
    """Builds the ``analytics_*`` tables from the log."""

    name = NAME

    async def apply(self, conn: Conn, events: Sequence[RecordedEvent]) -> None:
        facts = [fact for fact in map(to_fact, events) if fact is not None]
        if not facts:
            return
        aliases = await _aliases(conn, _customers(facts))
        batch = _gather(facts, aliases)
        await rows.insert_touches(conn, batch.touches, batch.origin)
        await rows.insert_sales(conn, batch.sales, batch.origin)
        await _replies(conn, batch.touches)
        await _deals_and_tasks(conn, facts, aliases)
        await _traits(conn, facts, batch)
        touches, sales = [t.position for t in batch.touches], [s.position for s in batch.sales]
        await journeys.refresh(conn, touches, sales, _moved(facts))
