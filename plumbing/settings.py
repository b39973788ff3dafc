"""Settings pieces every deployable composes into its own pydantic-settings class."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Topics(BaseModel):
    """Kafka topic names, overridable so every test can use fresh ones."""

    interactions: str = "hub.interactions.v1"
    dead_letter: str = "hub.interactions.dlq.v1"
    timeline: str = "hub.timeline.v2"  # v2: personal fields sealed (v1 carried them opened)


class HubSettings(BaseSettings):
    """What every deployable needs: where Kafka is, and how to log."""

    # hide_input_in_errors: a malformed setting is often a secret, and must not end up in a log.
    model_config = SettingsConfigDict(
        env_prefix="HUB_", env_nested_delimiter="__", extra="ignore", hide_input_in_errors=True
    )

    kafka_bootstrap: str = "127.0.0.1:19092"
    topics: Topics = Field(default_factory=Topics)
    log_level: str = "INFO"
    default_region: str = Field(default="US", pattern=r"^[A-Z]{2}$")


class StoreSettings(HubSettings):
    """For deployables that use PostgreSQL (adapters never do).

    Secrets have no defaults: without ``HUB_PG_DSN`` such a deployable refuses to start.
    """

    pg_dsn: SecretStr
    store_retry_s: float = Field(
        default=30.0, ge=0, description="how long a store call retries a lost connection before failing"
    )


class EventStoreSettings(StoreSettings):
    """Which event store adapter serves the store interface (``HUB_EVENT_STORE``).

    PostgreSQL is the default and the only one the timeline writer can use, because it resolves identities
    and appends in one PostgreSQL transaction. KurrentDB needs ``HUB_KURRENTDB_URI``
    (``kurrentdb://host:2113?tls=false`` or ``kurrentdb+discover://…``).
    """

    event_store: Literal["postgres", "kurrentdb"] = "postgres"
    kurrentdb_uri: SecretStr | None = None
