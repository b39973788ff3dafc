"""The shared event store contract, against PostgreSQL (never skipped: CI always has a PostgreSQL)."""

from __future__ import annotations

import pytest
from psycopg_pool import AsyncConnectionPool

from plumbing.eventstore import PostgresEventStore
from plumbing.eventstore.postgres import Conn
from tests.contract.eventstore_contract import EventStoreContract

pytestmark = pytest.mark.integration


class TestPostgresEventStore(EventStoreContract):
    @pytest.fixture
    def store(self, pool: AsyncConnectionPool[Conn]) -> PostgresEventStore:
        return PostgresEventStore(pool, retry_s=5)
