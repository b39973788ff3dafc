"""SQL of the pipeline projection: load deal views, write them back with their query columns, notes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from uuid import UUID

from psycopg.types.json import Jsonb

from contracts import NoteAdded
from contracts.erasure import CustomerForgotten
from contracts.personal import ERASED
from contracts.read.pipeline import DealView, TaskView
from plumbing.eventstore import Interest, RecordedEvent
from plumbing.eventstore.postgres import Conn
from plumbing.projection import MIGRATIONS as CHECKPOINT_MIGRATIONS
from projections.pipeline.evolve import CATEGORIES, Fact, deal_of, fold, to_fact
from projections.pipeline.tasks import fold_tasks, task_of

MIGRATIONS = (CHECKPOINT_MIGRATIONS, Path(__file__).parent / "migrations")
NAME = "pipeline"


async def load_deals(conn: Conn, deal_ids: Iterable[UUID]) -> dict[UUID, DealView]:
    cur = await conn.execute("SELECT deal FROM pipeline_deals WHERE deal_id = ANY(%s)", (list(deal_ids),))
    views = [DealView.model_validate(row[0]) for row in await cur.fetchall()]
    return {view.deal_id: view for view in views}


async def _save_deals(conn: Conn, deals: Sequence[DealView]) -> None:
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO pipeline_deals (deal_id, customer_id, pipeline_id, stage_id, status, owner_id,"
            " amount, currency, opened_position, stage_entered_at, closed_at, last_position, deal)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (deal_id) DO UPDATE SET stage_id = excluded.stage_id, status = excluded.status,"
            " owner_id = excluded.owner_id, amount = excluded.amount, currency = excluded.currency,"
            " stage_entered_at = excluded.stage_entered_at, closed_at = excluded.closed_at,"
            " last_position = excluded.last_position, deal = excluded.deal",
            [
                (
                    d.deal_id,
                    d.customer_id,
                    d.pipeline_id,
                    d.stage_id,
                    d.status.value,
                    d.owner_id,
                    d.amount,
                    d.currency,
                    d.opened_position,
                    d.stage_entered_at,
                    d.closed_at,
                    d.last_position,
                    Jsonb(d.model_dump(mode="json")),
                )
                for d in deals
            ],
        )


async def _save_notes(conn: Conn, facts: Sequence[Fact]) -> None:
    rows = [
        (
            f.event.note_id,
            f.event.customer_id,
            f.event.deal_id,
            f.event.actor,
            f.event.text,
            f.event.occurred_at,
            f.position,
        )
        for f in facts
        if isinstance(f.event, NoteAdded) and f.event.customer_id is not None
    ]
    if rows:
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO pipeline_notes"
                " (note_id, customer_id, deal_id, actor, text, occurred_at, position)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (note_id) DO NOTHING",
                rows,
            )


async def load_tasks(conn: Conn, task_ids: Iterable[UUID]) -> dict[UUID, TaskView]:
    cur = await conn.execute("SELECT task FROM pipeline_tasks WHERE task_id = ANY(%s)", (list(task_ids),))
    views = [TaskView.model_validate(row[0]) for row in await cur.fetchall()]
    return {view.task_id: view for view in views}


async def _save_tasks(conn: Conn, tasks: Sequence[TaskView]) -> None:
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO pipeline_tasks (task_id, customer_id, deal_id, assignee, team, status, due_at,"
            " created_position, last_position, task) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (task_id) DO UPDATE SET assignee = excluded.assignee, team = excluded.team,"
            " status = excluded.status, last_position = excluded.last_position, task = excluded.task",
            [
                (
                    t.task_id,
                    t.customer_id,
                    t.deal_id,
                    t.assignee,
                    t.team,
                    t.status,
                    t.due_at,
                    t.created_position,
                    t.last_position,
                    Jsonb(t.model_dump(mode="json")),
                )
                for t in tasks
            ],
        )


def _forgotten(recorded: RecordedEvent) -> tuple[UUID, ...]:
    return CustomerForgotten.model_validate(recorded.data).forgotten_ids


async def erase_customers(conn: Conn, customers: Sequence[UUID]) -> None:
    """A forget reached: the rows of these customers lose what staff wrote about them (deal and task
    titles, notes, task outcomes), as a rebuild would fold them from the erased events.

    Done at the event's position, after every earlier event is folded, so no batch read before the
    keys were destroyed can write plaintext back afterwards."""
    ids, erased = list(customers), Jsonb(ERASED)
    await conn.execute("UPDATE pipeline_notes SET text = %s WHERE customer_id = ANY(%s)", (ERASED, ids))
    await conn.execute(
        "UPDATE pipeline_deals SET deal = jsonb_set(deal, '{title}', %s) WHERE customer_id = ANY(%s)",
        (erased, ids),
    )
    await conn.execute(
        "UPDATE pipeline_tasks SET task = jsonb_set(task, '{title}', %(erased)s)"
        " || CASE WHEN task->'note' IS NULL OR task->'note' = 'null'::jsonb THEN '{}'::jsonb"
        "    ELSE jsonb_build_object('note', %(erased)s) END"
        " WHERE customer_id = ANY(%(ids)s)",
        {"erased": erased, "ids": ids},
    )


class PipelineProjection:
    """Builds ``pipeline_deals``, ``pipeline_notes`` and ``pipeline_tasks`` from the log."""

    name = NAME
    #: The sales streams, and the forgets that erase what staff wrote about a customer.
    interest = Interest(categories=CATEGORIES, event_types=frozenset({CustomerForgotten.EVENT_TYPE}))

    async def apply(self, conn: Conn, events: Sequence[RecordedEvent]) -> None:
        await self._fold(conn, events)
        forgotten = [c for e in events if e.event_type == CustomerForgotten.EVENT_TYPE for c in _forgotten(e)]
        if forgotten:
            await erase_customers(conn, forgotten)

    async def _fold(self, conn: Conn, events: Sequence[RecordedEvent]) -> None:
        facts = [fact for fact in map(to_fact, events) if fact is not None]
        if not facts:
            return
        before = await load_deals(conn, {d for d in map(deal_of, facts) if d is not None})
        after = fold(before, facts)
        await _save_deals(conn, [view for deal_id, view in after.items() if before.get(deal_id) is not view])
        await _save_notes(conn, facts)
        tasks_before = await load_tasks(conn, {t for t in map(task_of, facts) if t is not None})
        tasks_after = fold_tasks(tasks_before, facts)
        await _save_tasks(
            conn, [view for task_id, view in tasks_after.items() if tasks_before.get(task_id) is not view]
        )
