"""The channel report aggregated in SQL (services/api/analytics_channels.py) against the reference.

Random histories of five customers (messages on several channels, purchases, refunds, deals opened and
won, merges and unmerges, every one dated at random so deliveries arrive late and instants tie) are fed
to the analytics projection in random batch sizes; for many windows, periods, groupings and customer
filters the SQL path must give exactly the rows of :func:`services.api.analytics_reports.channel_report`
over every touch loaded from the same tables. A rebuild in one batch must then keep the same first
touches and sale attributions the live batches kept.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts import CustomerAbsorbed, CustomerUnmerged, Direction, Envelope
from plumbing.eventstore import RecordedEvent
from projections.analytics.store import AnalyticsProjection
from services.api.analytics_channels import channel_rows
from services.api.analytics_queries import report_facts
from services.api.analytics_reports import Group, Window, channel_report
from tests.integration.test_analytics_projection import TABLES, Scenario

pytestmark = pytest.mark.integration

BASE = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
PEOPLE = "ABCDE"
KINDS = ("chat", "email", "instagram", "facebook")
JOURNEY = (
    "SELECT * FROM analytics_first_touches ORDER BY customer_id",
    "SELECT position, customer_id, first_channel, first_source, last_channel, last_source"
    " FROM analytics_sales ORDER BY position",
)

at_strategy = st.builds(
    lambda d, half: BASE + timedelta(days=d, hours=12, minutes=30 * half),
    st.integers(-8, 40),
    st.integers(0, 1),
)
step = st.one_of(
    st.tuples(
        st.just("message"), st.sampled_from(PEOPLE), at_strategy, st.sampled_from(KINDS), st.booleans()
    ),
    st.tuples(st.just("purchase"), st.sampled_from(PEOPLE), at_strategy, st.integers(1, 300)),
    st.tuples(st.just("refund"), st.sampled_from(PEOPLE), at_strategy, st.integers(1, 50)),
    st.tuples(st.just("deal"), st.sampled_from(PEOPLE), at_strategy, st.booleans()),
    st.tuples(st.just("win"), st.sampled_from(PEOPLE), at_strategy),
    st.tuples(st.just("merge"), st.sampled_from(PEOPLE), st.sampled_from(PEOPLE), at_strategy),
    st.tuples(st.just("unmerge"), st.sampled_from(PEOPLE), at_strategy),
)


class Story(Scenario):
    """A scenario whose steps keep merges valid: only live customers merge, only merges undo."""

    def __init__(self) -> None:
        super().__init__()
        self.deals = {who: uuid.uuid4() for who in PEOPLE}
        self.opened: set[str] = set()
        self.won: set[str] = set()
        self.absorbed: dict[str, tuple[str, CustomerAbsorbed]] = {}  # absorbed -> (survivor, merge)
        self.orders: dict[str, str] = {}
        self.chained = False  # a customer that had absorbed another was itself merged away

    def play(self, item: tuple[Any, ...]) -> None:
        kind, who, *rest = item
        if kind == "message":
            at, channel, inbound = rest
            direction = Direction.INBOUND if inbound else Direction.OUTBOUND
            self.message(who, at, channel, direction)
        elif kind == "purchase":
            self.orders[who] = self.purchase(who, rest[0], str(rest[1]), "SKU-1")
        elif kind == "refund" and who in self.orders:
            self.refund(who, rest[0], self.orders[who], str(rest[1]))
        elif kind == "deal" and who not in self.opened:
            self.opened.add(who)
            self.deal(who, rest[0], "alice", ("social", "spring") if rest[1] else None)
        elif kind == "win" and who in self.opened and who not in self.won:
            self.won.add(who)
            self.win(who, rest[0])
        elif kind == "merge":
            survivor, at = rest
            if survivor != who and who not in self.absorbed and survivor not in self.absorbed:
                self.chained |= any(kept == who for kept, _ in self.absorbed.values())
                self.merge(who, survivor, at)
                self.absorbed[who] = (survivor, self._last(CustomerAbsorbed))
        elif kind == "unmerge" and who in self.absorbed:
            survivor, merge = self.absorbed[who]
            if survivor not in self.absorbed:
                del self.absorbed[who]
                self.unmerge(survivor, who, merge, rest[0])

    def _last(self, kind: type[Envelope]) -> Any:
        return next(event for _, event, _ in reversed(self.appended) if isinstance(event, kind))

    def unmerge(self, survivor: str, restored: str, merge: CustomerAbsorbed, at: datetime) -> None:
        """Undo ``merge``, moving back one of the survivor's touches recorded after it."""
        after = [
            event.event_id
            for stream, event, _ in self.appended[self.appended.index(self._entry(merge)) :]
            if stream.endswith(str(self.ids[survivor])) and event.event_type.startswith("interaction.")
        ]
        self.add(
            survivor,
            CustomerUnmerged(
                **self.envelope(at),
                customer_id=self.ids[survivor],
                restored_id=self.ids[restored],
                merge_event_id=merge.event_id,
                moved_event_ids=tuple(after[:1]),
                actor="carol",
            ),
        )

    def _entry(self, event: Envelope) -> tuple[str, Envelope, dict[str, Any]]:
        return next(entry for entry in self.appended if entry[1] is event)

    def recorded(self) -> list[RecordedEvent]:
        return [
            RecordedEvent(
                position=n,
                event_id=event.event_id,
                stream_id=stream,
                stream_version=n,
                event_type=event.event_type,
                schema_version=1,
                data=event.model_dump(mode="json"),
                metadata=metadata,
                recorded_at=BASE,
            )
            for n, (stream, event, metadata) in enumerate(self.appended, start=1)
        ]


