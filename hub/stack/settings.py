"""Settings of the local stack: where its state lives, its ports, or the external services to use instead."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from hub.stack.paths import StatePaths, default_state_dir


class StackSettings(BaseSettings):
    """Read from `HUB_*` variables (and `KAFKA_HOME`); no secret has a default.

    When `kafka_bootstrap` / `pg_dsn` are set, that service is external and nothing local is started for it.
    """

    model_config = SettingsConfigDict(env_prefix="HUB_", extra="ignore", validate_by_name=True)

    state_dir: Path = Field(default_factory=default_state_dir)
    kafka_bootstrap: str | None = None
    pg_dsn: SecretStr | None = None
    pg_superuser_dsn: SecretStr | None = None
    local_kafka_port: int = Field(default=19092, ge=1, le=65535)
    local_kafka_controller_port: int = Field(default=19093, ge=1, le=65535)
    local_pg_port: int = Field(default=15432, ge=1, le=65535)
    kafka_home: Path | None = Field(default=None, validation_alias=AliasChoices("KAFKA_HOME", "kafka_home"))

    @property
    def paths(self) -> StatePaths:
        return StatePaths(self.state_dir.expanduser().resolve())
