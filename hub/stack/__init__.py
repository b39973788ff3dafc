"""The real infrastructure on one machine without Docker: a KRaft Kafka and a private PostgreSQL.

`ensure_infra()` is what tests and `hub` commands call: it starts what is missing (idempotent) and returns the
addresses. HUB_KAFKA_BOOTSTRAP / HUB_PG_DSN point at external services; then nothing local starts, and the
runtime roles' DSNs come from HUB_PG_WRITER_DSN, HUB_PG_PROJECTOR_DSN, HUB_PG_AUTOMATION_DSN, HUB_PG_API_DSN.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from psycopg.conninfo import conninfo_to_dict

from hub.stack.cluster import LocalKafkaCluster, local_kafka
from hub.stack.kafka import KafkaStartError, LocalKafka
from hub.stack.postgres import LocalPostgres, PostgresStartError
from hub.stack.processes import ComponentStatus
from hub.stack.settings import StackSettings
from plumbing.db_roles import Runtime

__all__ = [
    "ComponentStatus",
    "Infra",
    "KafkaStartError",
    "LocalKafka",
    "LocalKafkaCluster",
    "LocalPostgres",
    "PostgresStartError",
    "StackSettings",
    "ensure_infra",
    "ensure_postgres",
    "infra_status",
    "stop_infra",
]


@dataclass(frozen=True)
class Infra:
    """Where the services answer; the DSNs carry passwords, so they stay out of repr()."""

    kafka_bootstrap: str
    #: The owner role's: migrations, admin commands, per-test databases; never a deployable's.
    pg_dsn: str = field(repr=False)
    #: A superuser's DSN where one is known (local stack, testcontainers, ``HUB_PG_SUPERUSER_DSN``): only
    #: tests that must act as an attacker with full rights (tamper evidence) use it.
    pg_superuser_dsn: str | None = field(default=None, repr=False)
    #: Each runtime role's DSN (plumbing/db_roles.py), where known: what the deployables connect with.
    runtime_dsns: Mapping[Runtime, str] = field(default_factory=dict, repr=False)


def ensure_infra(settings: StackSettings | None = None) -> Infra:
    """Start local PostgreSQL and Kafka unless external ones are configured; returns when both answer."""
    settings = settings or StackSettings()
    if settings.pg_dsn is not None:
        dsn = settings.pg_dsn.get_secret_value()
        superuser = settings.pg_superuser_dsn.get_secret_value() if settings.pg_superuser_dsn else None
        runtime = settings.runtime_dsns()
    else:
        postgres = LocalPostgres(settings)
        postgres.start()
        dsn, superuser, runtime = postgres.dsn, postgres.superuser_dsn, postgres.runtime_dsns()
    if settings.kafka_bootstrap is not None:
        bootstrap = settings.kafka_bootstrap
    else:
        kafka = local_kafka(settings)
        kafka.start()
        bootstrap = kafka.bootstrap
    return Infra(kafka_bootstrap=bootstrap, pg_dsn=dsn, pg_superuser_dsn=superuser, runtime_dsns=runtime)


def ensure_postgres(settings: StackSettings | None = None) -> str:
    """The owner's DSN: ``HUB_PG_DSN`` if given, else the local cluster's (started if needed)."""
    settings = settings or StackSettings()
    if settings.pg_dsn is not None:
        return settings.pg_dsn.get_secret_value()
    postgres = LocalPostgres(settings)
    postgres.start()
    return postgres.dsn


def stop_infra(settings: StackSettings | None = None, timeout: float = 60.0) -> None:
    """Stop the local services (external ones are never touched); committed data stays in the state dir."""
    settings = settings or StackSettings()
    if settings.kafka_bootstrap is None:
        local_kafka(settings).stop(timeout)
    if settings.pg_dsn is None:
        LocalPostgres(settings).stop(timeout)


def infra_status(settings: StackSettings | None = None) -> list[ComponentStatus]:
    """Kafka then PostgreSQL: running/stopped with pid for local ones, `external` otherwise."""
    settings = settings or StackSettings()
    if settings.kafka_bootstrap is not None:
        kafka = ComponentStatus("kafka", "external", None, settings.kafka_bootstrap)
    else:
        kafka = local_kafka(settings).status()
    if settings.pg_dsn is not None:
        parts = conninfo_to_dict(settings.pg_dsn.get_secret_value())
        postgres = ComponentStatus("postgres", "external", None, f"{parts.get('host')}:{parts.get('port')}")
    else:
        postgres = LocalPostgres(settings).status()
    return [kafka, postgres]
