"""Which Kafka and PostgreSQL the tests use.

Given addresses (HUB_KAFKA_BOOTSTRAP and HUB_PG_DSN) win; otherwise testcontainers when a Docker
engine answers; otherwise the project's own local stack (``hub.stack``), started if needed.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg

from hub.stack import Infra, StackSettings, ensure_infra
from hub.stack.postgres import RUNTIME_ROLE_OPTIONS, ensure_login_role
from plumbing.db_roles import Runtime


def docker_available() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        probe = subprocess.run([docker, "info"], capture_output=True, timeout=10, check=False)
    except subprocess.TimeoutExpired:
        return False
    return probe.returncode == 0


@contextlib.contextmanager
def infra_for_tests() -> Iterator[tuple[Infra, str]]:
    """Yield the infra and where it came from: "given", "testcontainers" or "local"."""
    settings = StackSettings()
    if settings.kafka_bootstrap is None and settings.pg_dsn is None and docker_available():
        with _containers() as infra:
            yield infra, "testcontainers"
        return
    given = settings.kafka_bootstrap is not None and settings.pg_dsn is not None
    yield ensure_infra(settings), "given" if given else "local"


@contextlib.contextmanager
def _containers() -> Iterator[Infra]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    with (
        PostgresContainer("postgres:16", driver=None) as pg,
        KafkaContainer("confluentinc/cp-kafka:7.6.0") as kafka,
    ):
        url = pg.get_connection_url()  # the container's user is a superuser (and the owner here)
        yield Infra(
            kafka_bootstrap=kafka.get_bootstrap_server(),
            pg_dsn=url,
            pg_superuser_dsn=url,
            runtime_dsns=_runtime_roles(url),
        )


def _runtime_roles(superuser_dsn: str) -> dict[Runtime, str]:
    """Create the runtime roles with fresh passwords; their DSNs (the same server and database)."""
    dsns = {}
    with psycopg.connect(superuser_dsn, autocommit=True) as conn:
        for runtime in Runtime:
            password = secrets.token_urlsafe(24)
            ensure_login_role(conn, runtime.role, RUNTIME_ROLE_OPTIONS, password)
            dsns[runtime] = _with_user(superuser_dsn, runtime.role, password)
    return dsns


def _with_user(dsn: str, user: str, password: str) -> str:
    """The same server URL, logging in as another role."""
    parts = urlsplit(dsn)
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{parts.netloc.rpartition('@')[2]}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def with_database(dsn: str, database: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))
