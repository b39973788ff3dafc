"""The event store's guarantees, written once and run against every adapter.

A backend's test module subclasses :class:`EventStoreContract` and provides the ``store`` fixture (an
:class:`~plumbing.eventstore.EventStore`). The tests use only the store interface, new stream ids of
their own and positions relative to what they appended, so they also hold on a store that other tests
(or other users) write to at the same time.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator, Sequence

import pytest

from contracts import parse_event
from plumbing.eventstore import (
    ANY,
    NO_STREAM,
    EventFilter,
    EventStore,
    NewEvent,
    PartiallyStoredBatch,
    RecordedEvent,
    WrongExpectedVersion,
)
from tests.support.events import identity_linked, new_events, stream_name

CONCURRENT_WRITERS = 12
APPENDS_PER_WRITER = 20
DELIVERY_DEADLINE_S = 30.0


def positions_of(events: Sequence[RecordedEvent]) -> list[int]:
    return [event.position for event in events]


async def take(
    events: AsyncIterator[RecordedEvent], count: int, deadline_s: float = DELIVERY_DEADLINE_S
) -> list[RecordedEvent]:
    """The next ``count`` events of a subscription, or an assertion error naming how many came in time."""
    taken: list[RecordedEvent] = []
    try:
        async with asyncio.timeout(deadline_s):
            while len(taken) < count:
                taken.append(await anext(events))
    except TimeoutError:
        delivered = f"only {len(taken)} of {count} events were delivered within {deadline_s} s"
        raise AssertionError(delivered) from None
    return taken


async def mine(store: EventStore, after: int, streams: set[str]) -> list[RecordedEvent]:
    """The global log after ``after``, restricted to this test's streams."""
    seen: list[RecordedEvent] = []
    while batch := await store.read_all(after_position=after, limit=500):
        seen += [event for event in batch if event.stream_id in streams]
        after = batch[-1].position
    return seen


@contextlib.asynccontextmanager
async def subscription(
    store: EventStore, after: int, event_filter: EventFilter | None = None
) -> AsyncIterator[AsyncIterator[RecordedEvent]]:
    """A subscription that is closed (its connection released) when the block ends."""
    events = store.subscribe(after, event_filter) if event_filter else store.subscribe(after)
    try:
        yield events
    finally:
        await events.aclose()  # type: ignore[attr-defined]


