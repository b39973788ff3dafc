"""Epoch timestamps as chat and social providers send them: JSON integers, seconds or milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime

from services.ingress.errors import InvalidPayload
from services.ingress.translate._common import Node


def unix_seconds(node: Node) -> datetime:
    """A positive JSON integer of seconds since the epoch (Telegram ``date``, VK ``date``)."""
    return _from_epoch(node, 1, "unix seconds")


def unix_millis(node: Node) -> datetime:
    """A positive JSON integer of milliseconds since the epoch (Messenger and Instagram ``timestamp``)."""
    return _from_epoch(node, 1000, "unix milliseconds")


def _from_epoch(node: Node, per_second: int, what: str) -> datetime:
    value = node.value
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        try:
            return datetime.fromtimestamp(value / per_second, UTC)
        except (ValueError, OverflowError, OSError):
            pass  # out of range: reported below like any other bad timestamp
    raise InvalidPayload(f"field {node.path} must be {what}")
