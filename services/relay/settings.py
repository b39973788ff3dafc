"""Settings of the timeline relay (``HUB_RELAY_*``; the topic is ``HUB_TOPICS__TIMELINE``)."""

from __future__ import annotations

from pydantic import Field

from plumbing.settings import StoreSettings


class RelaySettings(StoreSettings):
    """Names carry a ``relay_`` prefix so they do not collide with other deployables' ``HUB_*`` variables."""

    relay_batch_size: int = Field(default=500, ge=1, le=10_000, description="events per transaction")
    relay_idle_timeout_s: float = Field(default=2.0, gt=0, description="poll interval if a NOTIFY is missed")
    relay_publish_timeout_s: float = Field(
        default=10.0, gt=0, description="how long one batch may wait for Kafka's acknowledgement"
    )
    relay_outage_limit_s: float = Field(
        default=300.0,
        gt=0,
        description="how long Kafka may keep refusing batches before the relay exits for its supervisor",
    )
    timeline_partitions: int = Field(
        default=6,
        ge=3,
        description="partitions of the timeline topic when the relay creates it (at least the interactions"
        " topic's 3); fixed afterwards, because more partitions move keys and break per-customer order",
    )