class EventStoreContract:
    """Subclass and provide ``store``; every test below must pass on every backend."""

    @pytest.fixture
    def store(self) -> EventStore:
        raise NotImplementedError("a backend's test module provides the store")

    # --- appending and reading ------------------------------------------------------------------------

    async def test_appending_to_a_new_stream_returns_increasing_positions_and_versions_from_zero(
        self, store: EventStore
    ) -> None:
        stream_id = stream_name()

        result = await store.append(stream_id, new_events(4), NO_STREAM)

        assert len(result.positions) == 4
        assert all(a < b for a, b in itertools.pairwise(result.positions))
        assert result.stream_version == 3
        assert not result.already_stored
        stored = await store.read_stream(stream_id)
        assert [event.stream_version for event in stored] == [0, 1, 2, 3]
        assert positions_of(stored) == list(result.positions)

    async def test_reads_return_events_in_order_with_their_contract_and_metadata_intact(
        self, store: EventStore
    ) -> None:
        first, second = stream_name(), stream_name()
        batches = [(first, new_events(2)), (second, new_events(3)), (first, new_events(1))]
        start = None
        for stream_id, batch in batches:
            result = await store.append(stream_id, batch)
            start = result.positions[0] - 1 if start is None else start

        assert start is not None
        log = await mine(store, start, {first, second})
        first_stream = await store.read_stream(first)
        from_version_one = await store.read_stream(first, from_version=1)

        appended = [(stream_id, new) for stream_id, batch in batches for new in batch]
        assert all(a < b for a, b in itertools.pairwise(positions_of(log)))
        assert [(event.stream_id, event.event_id) for event in log] == [(s, n.event_id) for s, n in appended]
        for recorded, (_, new) in zip(log, appended, strict=True):
            assert parse_event(recorded.data) == new.event
            assert (recorded.event_type, recorded.schema_version) == (
                new.event.event_type,
                new.event.schema_version,
            )
            assert recorded.metadata == new.metadata
        assert [event.stream_version for event in first_stream] == [0, 1, 2]
        assert [event.event_id for event in first_stream] == [n.event_id for s, n in appended if s == first]
        assert from_version_one == first_stream[1:]
        page = await store.read_all(after_position=log[1].position, limit=2)
        assert [event.event_id for event in page] == [event.event_id for event in log[2:4]]

    async def test_reading_a_stream_that_does_not_exist_returns_nothing(self, store: EventStore) -> None:
        assert await store.read_stream(stream_name()) == []

    # --- idempotence ----------------------------------------------------------------------------------

    async def test_appending_the_same_batch_again_returns_the_original_positions_and_writes_nothing(
        self, store: EventStore
    ) -> None:
        stream_id = stream_name()
        batch = new_events(3)
        original = await store.append(stream_id, batch, NO_STREAM)

        repeat = await store.append(stream_id, batch, NO_STREAM)
        repeat_any = await store.append(stream_id, batch, ANY)

        assert repeat.already_stored and repeat_any.already_stored
        assert repeat.positions == repeat_any.positions == original.positions
        assert repeat.stream_version == original.stream_version == 2
        assert [event.event_id for event in await store.read_stream(stream_id)] == [n.event_id for n in batch]

    async def test_a_batch_mixing_stored_and_new_events_is_refused_and_writes_nothing(
        self, store: EventStore
    ) -> None:
        stream_id = stream_name()
        batch = new_events(4)
        await store.append(stream_id, batch[:2])

        with pytest.raises(PartiallyStoredBatch):
            await store.append(stream_id, batch[1:])

        stored = [event.event_id for event in await store.read_stream(stream_id)]
        assert stored == [n.event_id for n in batch[:2]]

    # --- optimistic concurrency -------------------------------------------------------------------------

    async def test_an_expected_version_that_matches_the_stream_appends(self, store: EventStore) -> None:
        stream_id = stream_name()
        await store.append(stream_id, new_events(3), NO_STREAM)

        result = await store.append(stream_id, new_events(2), expected=2)

        assert result.stream_version == 4
        assert [event.stream_version for event in await store.read_stream(stream_id)] == [0, 1, 2, 3, 4]

    async def test_a_wrong_expected_version_is_refused_and_writes_nothing(self, store: EventStore) -> None:
        stream_id, missing_stream = stream_name(), stream_name()
        await store.append(stream_id, new_events(3), NO_STREAM)

        for wrong in (0, 1, 3):
            with pytest.raises(WrongExpectedVersion) as refused:
                await store.append(stream_id, new_events(1), expected=wrong)
            assert (refused.value.stream_id, refused.value.actual) == (stream_id, 2)
        with pytest.raises(WrongExpectedVersion) as missing:
            await store.append(missing_stream, new_events(1), expected=0)

        assert missing.value.actual == -1
        assert len(await store.read_stream(stream_id)) == 3
        assert await store.read_stream(missing_stream) == []

    async def test_no_stream_appends_to_a_new_stream_and_is_refused_on_an_existing_one(
        self, store: EventStore
    ) -> None:
        stream_id = stream_name()

        created = await store.append(stream_id, new_events(1), NO_STREAM)
        with pytest.raises(WrongExpectedVersion) as refused:
            await store.append(stream_id, new_events(1), NO_STREAM)

        assert created.stream_version == 0
        assert refused.value.actual == 0
        assert len(await store.read_stream(stream_id)) == 1

    async def test_any_appends_whatever_the_stream_version_is(self, store: EventStore) -> None:
        stream_id = stream_name()

        versions = [(await store.append(stream_id, new_events(2), ANY)).stream_version for _ in range(3)]

        assert versions == [1, 3, 5]
        assert len(await store.read_stream(stream_id)) == 6

    async def test_concurrent_appends_expecting_the_same_version_let_exactly_one_win(
        self, store: EventStore
    ) -> None:
        stream_id = stream_name()
        await store.append(stream_id, new_events(1), NO_STREAM)

        outcomes = await asyncio.gather(
            *(store.append(stream_id, new_events(1), expected=0) for _ in range(6)), return_exceptions=True
        )

        assert sum(not isinstance(outcome, BaseException) for outcome in outcomes) == 1
        assert sum(isinstance(outcome, WrongExpectedVersion) for outcome in outcomes) == 5
        assert [event.stream_version for event in await store.read_stream(stream_id)] == [0, 1]

    # --- the global log under concurrency -----------------------------------------------------------------

    async def test_a_subscription_sees_every_event_of_many_concurrent_writers_exactly_once_in_log_order(
        self, store: EventStore
    ) -> None:
        marker = await store.append(stream_name("marker"), new_events(1))
        start = marker.last_position
        streams = {stream_name() for _ in range(CONCURRENT_WRITERS)}

        async def writer(stream_id: str) -> list[uuid.UUID]:
            written: list[uuid.UUID] = []
            for n in range(APPENDS_PER_WRITER):
                batch = new_events(1 + n % 3)
                await store.append(stream_id, batch)
                written += [new.event_id for new in batch]
            return written

        async with subscription(store, start) as events:
            reader = asyncio.ensure_future(self._collect(events, streams))
            written = await asyncio.gather(*(writer(stream_id) for stream_id in streams))
            try:
                seen = await asyncio.wait_for(reader, DELIVERY_DEADLINE_S)
            except TimeoutError:
                raise AssertionError("the subscription never delivered some events (skipped)") from None
        seen = [event for event in seen if event.stream_id in streams]
        expected = {event_id for ids in written for event_id in ids}

        delivered = positions_of(seen)
        assert all(a < b for a, b in itertools.pairwise(delivered)), "delivered out of log order or twice"
        assert {event.event_id for event in seen} == expected
        log = await mine(store, start, streams)
        assert delivered == positions_of(log), "the subscription's order differs from the global log"
        for stream_id in streams:
            versions = [event.stream_version for event in seen if event.stream_id == stream_id]
            assert versions == list(range(len(versions))), f"{stream_id} was delivered out of order"

    @staticmethod
    async def _collect(events: AsyncIterator[RecordedEvent], streams: set[str]) -> list[RecordedEvent]:
        """Read the subscription until every writer's last event (the count is known up front) arrived."""
        owed = CONCURRENT_WRITERS * sum(1 + n % 3 for n in range(APPENDS_PER_WRITER))
        seen: list[RecordedEvent] = []
        while sum(event.stream_id in streams for event in seen) < owed:
            seen.append(await anext(events))
        return seen

    # --- subscriptions --------------------------------------------------------------------------------------

    async def test_a_subscription_catches_up_then_delivers_events_appended_after_it_went_live(
        self, store: EventStore
    ) -> None:
        stream_id = stream_name()
        before = await store.append(stream_id, new_events(3))
        start = before.positions[0] - 1

        async with subscription(store, start) as events:
            caught_up = await take(events, 3)
            after = await store.append(stream_id, new_events(2))
            live = await take(events, 2)

        assert positions_of(caught_up) == list(before.positions)
        assert positions_of(live) == list(after.positions)

    async def test_a_subscription_resumed_after_its_last_position_delivers_the_rest_exactly_once(
        self, store: EventStore
    ) -> None:
        stream_id = stream_name()
        first = await store.append(stream_id, new_events(4))
        start = first.positions[0] - 1
        async with subscription(store, start) as events:
            before_restart = await take(events, 2)

        second = await store.append(stream_id, new_events(3))  # written while nobody listens
        async with subscription(store, before_restart[-1].position) as events:
            after_restart = await take(events, 5)

        delivered = positions_of(before_restart + after_restart)
        assert delivered == [*first.positions, *second.positions]

    async def test_a_subscription_filtered_by_category_or_type_delivers_only_matching_events(
        self, store: EventStore
    ) -> None:
        tag = uuid.uuid4().hex
        customer, deal = stream_name("customer"), stream_name("deal")
        start = (await store.append(customer, new_events(1))).positions[0] - 1
        await store.append(deal, new_events(2))
        links = [NewEvent(identity_linked(tag, n)) for n in range(2)]
        await store.append(customer, links)
        last = await store.append(deal, [NewEvent(identity_linked(tag, 9))])

        by_category = EventFilter(categories=frozenset({"deal"}))
        by_type = EventFilter(event_types=frozenset({"customer.identity.linked"}))
        both = EventFilter(
            categories=frozenset({"customer"}), event_types=frozenset({"customer.identity.linked"})
        )
        async with subscription(store, start, by_category) as events:
            deals = await take(events, 3)
        async with subscription(store, start, by_type) as events:
            linked = await take(events, 3)
        async with subscription(store, start, both) as events:
            customer_links = await take(events, 2)

        assert {event.stream_id for event in deals} == {deal}
        assert deals[-1].position == last.last_position
        assert {event.event_type for event in linked} == {"customer.identity.linked"}
        assert [event.event_id for event in customer_links] == [new.event_id for new in links]
