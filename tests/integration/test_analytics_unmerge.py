"""An unmerge in analytics gives the restored customer back exactly its own rows: the facts of its stream and
the ones the unmerge moved, and also its tasks and the replies it was given (issue 10)."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

import tests.integration.test_analytics_projection as base
from contracts import CustomerAbsorbed, CustomerUnmerged, Direction, customer_stream
from plumbing.eventstore.postgres import Conn

pytestmark = pytest.mark.integration


def owners(dsn: str, e: uuid.UUID, reply_ids: list[uuid.UUID]) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """Who E's tasks and the replies to E's moved messages count for now."""
    with psycopg.connect(dsn) as conn:
        tasks = conn.execute("SELECT customer_id FROM analytics_tasks WHERE origin_id = %s", (e,)).fetchall()
        replies = conn.execute(
            "SELECT r.customer_id FROM analytics_responses r JOIN analytics_touches t USING (position)"
            " WHERE t.event_id = ANY(%s)",
            (reply_ids,),
        ).fetchall()
    return {row[0] for row in tasks}, {row[0] for row in replies}


async def test_unmerge_moves_back_the_restored_customers_tasks_and_reply_times(
    database: str, pool: AsyncConnectionPool[Conn]
) -> None:
    scenario = base.build()
    a, e = scenario.ids["A"], scenario.ids["E"]
    merge_at = next(i for i, (_, ev, _) in enumerate(scenario.appended) if isinstance(ev, CustomerAbsorbed))
    scenario.task("E", base.day(1), base.day(3), base.day(2))  # filed before the merge
    scenario.appended[merge_at:merge_at] = scenario.appended[-3:]
    del scenario.appended[-3:]
    scenario.task("E", base.day(22), base.day(23), base.day(22))  # created for E's id after the merge
    # After the merge E writes again; the timeline writer files it (and alice's answer) on A's stream.
    moved = []
    for minutes, direction in ((0, Direction.INBOUND), (15, Direction.OUTBOUND)):
        scenario.message("E", base.day(21, minutes), direction=direction)
        _, event, metadata = scenario.appended.pop()
        scenario.appended.append((customer_stream(a), event, metadata))
        moved.append(event.event_id)
    await base.append_all(pool, scenario)
    await base.run_projection(pool, batch_size=3)
    assert owners(database, e, moved[1:]) == ({a}, {a})  # merged: everything counts for A

    merge = next(ev for _, ev, _ in scenario.appended if isinstance(ev, CustomerAbsorbed))
    unmerged = CustomerUnmerged(
        **scenario.envelope(base.day(26)),
        customer_id=a,
        restored_id=e,
        merge_event_id=merge.event_id,
        moved_event_ids=tuple(moved),
        actor="carol",
    )
    scenario.appended = [(customer_stream(a), unmerged, {})]
    await base.append_all(pool, scenario)
    await base.run_projection(pool, batch_size=3)

    assert owners(database, e, moved[1:]) == ({e}, {e})
    with psycopg.connect(database) as conn:
        a_tasks = conn.execute("SELECT count(*) FROM analytics_tasks WHERE customer_id = %s", (a,)).fetchone()
        replies = conn.execute(
            "SELECT customer_id, seconds FROM analytics_responses WHERE customer_id = ANY(%s)"
            " ORDER BY seconds",
            ([a, e],),
        ).fetchall()
        moved_touches = conn.execute(
            "SELECT DISTINCT customer_id FROM analytics_touches WHERE event_id = ANY(%s)", (moved,)
        ).fetchall()
    assert a_tasks == (1,)  # A keeps its own task
    assert replies == [(a, 600.0), (e, 900.0)]  # A's answer 10 min after; E's moved one 15 min after
    assert moved_touches == [(e,)]
