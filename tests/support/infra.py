"""Which Kafka and PostgreSQL the tests use.

Given addresses (HUB_KAFKA_BOOTSTRAP and HUB_PG_DSN) win; otherwise testcontainers when a Docker
engine answers; otherwise the project's own local stack (``hub.stack``), started if needed.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

from hub.stack import Infra, StackSettings, ensure_infra


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
        url = pg.get_connection_url()  # the container's user is a superuser
        yield Infra(kafka_bootstrap=kafka.get_bootstrap_server(), pg_dsn=url, pg_superuser_dsn=url)


def with_database(dsn: str, database: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))
