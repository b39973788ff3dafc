"""The import's only I/O: each batch is decided and appended in one transaction under the append lock.

Per batch, set-based, however many rows: one lookup of the ids the rows may have written before, the
identity facts of the remaining rows (:func:`services.timeline.store.read_known`, the writer's own), one
multi-stream append (which seals personal fields with each customer's key, as every append does), then
the identity index changes in order. So an identity never points at a customer whose events were not
written, and a batch is all there or not at all. (Reading and mapping the next batch in a thread while
this one is written was measured: no faster on two cores, so it is not done.)

A dry run reads the identity facts of the whole file once, then decides every batch on them in memory
(each decision updating them, as the store would change) inside a read-only transaction: what it reports
is what the import would do now, and it cannot write.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from uuid import UUID

from contracts.identity_rules import IdentityRules
from hub.importing.plan import (
    BatchPlan,
    Stamp,
    candidate_ids,
    identity_keys,
    imported_before,
    plan_batch,
)
from hub.importing.rows import BadRow, ImportRow
from hub.importing.summary import Totals
from plumbing.eventstore.postgres import (
    Conn,
    lock_appends,
    stored_positions,
    translated_errors,
)
from services.timeline.known import KnownIdentities
from services.timeline.store import read_known, write_batch

Batch = Sequence[ImportRow | BadRow]
#: Makes the batches of a file (again, for the second pass of a dry run).
Batches = Callable[[], Iterator[Batch]]
#: Called after each batch with the last line it covered.
Progress = Callable[[int], None]


class _Run:
    """Totals, and the rows seen so far in this run (a row repeated in the file counts once)."""

    def __init__(self, dry_run: bool) -> None:
        self.totals = Totals(dry_run=dry_run)
        self.seen: set[UUID] = set()

    def fresh(self, batch: Batch) -> list[ImportRow]:
        """The batch's good rows not seen before in this run; bad ones go to the totals."""
        rows: list[ImportRow] = []
        for row in batch:
            self.totals.rows += 1
            if isinstance(row, BadRow):
                self.totals.bad.append(row)
            elif row.key in self.seen:
                self.totals.repeated += 1
            else:
                self.seen.add(row.key)
                rows.append(row)
        return rows


def last_line(batch: Batch) -> int:
    return max(row.line for row in batch)


async def _write(conn: Conn, plan: BatchPlan) -> None:
    """The batch written as the timeline writer writes one (:func:`services.timeline.store.write_batch`)."""
    await write_batch(conn, plan.appends, plan.index)


async def _before(conn: Conn, rows: Sequence[ImportRow]) -> set[UUID]:
    """The keys of ``rows`` imported before (one of their events is stored)."""
    stored = await stored_positions(conn, [event_id for row in rows for event_id in candidate_ids(row)])
    return imported_before(rows, stored)


async def _import_batch(
    conn: Conn, rows: Sequence[ImportRow], rules: IdentityRules, stamp: Stamp
) -> BatchPlan:
    async with conn.pipeline(), conn.transaction():
        await lock_appends(conn)
        before = await _before(conn, rows)
        known = await read_known(conn, identity_keys(rows, before), rules)
        plan = plan_batch(rows, before, known, rules, stamp)
        await _write(conn, plan)
    return plan


async def import_file(
    conn: Conn, batches: Batches, rules: IdentityRules, stamp: Stamp, progress: Progress
) -> Totals:
    """Import every batch, each in its own transaction; the totals of the run."""
    run, started = _Run(dry_run=False), time.perf_counter()
    async with translated_errors():
        for batch in batches():
            rows = run.fresh(batch)
            if rows:
                run.totals.add_plan(await _import_batch(conn, rows, rules, stamp))
            progress(last_line(batch))
    run.totals.seconds = time.perf_counter() - started
    return run.totals


async def dry_run_file(
    conn: Conn, batches: Batches, rules: IdentityRules, stamp: Stamp, progress: Progress
) -> Totals:
    """What :func:`import_file` would do now, decided in a read-only transaction; nothing is written."""
    run, started = _Run(dry_run=True), time.perf_counter()
    async with translated_errors(), conn.transaction():
        await conn.execute("SET TRANSACTION READ ONLY")
        keys: set[str] = set()
        for batch in batches():
            keys.update(identity_keys(row for row in batch if isinstance(row, ImportRow)))
        known: KnownIdentities = await read_known(conn, sorted(keys), rules)
        for batch in batches():
            rows = run.fresh(batch)
            if rows:
                before = await _before(conn, rows)
                run.totals.add_plan(plan_batch(rows, before, known, rules, stamp))
            progress(last_line(batch))
    run.totals.seconds = time.perf_counter() - started
    return run.totals
