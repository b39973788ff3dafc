"""Values that go into and come out of the event store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Final, Protocol
from uuid import UUID

from contracts import Envelope


class _Sentinel(Enum):
    ANY = "any"
    NO_STREAM = "no_stream"


#: Append whatever the stream's version is.
ANY: Final = _Sentinel.ANY
#: Append only if the stream does not exist yet.
NO_STREAM: Final = _Sentinel.NO_STREAM

ExpectedVersion = int | _Sentinel
"""An exact version (0 = the stream holds one event), ``NO_STREAM`` or ``ANY``."""


@dataclass(frozen=True)
class NewEvent:
    """An event to append: the contract plus metadata (actor, customer, provenance)."""

    event: Envelope
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def event_id(self) -> UUID:
        return self.event.event_id


@dataclass(frozen=True)
class RecordedEvent:
    """An event as stored: with its global ``position`` and its ``stream_version``."""

    position: int
    event_id: UUID
    stream_id: str
    stream_version: int
    event_type: str
    schema_version: int
    data: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: datetime


@dataclass(frozen=True)
class AppendResult:
    """Where a batch landed. ``already_stored`` is true for an idempotent repeat."""

    positions: tuple[int, ...]
    stream_version: int
    already_stored: bool = False

    @property
    def last_position(self) -> int:
        return self.positions[-1]


def stream_category(stream_id: str) -> str:
    """The category of a stream: its id up to the first ``-`` (``customer-…`` → ``customer``).

    The same convention as KurrentDB's ``$ce-`` projections, so filters mean the same on both stores.
    """
    return stream_id.partition("-")[0]


@dataclass(frozen=True)
class EventFilter:
    """Which events a subscription delivers: empty sets mean "every category" / "every type"."""

    categories: frozenset[str] = frozenset()
    event_types: frozenset[str] = frozenset()

    def matches(self, stream_id: str, event_type: str) -> bool:
        category_ok = not self.categories or stream_category(stream_id) in self.categories
        return category_ok and (not self.event_types or event_type in self.event_types)


EVERYTHING: Final = EventFilter()


@dataclass(frozen=True)
class Interest:
    """Which events of the log a follower uses: those of streams in ``categories`` and those of types in
    ``event_types`` (either will do), and, when ``providers`` is set, only those whose ``provider`` is one
    of them. A follower that declares one is handed only those events, so the rest of the log is never
    decoded, opened or parsed for it; it still moves past them (its checkpoint is the log's position)."""

    categories: frozenset[str] = frozenset()
    event_types: frozenset[str] = frozenset()
    providers: frozenset[str] | None = None


class EventStore(Protocol):
    """What every event store adapter guarantees (written once as tests in tests/contract/).

    * ``append`` is atomic and idempotent by event id (an exact repeat returns the original positions and
      ``already_stored``; a batch mixing stored and new events raises ``PartiallyStoredBatch``), with an
      optimistic ``expected`` version per stream (``WrongExpectedVersion``).
    * Positions of the global log increase with commit order (not necessarily by one); ``read_all`` and
      ``subscribe`` never skip an event that commits after a later one became visible.
    * ``subscribe`` catches up from ``after_position`` and then stays live until the consumer stops
      iterating or the store is closed; resuming from the last delivered position misses nothing.
    * Transient outages are retried within a bound, then raise ``EventStoreUnavailable``.
    """

    async def append(
        self, stream_id: str, events: Sequence[NewEvent], expected: ExpectedVersion = ANY
    ) -> AppendResult: ...

    async def read_stream(self, stream_id: str, from_version: int = 0) -> list[RecordedEvent]: ...

    async def read_all(self, after_position: int = 0, limit: int = 1000) -> list[RecordedEvent]: ...

    def subscribe(
        self, after_position: int = 0, event_filter: EventFilter = EVERYTHING
    ) -> AsyncIterator[RecordedEvent]: ...

    async def close(self) -> None: ...
