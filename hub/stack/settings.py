"""Settings of the local stack: where its state lives, its ports, or the external services to use instead."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from psycopg import ProgrammingError
from psycopg.conninfo import conninfo_to_dict
from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hub.stack.paths import StatePaths, default_state_dir
from plumbing.db_roles import Runtime


class StackSettings(BaseSettings):
    """Read from `HUB_*` variables (and `KAFKA_HOME`); no secret has a default.

    When `kafka_bootstrap` / `pg_dsn` are set, that service is external and nothing local is started for it.
    `pg_dsn` is then the owner role's (migrations, admin commands), and the deployables connect with the
    runtime roles' DSNs (`pg_writer_dsn`... see plumbing/db_roles.py), which an operator gives too.
    """

    model_config = SettingsConfigDict(env_prefix="HUB_", extra="ignore", validate_by_name=True)

    state_dir: Path = Field(default_factory=default_state_dir)
    kafka_bootstrap: str | None = None
    pg_dsn: SecretStr | None = None
    pg_superuser_dsn: SecretStr | None = None
    pg_writer_dsn: SecretStr | None = None
    pg_projector_dsn: SecretStr | None = None
    pg_automation_dsn: SecretStr | None = None
    pg_api_dsn: SecretStr | None = None
    local_kafka_port: int = Field(default=19092, ge=1, le=65535)
    local_kafka_controller_port: int = Field(default=19093, ge=1, le=65535)
    local_pg_port: int = Field(default=15432, ge=1, le=65535)
    kafka_home: Path | None = Field(default=None, validation_alias=AliasChoices("KAFKA_HOME", "kafka_home"))
    kafka_brokers: int = Field(
        default=1,
        ge=1,
        le=5,
        description="1: one broker+controller JVM; 3 or more: a KRaft controller and that many brokers on "
        "HUB_LOCAL_KAFKA_PORT + 2k (replication 3, min.insync.replicas 2), see hub.stack.cluster",
    )

    @model_validator(mode="after")
    def _ports_apart(self) -> Self:
        if self.kafka_brokers == 2:
            raise ValueError("HUB_KAFKA_BROKERS=2 loses min.insync.replicas=2 with one broker: use 1 or 3+")
        if self.local_kafka_controller_port in self.local_kafka_ports:
            raise ValueError("HUB_LOCAL_KAFKA_CONTROLLER_PORT is a broker port (HUB_LOCAL_KAFKA_PORT + 2k)")
        for runtime, dsn in self.runtime_dsns().items():
            variable = f"HUB_PG_{runtime.value.upper()}_DSN"
            try:
                user = conninfo_to_dict(dsn).get("user")
            except ProgrammingError:
                raise ValueError(f"{variable} is not a PostgreSQL connection string") from None
            if user is not None and user != runtime.role:  # the owner's DSN given as a runtime one, say
                raise ValueError(f"{variable} must connect as {runtime.role}")
        return self

    @property
    def local_kafka_ports(self) -> tuple[int, ...]:
        """Every local broker's listener: the first on HUB_LOCAL_KAFKA_PORT, the next ones 2 apart."""
        return tuple(self.local_kafka_port + 2 * k for k in range(self.kafka_brokers))

    def runtime_dsns(self) -> dict[Runtime, str]:
        """The runtime roles' DSNs that are given (an external PostgreSQL's)."""
        given = {runtime: getattr(self, f"pg_{runtime.value}_dsn") for runtime in Runtime}
        return {runtime: dsn.get_secret_value() for runtime, dsn in given.items() if dsn is not None}

    @property
    def paths(self) -> StatePaths:
        return StatePaths(self.state_dir.expanduser().resolve())
