"""Settings of the timeline writer."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from plumbing.settings import StoreSettings


class TimelineSettings(StoreSettings):
    """``HUB_TIMELINE_GROUP`` names the consumer group; instances of one group share partitions."""

    timeline_group: str = "timeline-writer"
    store_attempts: int = Field(default=6, ge=1, description="tries of one append before redelivery")
    pool_size: int = Field(default=4, ge=1)
    batch_size: int = Field(
        default=2000,
        ge=1,
        le=10_000,
        description="most records per transaction: a backlog drains in batches this big (each costs a"
        " commit and a few round trips whatever its size); live traffic in what batch_timeout_ms gathers",
    )
    batch_timeout_ms: int = Field(default=100, ge=1, description="how long a batch waits to fill")
    identity_rules: Path | None = Field(
        default=None, description="HUB_IDENTITY_RULES; default: deploy/identity-rules.toml, else built-in"
    )
