"""Fixtures of the fault tests: a private Kafka + PostgreSQL for tests that stop or kill them.

Stopping the shared local stack would break everyone else's runs on this machine, so such tests get a
stack of their own (one per session, on free ports, removed afterwards). Tests that only kill or slow
the hub's own processes use the shared stack with their own database and topics, like the e2e tests.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from bench.private_stack import PrivateStack, private_stack
from hub import deployment
from tests.support.deployables import RunningHub
from tests.support.infra import with_database


@pytest.fixture(scope="session")
def private() -> Iterator[PrivateStack]:
    """A Kafka and a PostgreSQL of this test session alone: they may be stopped, killed and restarted."""
    with private_stack("hub-faults-") as stack:
        yield stack


@pytest.fixture
def private_database(private: PrivateStack) -> Iterator[str]:
    """A fresh, migrated database on the private PostgreSQL."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(private.infra.pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = with_database(private.infra.pg_dsn, name)
    deployment.migrate_all(dsn)
    yield dsn
    private.postgres.start()  # a test that stopped it and failed must not leave it down
    with psycopg.connect(private.infra.pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def private_hub(private: PrivateStack, private_database: str, tmp_path: Path) -> Iterator[RunningHub]:
    """Every deployable as a process against the private stack."""
    running = RunningHub(infra=private.infra, dsn=private_database, run_dir=tmp_path / "run")
    running.start()
    yield running
    running.stop()
