"""The event store: immutable per-customer streams plus one gap-free global log, in PostgreSQL.

Requirements it keeps (see also the tests in tests/integration/test_event_store.py):

* An append is atomic: all events of a batch are stored, or none.
* ``event_id`` is unique across the store; appending a batch that is already stored returns the
  original positions, a batch mixing stored and new events is refused (:class:`PartiallyStoredBatch`).
* Optimistic concurrency per stream: ``expected_version`` is an exact version, ``NO_STREAM`` or ``ANY``.
* Positions in the global log become visible in position order: a reader tailing ``position > p``
  never skips an event that commits later. Appends take one transaction-scoped advisory lock, so
  positions are handed out in commit order (the eventsourcing library's approach: a table lock).
* Driver errors are translated at this boundary into :mod:`plumbing.eventstore.errors`.
"""

from plumbing.eventstore.errors import (
    EventStoreError,
    EventStoreUnavailable,
    PartiallyStoredBatch,
    WrongExpectedVersion,
)
from plumbing.eventstore.model import ANY, NO_STREAM, AppendResult, ExpectedVersion, NewEvent, RecordedEvent
from plumbing.eventstore.postgres import MIGRATIONS, PostgresEventStore

__all__ = [
    "ANY",
    "MIGRATIONS",
    "NO_STREAM",
    "AppendResult",
    "EventStoreError",
    "EventStoreUnavailable",
    "ExpectedVersion",
    "NewEvent",
    "PartiallyStoredBatch",
    "PostgresEventStore",
    "RecordedEvent",
    "WrongExpectedVersion",
]
