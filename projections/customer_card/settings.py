"""Settings of the customer card projection."""

from __future__ import annotations

from plumbing.projection_main import ProjectionSettings


class CardProjectionSettings(ProjectionSettings):
    """Its batch size and poll interval (``HUB_BATCH_SIZE``, ``HUB_IDLE_TIMEOUT_S``) and the store."""
