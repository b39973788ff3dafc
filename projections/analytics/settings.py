"""Settings of the analytics projection."""

from __future__ import annotations

from pydantic import Field

from plumbing.settings import StoreSettings


class AnalyticsProjectionSettings(StoreSettings):
    batch_size: int = Field(default=500, ge=1, le=10_000)
    idle_timeout_s: float = Field(default=2.0, gt=0, description="poll interval if a NOTIFY is missed")
