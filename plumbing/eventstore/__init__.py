"""The event store: immutable per-customer streams plus one gap-free global log, in PostgreSQL.

Requirements it keeps (see also the tests in tests/integration/test_event_store.py):

* An append is atomic: all events of a batch are stored, or none.
* ``event_id`` is unique across the store; appending a batch that is already stored returns the
  original positions, a batch mixing stored and new events is refused (:class:`PartiallyStoredBatch`).
* Optimistic concurrency per stream: ``expected_version`` is an exact version, ``NO_STREAM`` or ``ANY``.
* Positions in the global log become visible in position order: a reader tailing ``position > p``
  never skips an event that commits later. Appends take one transaction-scoped advisory lock, so
  positions are handed out in commit order (the eventsourcing library's approach: a table lock).
  Chosen over reading below ``pg_snapshot_xmin`` (Emmett's approach) from measurements: see
  bench/eventstore_throughput.py and deploy/local/README.md ("Event store: the append lock").
* Subscriptions catch up, then go live, woken by LISTEN/NOTIFY (with an idle re-check as a safety net),
  filtered by stream category and event type.
* Events are immutable (privileges and a trigger) and hash-chained per stream (``audit.verify_chains``).
* Lost connections are retried within a bound, then :class:`EventStoreUnavailable` is raised.
* Driver errors are translated at this boundary into :mod:`plumbing.eventstore.errors`.
"""

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
    EventStore,
    ExpectedVersion,
    Interest,
    NewEvent,
    RecordedEvent,
    stream_category,
)
from plumbing.eventstore.postgres import MIGRATIONS, PostgresEventStore

__all__ = [
    "ANY",
    "EVERYTHING",
    "MIGRATIONS",
    "NO_STREAM",
    "AppendResult",
    "EventFilter",
    "EventStore",
    "EventStoreError",
    "EventStoreUnavailable",
    "ExpectedVersion",
    "Interest",
    "NewEvent",
    "PartiallyStoredBatch",
    "PostgresEventStore",
    "RecordedEvent",
    "WrongExpectedVersion",
    "stream_category",
]
