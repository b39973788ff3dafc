"""KurrentDB (EventStoreDB) adapter of the event store, over ``kurrentdbclient``'s asyncio client.

How the :class:`~plumbing.eventstore.model.EventStore` guarantees map onto KurrentDB:

* Streams are KurrentDB streams of the same name (``customer-<uuid>``); ``stream_version`` is the
  stream position and ``position`` the commit position in ``$all``. Commit positions increase with
  commit order but have gaps; one position per event, also within a batch.
* An event is stored as JSON ``data`` (the contract's ``model_dump(mode="json")``), its ``event_type`` as
  the KurrentDB type, its ``event_id`` as the KurrentDB id, and JSON metadata
  ``{"schema_version": …, "meta": <caller's metadata>, "appended_at": …}`` so a read restores both.
* Idempotence: before appending, the whole target stream is read (one customer's events; the cost
  grows with the stream) and the batch's ids are looked up in it. All found: the original positions
  come back with ``already_stored``; some found: ``PartiallyStoredBatch`` and nothing is written.
  Race window: a concurrent append of the same ids between that read and our append (another writer,
  or our own earlier attempt whose reply was lost) is absorbed by KurrentDB's own id idempotence
  (exact for an expected version, best effort over recent writes for ``ANY``): nothing is doubled and
  the positions read back are the original ones, but ``already_stored`` is then ``False``. A concurrent
  *partly* overlapping batch is not caught in that window. Unlike PostgreSQL, ids are checked only
  within the target stream: KurrentDB has no index of event ids across streams.
* Per-event positions: an append returns only the commit position of its last event, so the stream is
  read back after the append and the batch's events picked out by id. That read relies on
  read-your-writes on the leader, the client's default node preference; if the node does not show the
  events yet, the append is retried and then finds them stored.
* ``read_all`` and ``subscribe`` skip system streams (``$…``) and system event types (``$…``).
  KurrentDB starts reads and subscriptions only at commit positions that exist, and callers may pass
  any number (``first.position - 1``): such a position is probed, and when no event sits there the log
  is scanned backwards from its end to the nearest event below it (cheap for recent positions, as
  long as the log after it for old ones). Positions recently seen in ``$all`` skip the probe.
* Client errors are translated at this boundary; transient ones (unavailable, deadline, leader change)
  are retried with tenacity for ``retry_s`` seconds, then raise :class:`EventStoreUnavailable`.
  Retrying an append is safe because of the idempotence above.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar
from uuid import UUID

import grpc
import kurrentdbclient as kdb
import structlog
from kurrentdbclient.common import AbstractAsyncCatchupSubscription, AsyncRecordedEventIterator
from kurrentdbclient.exceptions import (
    ConsumerTooSlowError,
    DeadlineExceededError,
    DiscoveryFailedError,
    ExceptionThrownByHandlerError,
    KurrentDBClientError,
    NodeIsNotLeaderError,
    NotFoundError,
    ServiceUnavailableError,
    WrongCurrentVersionError,
)
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from plumbing.eventstore.errors import (
    EventStoreError,
    EventStoreUnavailable,
    PartiallyStoredBatch,
    WrongExpectedVersion,
)
from plumbing.eventstore.model import (
    ANY,
    EVERYTHING,
    NO_STREAM,
    AppendResult,
    EventFilter,
    ExpectedVersion,
    NewEvent,
    RecordedEvent,
)

log = structlog.get_logger()
T = TypeVar("T")

#: Server-side filter on stream names that leaves out KurrentDB's own streams ($ce-…, $$…, $projections-…).
_NO_SYSTEM_STREAMS = (r"\$.*",)
#: Client errors that a later attempt can cure: the node is down, slow, changing leader, or shed load.
_TRANSIENT: tuple[type[Exception], ...] = (
    ServiceUnavailableError,
    DeadlineExceededError,
    DiscoveryFailedError,
    NodeIsNotLeaderError,
    ExceptionThrownByHandlerError,
    ConsumerTooSlowError,
)
_TRANSIENT_GRPC = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
#: Records per backward read when looking for the existing position below a caller's ``after_position``.
_ANCHOR_SCAN_PAGE = 500
#: Pause before resubscribing after a live subscription dropped, so a flapping node is not hammered.
_RESUBSCRIBE_PAUSE_S = 0.5


@contextlib.contextmanager
def translated_errors() -> Iterator[None]:
    """Turn client and gRPC errors into the store's own; transient ones become ``EventStoreUnavailable``."""
    try:
        yield
    except _TRANSIENT as exc:
        raise EventStoreUnavailable(f"{type(exc).__name__}: {exc}") from exc
    except KurrentDBClientError as exc:
        raise EventStoreError(f"{type(exc).__name__}: {exc}") from exc
    except grpc.RpcError as exc:  # the client wraps nearly all of these; a raw one is a channel fault
        code = exc.code() if isinstance(exc, grpc.aio.AioRpcError) else None
        error = EventStoreUnavailable if code in _TRANSIENT_GRPC else EventStoreError
        raise error(f"{type(exc).__name__}: {exc}") from exc


