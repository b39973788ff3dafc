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
    fetch_min_bytes: int = Field(
        default=64 * 1024,
        ge=1,
        description="the broker answers a fetch once it has this many bytes (or fetch_max_wait_ms passed):"
        " live traffic is stored in fewer, larger transactions, and every projection wakes once per"
        " transaction, so this sets what each event costs at ordinary rates",
    )
    fetch_max_wait_ms: int = Field(
        default=20, ge=0, le=500, description="the most a fetch waits for fetch_min_bytes (added latency)"
    )
    identity_rules: Path | None = Field(
        default=None, description="HUB_IDENTITY_RULES; default: deploy/identity-rules.toml, else built-in"
    )
