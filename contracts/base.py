"""The envelope every event carries, and the base model all contracts share."""

from __future__ import annotations

from types import MappingProxyType
from typing import ClassVar, Final, Self
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, model_validator


def _no_nul(value: object) -> None:
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    if isinstance(value, tuple | list):
        for item in value:
            _no_nul(item)


STORED: Final = MappingProxyType({"stored": True})
"""Validation context for documents the hub wrote itself (``model_validate_json(..., context=STORED)``):
the edge checks that protect the store from outside input are skipped."""


class Contract(BaseModel):
    """Base of every contract model: immutable and strict about unknown fields.

    Text with NUL characters is refused here, at the edge: PostgreSQL cannot store it, and an
    event the store cannot take would otherwise be redelivered for ever.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="after")
    def _refuse_nul(self, info: ValidationInfo) -> Self:
        if info.context is STORED:
            return self  # read back from our own read model: checked on the way in, and the walk is costly
        for value in self.__dict__.values():
            _no_nul(value)
        return self


class Envelope(Contract):
    """Fields common to every event, so any consumer can route, dedupe and trace it.

    ``event_id`` is deterministic (for inbound interactions a keyed hash of provider and provider
    message id, :func:`contracts.ids.event_id_for`), which makes a redelivered webhook the same event,
    not a new one.
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