def _json_bytes(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _encoded(new: NewEvent, appended_at: datetime) -> kdb.NewEvent:
    event = new.event
    metadata = {
        "schema_version": event.schema_version,
        "meta": new.metadata,
        "appended_at": appended_at.isoformat(),
    }
    return kdb.NewEvent(
        type=event.event_type,
        data=_json_bytes(event.model_dump(mode="json")),
        metadata=_json_bytes(metadata),
        content_type="application/json",
        id=event.event_id,
    )


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _recorded(raw: kdb.RecordedEvent) -> RecordedEvent:
    """Our event from a KurrentDB record; a record another writer made is an error, not a guess."""
    data = _json_object(raw.data)
    envelope = _json_object(raw.metadata) or {}
    schema_version, meta = envelope.get("schema_version"), envelope.get("meta")
    if data is None or not isinstance(schema_version, int) or not isinstance(meta, dict):
        raise EventStoreError(
            f"event {raw.id} at position {raw.commit_position} in stream {raw.stream_name!r}"
            " was not written by this adapter"
        )
    return RecordedEvent(
        position=raw.commit_position,
        event_id=raw.id,
        stream_id=raw.stream_name,
        stream_version=raw.stream_position,
        event_type=raw.type,
        schema_version=schema_version,
        data=data,
        metadata=meta,
        recorded_at=raw.recorded_at or _appended_at(envelope),
    )


def _appended_at(envelope: dict[str, Any]) -> datetime:
    """Fallback for ``recorded_at`` when the server sent no ``created`` timestamp: our own append time."""
    value = envelope.get("appended_at")
    return datetime.fromisoformat(value) if isinstance(value, str) else datetime.fromtimestamp(0, UTC)


def _is_system(raw: kdb.RecordedEvent) -> bool:
    return raw.stream_name.startswith("$") or raw.type.startswith("$")


@dataclass(frozen=True)
class _ServerFilter:
    """The one server-side filter ``subscribe_to_all`` takes (on stream names or on event types)."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    by_stream_name: bool = False


def _server_filter(event_filter: EventFilter) -> _ServerFilter:
    """Narrow on the server by categories if any, else by event types; the rest is checked client-side.

    One alternation per pattern: the client joins several patterns without grouping them.
    """
    if event_filter.categories:
        names = "|".join(re.escape(c) for c in sorted(event_filter.categories))
        return _ServerFilter(include=(f"(?:{names})(?:-.*)?",), by_stream_name=True)
    if event_filter.event_types:
        types = "|".join(re.escape(t) for t in sorted(event_filter.event_types))
        return _ServerFilter(include=(f"(?:{types})",))
    return _ServerFilter(exclude=_NO_SYSTEM_STREAMS, by_stream_name=True)


def _current_version(expected: ExpectedVersion) -> int | kdb.StreamState:
    if expected is ANY:
        return kdb.StreamState.ANY
    if expected is NO_STREAM:
        return kdb.StreamState.NO_STREAM
    assert isinstance(expected, int)
    if expected < 0:
        raise ValueError(f"expected version must be >= 0, NO_STREAM or ANY, not {expected}")
    return expected


def _wrong_version(
    stream_id: str, expected: ExpectedVersion, exc: WrongCurrentVersionError
) -> WrongExpectedVersion:
    actual = exc.actual_version if isinstance(exc.actual_version, int) else -1  # NO_STREAM -> -1
    return WrongExpectedVersion(stream_id, "no stream" if expected is NO_STREAM else expected, actual)


def _repeat_of_stored_batch(
    events: Sequence[NewEvent], stored: dict[UUID, kdb.RecordedEvent]
) -> AppendResult:
    found = [stored[e.event_id] for e in events if e.event_id in stored]
    if len(found) != len(events):
        raise PartiallyStoredBatch(
            f"{len(found)} of {len(events)} events of the batch are already stored; append refused"
        )
    return AppendResult(
        positions=tuple(r.commit_position for r in found),
        stream_version=max(r.stream_position for r in found),
        already_stored=True,
    )


async def _drain(response: AsyncRecordedEventIterator) -> list[kdb.RecordedEvent]:
    """All records of a finite read; the gRPC call is cancelled however the read ends."""
    try:
        return [raw async for raw in response]
    finally:
        await response.stop()


async def _stop_quietly(subscription: AbstractAsyncCatchupSubscription) -> None:
    # Cleanup after the consumer left or the call failed: the call's own error was already reported.
    with contextlib.suppress(KurrentDBClientError, grpc.RpcError):
        await subscription.stop()


class _KnownPositions:
    """Commit positions seen recently, so a read may start at them without first probing that they exist."""

    def __init__(self, capacity: int = 65_536) -> None:
        self._seen: dict[int, None] = {}  # insertion-ordered: the oldest is dropped first
        self._capacity = capacity

    def add(self, position: int) -> None:
        self._seen[position] = None
        if len(self._seen) > self._capacity:
            del self._seen[next(iter(self._seen))]

    def __contains__(self, position: int) -> bool:
        return position in self._seen


class KurrentDBEventStore:
    """The event store on a KurrentDB node or cluster (see the module docstring for the mapping)."""

    def __init__(
        self, client: kdb.AsyncKurrentDBClient, *, retry_s: float = 30.0, call_timeout_s: float = 10.0
    ) -> None:
        """``retry_s`` bounds retrying a transient outage; ``call_timeout_s`` is each call's gRPC deadline."""
        self._client = client
        self._retry_s = retry_s
        self._call_timeout_s = call_timeout_s
        self._closed = False
        self._known = _KnownPositions()

    @classmethod
    async def connect(
        cls, uri: str, *, retry_s: float = 30.0, call_timeout_s: float = 10.0
    ) -> KurrentDBEventStore:
        """Connect with a ``kurrentdb://`` or ``kurrentdb+discover://`` URI (TLS CA via ``tlsCaFile=``).

        A single-node URI connects lazily; a discover URI asks the cluster's gossip for the leader here,
        retried for ``retry_s``. A malformed URI raises ``ValueError``.
        """
        client = kdb.AsyncKurrentDBClient(uri)
        store = cls(client, retry_s=retry_s, call_timeout_s=call_timeout_s)
        await store._retried(store._connect_once)
        return store

    async def _connect_once(self) -> None:
        with translated_errors():
            await self._client.connect()

    # -- append -----------------------------------------------------------------------------------

    async def append(
        self, stream_id: str, events: Sequence[NewEvent], expected: ExpectedVersion = ANY
    ) -> AppendResult:
        """Append a batch atomically; an exact repeat returns the original positions."""
        if not events:
            raise ValueError("an append needs at least one event")
        if len({e.event_id for e in events}) != len(events):
            raise ValueError("a batch must not hold the same event id twice")
        current_version = _current_version(expected)
        return await self._retried(partial(self._append_once, stream_id, events, expected, current_version))

    async def _append_once(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected: ExpectedVersion,
        current_version: int | kdb.StreamState,
    ) -> AppendResult:
        stream = await self._stream_records(stream_id)
        stored = {raw.id: raw for raw in stream}
        if any(e.event_id in stored for e in events):
            return _repeat_of_stored_batch(events, stored)
        seen_version = stream[-1].stream_position if stream else -1
        appended_at = datetime.now(UTC)
        with translated_errors():
            try:
                commit_position = await self._client.append_to_stream(
                    stream_id,
                    events=[_encoded(e, appended_at) for e in events],
                    current_version=current_version,
                    timeout=self._call_timeout_s,
                )
            except WrongCurrentVersionError as exc:
                raise _wrong_version(stream_id, expected, exc) from exc
        return await self._landed(stream_id, events, seen_version, commit_position)

    async def _landed(
        self, stream_id: str, events: Sequence[NewEvent], seen_version: int, commit_position: int
    ) -> AppendResult:
        """Where the batch landed, read back from the stream (the append names only its last position)."""
        tail = {raw.id: raw for raw in await self._stream_records(stream_id, seen_version + 1)}
        found = [tail[e.event_id] for e in events if e.event_id in tail]
        if len(found) != len(events):
            # Appended, but this node does not show it yet: the retry finds the batch stored.
            raise EventStoreUnavailable(f"appended batch not yet readable in stream {stream_id!r}")
        if found[-1].commit_position != commit_position:
            log.warning(
                "kurrentdb_append_position_mismatch",
                stream_id=stream_id,
                returned=commit_position,
                read_back=found[-1].commit_position,
            )
        return AppendResult(
            positions=tuple(r.commit_position for r in found),
            stream_version=max(r.stream_position for r in found),
        )

    # -- reads ------------------------------------------------------------------------------------

    async def _stream_records(self, stream_id: str, from_version: int = 0) -> list[kdb.RecordedEvent]:
        """A stream's records from ``from_version`` on, system ones included; [] if there is no stream."""
        self._check_open()
        with translated_errors():
            try:
                records = await self._client.get_stream(
                    stream_id,
                    stream_position=max(from_version, 0) or None,  # None reads from the start
                    timeout=self._call_timeout_s,
                )
            except NotFoundError:
                return []
        return list(records)

    async def read_stream(self, stream_id: str, from_version: int = 0) -> list[RecordedEvent]:
        """A stream's events from ``from_version`` on, oldest first; [] if the stream does not exist."""
        records = await self._retried(partial(self._stream_records, stream_id, from_version))
        return [_recorded(raw) for raw in records if not _is_system(raw)]

    async def read_all(self, after_position: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        """Up to ``limit`` events with ``position > after_position``, oldest first, system ones left out."""
        if limit <= 0:
            return []
        return await self._retried(partial(self._read_all_once, after_position, limit))

    async def _read_all_once(self, after_position: int, limit: int) -> list[RecordedEvent]:
        events: list[RecordedEvent] = []
        start = await self._start_at_or_before(after_position)
        skip_to = after_position
        while len(events) < limit:
            # Reads from a position include the event there: one extra for it.
            page_size = limit - len(events) + 1
            page = await self._all_page(start, page_size)
            for raw in page:
                if raw.commit_position <= skip_to:
                    continue
                skip_to = raw.commit_position
                if not _is_system(raw):
                    events.append(_recorded(raw))
            if len(page) < page_size:
                break
            start = page[-1].commit_position
        return events[:limit]

    async def _all_page(
        self, from_position: int, count: int, *, backwards: bool = False
    ) -> list[kdb.RecordedEvent]:
        """Records of ``$all`` outside system streams from an existing position (0: the start/end)."""
        self._check_open()
        with translated_errors():
            response = await self._client.read_all(
                commit_position=from_position or None,
                backwards=backwards,
                filter_exclude=_NO_SYSTEM_STREAMS,
                filter_by_stream_name=True,
                limit=count,
                timeout=self._call_timeout_s,
            )
            page = await _drain(response)
        for raw in page:
            self._known.add(raw.commit_position)
        return page

    async def _start_at_or_before(self, after_position: int) -> int:
        """The greatest existing commit position ``<= after_position`` (0 = the start of the log).

        KurrentDB starts reads and subscriptions only at positions that exist, while callers may pass any
        number (``first.position - 1``). Positions recently seen in ``$all`` are known to exist; another
        one is probed, and if it does not exist the log is scanned backwards from its end down to it.
        """
        if after_position <= 0 or after_position in self._known:
            return after_position
        if await self._exists(after_position):
            self._known.add(after_position)
            return after_position
        cursor = 0
        while True:
            page = await self._all_page(cursor, _ANCHOR_SCAN_PAGE, backwards=True)
            for raw in page:
                if raw.commit_position <= after_position:
                    return raw.commit_position
            if len(page) < _ANCHOR_SCAN_PAGE:
                return 0
            cursor = page[-1].commit_position  # backward reads leave out the event at their start

    async def _exists(self, position: int) -> bool:
        """Whether an event sits at ``position``: an unfiltered read from it starts with that event."""
        self._check_open()
        with translated_errors():
            try:
                response = await self._client.read_all(
                    commit_position=position, filter_exclude=(), limit=1, timeout=self._call_timeout_s
                )
                first = await _drain(response)
            except _TRANSIENT:
                raise
            except KurrentDBClientError:
                # No event there (25.1+ says InvalidCommitPositionError; older servers fail otherwise).
                # Only a shortcut either way: the backward scan finds the right start in every case.
                return False
        return bool(first) and first[0].commit_position == position

    # -- subscribe --------------------------------------------------------------------------------

    async def subscribe(
        self, after_position: int = 0, event_filter: EventFilter = EVERYTHING
    ) -> AsyncIterator[RecordedEvent]:
        """Catch up from ``after_position`` (exclusive), then stay live until the consumer stops or the
        store is closed.

        A dropped subscription is resumed after the last position seen. An outage is a run of drops with
        no event delivered and less than ``retry_s`` of healthy subscription between them; one longer than
        ``retry_s`` raises :class:`EventStoreUnavailable`.
        """
        position = after_position
        failing_since: float | None = None
        while not self._closed:
            try:
                subscription = await self._retried(partial(self._open_subscription, position, event_filter))
            except EventStoreError:
                if self._closed:  # closed while (re)subscribing
                    return
                raise
            opened_at = time.monotonic()
            try:
                with translated_errors():
                    async for raw in subscription:
                        if raw.commit_position <= position:
                            continue
                        position = raw.commit_position  # an existing position: safe to resume after
                        self._known.add(position)
                        if _is_system(raw) or not event_filter.matches(raw.stream_name, raw.type):
                            continue
                        failing_since = None
                        yield _recorded(raw)
            except EventStoreUnavailable as exc:
                if self._closed:
                    return
                now = time.monotonic()
                if failing_since is None or now - opened_at > self._retry_s:
                    failing_since = now
                if now - failing_since > self._retry_s:
                    raise
                log.warning("kurrentdb_subscription_dropped", position=position, error=str(exc))
                await asyncio.sleep(_RESUBSCRIBE_PAUSE_S)
            except EventStoreError:
                if self._closed:  # close() cancels live calls: the subscription simply ends
                    return
                raise
            finally:
                await _stop_quietly(subscription)

    async def _open_subscription(
        self, after_position: int, event_filter: EventFilter
    ) -> AbstractAsyncCatchupSubscription:
        self._check_open()
        server = _server_filter(event_filter)
        with translated_errors():
            return await self._client.subscribe_to_all(
                commit_position=await self._start_at_or_before(after_position) or None,  # None: the start
                filter_include=server.include,
                filter_exclude=server.exclude,
                filter_by_stream_name=server.by_stream_name,
            )

    # -- lifecycle --------------------------------------------------------------------------------

    async def close(self) -> None:
        """Close the client; live subscriptions end, later calls raise :class:`EventStoreError`."""
        if self._closed:
            return
        self._closed = True
        with translated_errors():
            await self._client.close()

    def _check_open(self) -> None:
        if self._closed:
            raise EventStoreError("the KurrentDB event store is closed")

    async def _retried(self, op: Callable[[], Awaitable[T]]) -> T:
        """Run ``op``, retrying :class:`EventStoreUnavailable` with backoff for at most ``retry_s``."""
        retrying = AsyncRetrying(
            stop=stop_after_delay(self._retry_s),
            wait=wait_exponential(multiplier=0.2, max=5),
            retry=retry_if_exception_type(EventStoreUnavailable),
            before_sleep=lambda state: log.warning("kurrentdb_unavailable", attempt=state.attempt_number),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await op()
        raise AssertionError("unreachable: tenacity reraises the last error")
