"""Shared fixtures: the real infrastructure, a fresh database per test, hubs as processes."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from contracts.ids import generate_id_key
from hub import deployment
from hub.stack import Infra
from plumbing.db_roles import grant_runtime_privileges
from plumbing.eventstore.postgres import Conn
from plumbing.eventstore.sealing import generate_master_key
from tests.support.access import KeyIssuer
from tests.support.deployables import RunningHub
from tests.support.infra import infra_for_tests, with_database

# The tests' own master key (personal fields are sealed with it): the test process and every hub it
# starts (they inherit this environment) read each other's events.
os.environ.setdefault("HUB_MASTER_KEY", generate_master_key())
# Likewise the key every id is derived under: the hubs it starts must derive the ids the test expects.
os.environ.setdefault("HUB_ID_KEY", generate_id_key())


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    with infra_for_tests() as (found, _source):
        yield found


def _create_database(infra: Infra, template: str | None = None) -> str:
    name = f"t_{uuid.uuid4().hex[:16]}"
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    with psycopg.connect(infra.pg_dsn, autocommit=True) as conn:
        conn.execute(create)
    return name


def _drop_database(infra: Infra, name: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with psycopg.connect(infra.pg_dsn, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            return
        except psycopg.errors.InsufficientPrivilege:
            # An autovacuum worker in the database: FORCE may not signal it unless we are superuser.
            # It leaves by itself, so try again until the deadline.
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture(scope="session")
def migrated_template(infra: Infra) -> Iterator[str]:
    """A database migrated once per session (grants included), the template of every test database:
    copying it is much faster than applying every migration again. Nothing connects to it afterwards
    (PostgreSQL copies a template only while no one is connected to it)."""
    name = _create_database(infra)
    deployment.migrate_all(with_database(infra.pg_dsn, name))
    yield name
    _drop_database(infra, name)


@contextmanager
def _migrated_database(infra: Infra, template: str) -> Iterator[str]:
    """A new database with every migration applied (a copy of the template; its URL), dropped afterwards."""
    name = _create_database(infra, template)
    dsn = with_database(infra.pg_dsn, name)
    grant_runtime_privileges(dsn)  # a database's own ACL (CONNECT, TEMP) is not copied from its template
    yield dsn
    _drop_database(infra, name)


@pytest.fixture
def database(infra: Infra, migrated_template: str) -> Iterator[str]:
    """A fresh, empty database for one test, with every migration applied; its URL."""
    with _migrated_database(infra, migrated_template) as dsn:
        yield dsn


@pytest.fixture
def superuser_dsn(infra: Infra, database: str) -> str:
    """The test's database as a superuser would reach it: only for tests that play an attacker."""
    if infra.pg_superuser_dsn is None:
        pytest.skip("no superuser DSN is known for the given PostgreSQL: set HUB_PG_SUPERUSER_DSN")
    return with_database(infra.pg_superuser_dsn, urlsplit(database).path.lstrip("/"))


@pytest.fixture(scope="module")
def module_database(infra: Infra, migrated_template: str) -> Iterator[str]:
    """Like ``database``, but shared by one module's tests (which must not disturb each other)."""
    with _migrated_database(infra, migrated_template) as dsn:
        yield dsn


@pytest.fixture
def api_keys(database: str) -> KeyIssuer:
    """Issues API keys into the test's database: ``api_keys.issue(roles=["support_agent"], ...)``."""
    return KeyIssuer(database)


@pytest.fixture
async def pool(database: str) -> AsyncIterator[AsyncConnectionPool[Conn]]:
    async with AsyncConnectionPool[Conn](database, min_size=1, max_size=8) as opened:
        yield opened


@pytest.fixture
def fresh_database(infra: Infra, migrated_template: str) -> Iterator[str]:
    """A second empty, migrated database: the "fresh set of tables" a rebuild writes into."""
    with _migrated_database(infra, migrated_template) as dsn:
        yield dsn


@pytest.fixture
async def fresh_pool(fresh_database: str) -> AsyncIterator[AsyncConnectionPool[Conn]]:
    async with AsyncConnectionPool[Conn](fresh_database, min_size=1, max_size=4) as opened:
        yield opened


@pytest.fixture
def hub(infra: Infra, database: str, tmp_path: Path) -> Iterator[RunningHub]:
    """Every deployable running as its own process against the real stack."""
    running = RunningHub(infra=infra, dsn=database, run_dir=tmp_path / "run")
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def shared_hub(
    infra: Infra, migrated_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningHub]:
    """One hub for a module's tests that do not break anything; tests use distinct people."""
    name = _create_database(infra, migrated_template)
    dsn = with_database(infra.pg_dsn, name)
    grant_runtime_privileges(dsn)
    running = RunningHub(infra=infra, dsn=dsn, run_dir=tmp_path_factory.mktemp("run"))
    running.start()
    yield running
    running.stop()
    _drop_database(infra, name)
