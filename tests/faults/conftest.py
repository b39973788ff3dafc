"""Fixtures of the fault tests: a private Kafka + PostgreSQL for tests that stop or kill them.

Stopping the shared local stack would break everyone else's runs on this machine, so such tests get a
stack of their own (one per session, on free ports, removed afterwards). It starts in the background at the
first fault test, and the tests that need it run after the others. Tests that only kill or slow the hub's
own processes use the shared stack with their own database and topics, like the e2e tests.

A fault test starts only the deployables it checks (``@pytest.mark.deployables(...)``; by default the
timeline writer and the card projection, which the lost / duplicated / drift figures need): the others
would follow the log too and compete for the machine's two cores without being looked at.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from bench.private_stack import PrivateStack, private_stack
from hub import deployment
from hub.stack import Infra
from tests.support.deployables import RunningHub
from tests.support.infra import with_database
from tests.support.ordering import run_last

CONSUMERS = ("timeline", "projections")
"""What every fault figure needs: the writer that stores, and the card projection that drift compares."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "deployables(*names): the deployables a fault test runs (default: timeline, projections)"
    )


def _deployables(request: pytest.FixtureRequest) -> tuple[str, ...]:
    marker = request.node.get_closest_marker("deployables")
    return tuple(marker.args) if marker else CONSUMERS


@pytest.fixture
def hub(infra: Infra, database: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[RunningHub]:
    """The deployables the test needs, as processes against the shared stack."""
    running = RunningHub(infra=infra, dsn=database, run_dir=tmp_path / "run")
    running.start(*_deployables(request))
    yield running
    running.stop()


def _needs_private(item: pytest.Item) -> bool:
    return "private" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Among these tests, those of the private stack last."""
    run_last(items, Path(__file__).parent, _needs_private)


@pytest.fixture(scope="session", autouse=True)
def _private_starts_early(request: pytest.FixtureRequest) -> None:
    """At the first fault test, start the private stack if a selected test will need it."""
    if any(_needs_private(item) for item in request.session.items):
        request.getfixturevalue("_private_starting")


@pytest.fixture(scope="session")
def _private_starting() -> Iterator[Future[PrivateStack]]:
    """The private stack's start, running in a thread; stopped and removed at the end of the session
    (the executor, left first, waits for a start still under way)."""
    with ExitStack() as stacks, ThreadPoolExecutor(max_workers=1, thread_name_prefix="private") as starter:
        yield starter.submit(stacks.enter_context, private_stack("hub-faults-"))


@pytest.fixture(scope="session")
def private(_private_starting: Future[PrivateStack]) -> PrivateStack:
    """A Kafka and a PostgreSQL of this test session alone: they may be stopped, killed and restarted."""
    return _private_starting.result()


@pytest.fixture
def private_database(private: PrivateStack) -> Iterator[str]:
    """A fresh, migrated database on the private PostgreSQL."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(private.infra.pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = with_database(private.infra.pg_dsn, name)
    deployment.migrate_all(dsn)
    yield dsn
    if private.postgres.pid() is None:
        private.postgres.start()  # a test that stopped it and failed must not leave it down
    with psycopg.connect(private.infra.pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def private_hub(
    private: PrivateStack, private_database: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[RunningHub]:
    """The deployables the test needs, as processes against the private stack."""
    running = RunningHub(infra=private.infra, dsn=private_database, run_dir=tmp_path / "run")
    running.start(*_deployables(request))
    yield running
    running.stop()
