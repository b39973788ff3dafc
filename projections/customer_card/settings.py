"""Settings of the customer card projection."""

from __future__ import annotations

from pydantic import Field

from plumbing.projection_main import ProjectionSettings
from projections.customer_card.card_cache import DEFAULT_CACHE_BYTES


class CardProjectionSettings(ProjectionSettings):
    """Its batch size and poll interval (``HUB_BATCH_SIZE``, ``HUB_IDLE_TIMEOUT_S``), the store, and
    ``HUB_CARD_CACHE_MB``: megabytes of card JSON kept in memory between batches (0: none)."""

    card_cache_mb: float = Field(default=DEFAULT_CACHE_BYTES / 2**20, ge=0, le=4096)

    @property
    def card_cache_bytes(self) -> int:
        return int(self.card_cache_mb * 2**20)