async def project(conn: psycopg.AsyncConnection[Any], events: list[RecordedEvent], batch: int) -> None:
    projection = AnalyticsProjection()
    for start in range(0, len(events), batch):
        async with conn.transaction():
            await projection.apply(conn, events[start : start + batch])


async def wipe(conn: psycopg.AsyncConnection[Any]) -> None:
    async with conn.transaction():
        for table in TABLES:
            await conn.execute(f"DELETE FROM {table}")


async def journey_rows(conn: psycopg.AsyncConnection[Any]) -> list[list[tuple[Any, ...]]]:
    return [await (await conn.execute(query)).fetchall() for query in JOURNEY]


#: Not compared here: reply threads, reply times and traits versions do not yet come out the same when
#: merges and unmerges fall in other batches (a known defect of those tables, not of the channel report's).
BATCH_DEPENDENT = {"analytics_threads", "analytics_responses", "analytics_traits"}


async def every_row(conn: psycopg.AsyncConnection[Any]) -> dict[str, list[str]]:
    """Every analytics table's rows (but :data:`BATCH_DEPENDENT`), in a stable order."""
    found = {}
    for table in set(TABLES) - BATCH_DEPENDENT:
        cur = await conn.execute(f"SELECT * FROM {table}")  # type: ignore[arg-type]  # constant names
        found[table] = sorted(map(repr, await cur.fetchall()))
    return found


WINDOWS: list[tuple[Window, Group]] = [
    (Window(BASE, BASE + timedelta(days=30), None), "channel"),
    (Window(BASE, BASE + timedelta(days=30), "day"), "source"),
    (Window(BASE, BASE + timedelta(days=30), "week"), "channel"),
    (Window(BASE - timedelta(days=30), BASE + timedelta(days=60), "month"), "source"),
    (Window(BASE + timedelta(days=10, hours=3), BASE + timedelta(days=13), "day"), "channel"),
]


async def compare(conn: psycopg.AsyncConnection[Any], story: Story) -> None:
    """Every window's SQL rows against the reference's."""
    for window, group in WINDOWS:
        for customers in (None, [story.ids["A"], story.ids["B"]]):
            facts = await report_facts(conn, window, customers)
            expected = channel_report(facts.touches, facts.sales, facts.deals, window, group)
            got = await channel_rows(conn, window, group, customers)
            assert [r.model_dump() for r in got] == [r.model_dump() for r in expected], (window, group)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step, min_size=12, max_size=50), batch=st.integers(1, 9))
async def test_sql_channel_report_equals_the_reference_over_random_histories(
    database: str, steps: list[tuple[Any, ...]], batch: int
) -> None:
    story = Story()
    for item in steps:
        story.play(item)
    events = story.recorded()
    async with await psycopg.AsyncConnection.connect(database, autocommit=True) as conn:
        await wipe(conn)
        await project(conn, events, batch)
        await compare(conn, story)
        live = await journey_rows(conn), await every_row(conn)
        await wipe(conn)
        await project(conn, events, max(len(events), 1))
        # Chained merges (C absorbs A after A absorbed E, then unmerges) already leave analytics_touches
        # itself different in small batches and in one (touches a batch wrote before its merges move along
        # the chain): a defect of the projection's merge handling, not of these tables; skipped here.
        if not story.chained:
            assert (await journey_rows(conn), await every_row(conn)) == live


async def test_a_late_touch_re_attributes_a_sale_and_a_merge_hands_over_the_first_touch(
    database: str,
) -> None:
    story = Story()
    story.message("A", BASE + timedelta(days=5), "email")
    story.purchase("A", BASE + timedelta(days=6), "10", "SKU-1")
    story.message("A", BASE + timedelta(days=2), "instagram")  # social, delivered late, before the sale
    story.message("B", BASE + timedelta(days=1), "chat")
    story.merge("A", "B", BASE + timedelta(days=7))
    events = story.recorded()
    window = Window(BASE, BASE + timedelta(days=30))
    async with await psycopg.AsyncConnection.connect(database, autocommit=True) as conn:
        await project(conn, events[:2], 2)
        before = {r.channel: r.purchases_first_touch for r in await channel_rows(conn, window)}
        await project(conn, events[2:3], 1)
        late = {
            r.channel: (r.purchases_first_touch, r.new_customers) for r in await channel_rows(conn, window)
        }
        await project(conn, events[3:], 9)
        merged = await channel_rows(conn, window)
        facts = await report_facts(conn, window)
    assert before["email"] == 1
    assert late["social"] == (1, 1) and late["email"][0] == 0
    by_channel = {r.channel: r for r in merged}
    assert by_channel["chat"].purchases_first_touch == 1 and by_channel["social"].purchases_last_touch == 0
    assert by_channel["chat"].new_customers == 1 and by_channel["social"].new_customers == 0
    assert merged == channel_report(facts.touches, facts.sales, facts.deals, window)
