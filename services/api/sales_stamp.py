"""Who issues a command and when: the envelope fields every event a command makes shares."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from contracts import derived_event_id


@dataclass(frozen=True)
class Stamp:
    """Who issues a command and when; ``seed`` makes event ids deterministic (a retried command with the
    same idempotency key derives the same ids)."""

    actor: str
    at: datetime
    correlation_id: str
    seed: UUID

    def envelope(self, n: int = 0) -> dict[str, Any]:
        return {
            "event_id": derived_event_id(self.seed, f"event:{n}"),
            "occurred_at": self.at,
            "received_at": self.at,
            "correlation_id": self.correlation_id,
            "actor": self.actor,
        }
