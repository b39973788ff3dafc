"""Values that go into and come out of the event store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Final
from uuid import UUID

from contracts import Envelope


class _Sentinel(Enum):
    ANY = "any"
    NO_STREAM = "no_stream"


#: Append whatever the stream's version is.
ANY: Final = _Sentinel.ANY
#: Append only if the stream does not exist yet.
NO_STREAM: Final = _Sentinel.NO_STREAM

ExpectedVersion = int | _Sentinel
"""An exact version (0 = the stream holds one event), ``NO_STREAM`` or ``ANY``."""


@dataclass(frozen=True)
class NewEvent:
    """An event to append: the contract plus metadata (actor, customer, provenance)."""

    event: Envelope
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def event_id(self) -> UUID:
        return self.event.event_id


@dataclass(frozen=True)
class RecordedEvent:
    """An event as stored: with its global ``position`` and its ``stream_version``."""

    position: int
    event_id: UUID
    stream_id: str
    stream_version: int
    event_type: str
    schema_version: int
    data: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: datetime


@dataclass(frozen=True)
class AppendResult:
    """Where a batch landed. ``already_stored`` is true for an idempotent repeat."""

    positions: tuple[int, ...]
    stream_version: int
    already_stored: bool = False

    @property
    def last_position(self) -> int:
        return self.positions[-1]
