"""Traits versions, kept in memory for a batch and written at its end in a few statements, come out as
if each fact had written its own: the same history whatever the batch sizes (no merges: those are known
to differ still, see ``test_analytics_channels_sql``), a change only its JSON shows (an amount's scale, a
time's offset) still makes a version, and numbering after a merge and an unmerge in one batch goes on
from the customer's closed versions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts import CustomerAbsorbed, Direction
from tests.integration.test_analytics_channels_sql import Story, project, wipe

pytestmark = pytest.mark.integration

BASE = datetime(2026, 1, 5, 12, tzinfo=UTC)
ZONES = (UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5)))
TRAITS = (
    "SELECT customer_id, version, valid_from, valid_to, position, last_purchase_at, last_contact_at,"
    " purchase_count, traits::text FROM analytics_traits ORDER BY customer_id, version"
)

instant = st.builds(
    lambda hours, zone: (BASE + timedelta(hours=hours)).astimezone(zone),
    st.integers(0, 6),  # few instants: facts tie, and a tie replaces the open version
    st.sampled_from(ZONES),
)
step = st.one_of(
    st.tuples(st.just("message"), st.sampled_from("AB"), instant, st.booleans()),
    st.tuples(st.just("purchase"), st.sampled_from("AB"), instant, st.sampled_from(["10", "10.0", "0.00"])),
    st.tuples(st.just("refund"), st.sampled_from("AB"), instant, st.sampled_from(["0", "0.00", "2.50"])),
)


def story_of(steps: list[tuple[Any, ...]]) -> Story:
    story = Story()
    for kind, who, at, extra in steps:
        if kind == "message":
            story.message(who, at, "chat", Direction.INBOUND if extra else Direction.OUTBOUND)
        elif kind == "purchase":
            story.orders[who] = story.purchase(who, at, extra, "SKU-1")
        elif who in story.orders:
            story.refund(who, at, story.orders[who], extra)
    return story


async def traits_rows(conn: psycopg.AsyncConnection[Any]) -> list[tuple[Any, ...]]:
    return await (await conn.execute(TRAITS)).fetchall()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step, min_size=3, max_size=25), batch=st.integers(2, 7))
async def test_trait_versions_do_not_depend_on_batch_sizes(
    database: str, steps: list[tuple[Any, ...]], batch: int
) -> None:
    events = story_of(steps).recorded()
    found = []
    async with await psycopg.AsyncConnection.connect(database, autocommit=True) as conn:
        for size in (1, batch, max(len(events), 1)):
            await wipe(conn)
            await project(conn, events, size)
            found.append(await traits_rows(conn))
    assert found[0] == found[1] == found[2]


async def test_a_change_only_the_json_shows_makes_a_version(database: str) -> None:
    story = story_of(
        [
            ("purchase", "A", BASE, "10"),
            ("refund", "A", BASE + timedelta(hours=1), "0"),
            ("refund", "A", BASE + timedelta(hours=2), "0.00"),  # 0 == 0.00, but not as JSON
            ("message", "A", BASE + timedelta(hours=3), True),
            ("message", "A", (BASE + timedelta(hours=3)).astimezone(ZONES[1]), True),  # the same instant
        ]
    )
    async with await psycopg.AsyncConnection.connect(database, autocommit=True) as conn:
        await wipe(conn)
        await project(conn, story.recorded(), 100)
        rows = await traits_rows(conn)
    assert [row[1] for row in rows] == [0, 1, 2, 3]  # the last message replaced the version it tied with
    assert [row[3] is None for row in rows] == [False, False, False, True]
    assert '"refund_totals": {"EUR": "0.00"}' in rows[2][8]
    assert rows[3][2] == BASE + timedelta(hours=3) and rows[3][4] == len(story.appended)


async def test_numbering_goes_on_after_a_merge_and_an_unmerge_in_one_batch(database: str) -> None:
    story = Story()
    story.message("A", BASE, "chat")
    story.message("B", BASE, "email")
    story.message("A", BASE + timedelta(hours=1), "chat")
    first = len(story.appended)
    story.merge("A", "B", BASE + timedelta(hours=2))
    merge = next(event for _, event, _ in story.appended if isinstance(event, CustomerAbsorbed))
    story.unmerge("B", "A", merge, BASE + timedelta(hours=3))
    story.message("A", BASE + timedelta(hours=4), "chat")
    events = story.recorded()
    async with await psycopg.AsyncConnection.connect(database, autocommit=True) as conn:
        await wipe(conn)
        await project(conn, events[:first], first)
        await project(conn, events[first:], len(events))
        rows = await traits_rows(conn)
    for customer in (story.ids["A"], story.ids["B"]):
        mine = [row for row in rows if row[0] == customer]
        assert [row[1] for row in mine] == list(range(len(mine)))  # no gap, none reused while closed
        assert [row[3] is None for row in mine].count(True) == 1
    a = [row for row in rows if row[0] == story.ids["A"]]
    assert a[-1][2] == BASE + timedelta(hours=4) and '"chat": 3' in a[-1][8]
