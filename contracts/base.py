"""The envelope every event carries, and the base model all contracts share."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class Contract(BaseModel):
    """Base of every contract model: immutable and strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Envelope(Contract):
    """Fields common to every event, so any consumer can route, dedupe and trace it.

    ``event_id`` is deterministic (UUIDv5 over provider and provider message id for inbound
    interactions), which makes a redelivered webhook the same event, not a new one.
    """

    EVENT_TYPE: ClassVar[str] = ""
    SCHEMA_VERSION: ClassVar[int] = 1

    event_id: UUID
    event_type: str
    schema_version: int = Field(ge=1)
    occurred_at: AwareDatetime
    received_at: AwareDatetime
    correlation_id: str = Field(min_length=1, max_length=200)

    @classmethod
    def type_fields(cls) -> dict[str, object]:
        """The ``event_type`` and ``schema_version`` a new instance of this class must carry."""
        return {"event_type": cls.EVENT_TYPE, "schema_version": cls.SCHEMA_VERSION}


def utc_now() -> datetime:
    """Timezone-aware now; naive datetimes are rejected by every contract."""
    return datetime.now(UTC)
