"""The shared event store contract, against a real KurrentDB; skipped when none is configured.

Runs whenever ``HUB_KURRENTDB_URI`` points at a server, e.g. ``kurrentdb://127.0.0.1:2113?tls=false`` for
an ``--insecure`` single node (see deploy/local/README.md). There is no fresh database per test: the server
keeps every earlier test's and run's events. That is fine because each contract test writes to new streams
of its own and compares positions only relative to what it appended (``first.position - 1``, a delivered
position), never to an absolute position or to ``read_all`` from 0.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from plumbing.eventstore.kurrentdb import KurrentDBEventStore
from tests.contract.eventstore_contract import EventStoreContract

KURRENTDB_URI = os.environ.get("HUB_KURRENTDB_URI", "")
if not KURRENTDB_URI:
    pytest.skip(
        "no KurrentDB server is configured: set HUB_KURRENTDB_URI (kurrentdb://host:2113?tls=false)"
        " to run the event store contract against KurrentDB",
        allow_module_level=True,
    )

pytestmark = pytest.mark.integration


class TestKurrentDBEventStore(EventStoreContract):
    @pytest.fixture
    async def store(self) -> AsyncIterator[KurrentDBEventStore]:
        store = await KurrentDBEventStore.connect(KURRENTDB_URI, retry_s=5)
        yield store
        await store.close()
