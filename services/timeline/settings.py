"""Settings of the timeline writer."""

from __future__ import annotations

from pydantic import Field

from plumbing.settings import StoreSettings


class TimelineSettings(StoreSettings):
    """``HUB_TIMELINE_GROUP`` names the consumer group; instances of one group share partitions."""

    timeline_group: str = "timeline-writer"
    store_attempts: int = Field(default=6, ge=1, description="tries of one append before redelivery")
    pool_size: int = Field(default=4, ge=1)
