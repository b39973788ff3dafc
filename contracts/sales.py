"""Sales events: deals moving through a pipeline, and notes on customers or deals.

Staff commands (and the hub's own automations) append these with optimistic concurrency; every event
names its ``actor``, the staff member or automation that caused it, because a pipeline is audited by
who moved what. Amounts are :class:`~contracts.interactions.Money` (Decimal, never float).

Streams: one per deal (``deal-<uuid>``) and one per note (``note-<uuid>``), so a note never bumps a
deal's version and two staff members noting the same deal never conflict.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, ClassVar, Literal, Self
from uuid import UUID

from pydantic import Field, StringConstraints, model_validator

from contracts.base import Envelope
from contracts.interactions import Money

#: Staff ids are principal ids (``alice``, ``alice@example.com``); automations use ``hub.<name>``.
StaffId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")]
#: Pipeline, stage and loss-reason ids as written in deploy/pipelines.toml.
ConfigId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]

_DEAL_PREFIX = "deal-"
_NOTE_PREFIX = "note-"


def deal_stream(deal_id: UUID) -> str:
    """The event store stream of one deal."""
    return f"{_DEAL_PREFIX}{deal_id}"


def stream_deal(stream_id: str) -> UUID | None:
    """The deal whose stream ``stream_id`` is, or None for a stream of another kind."""
    if not stream_id.startswith(_DEAL_PREFIX):
        return None
    return UUID(stream_id.removeprefix(_DEAL_PREFIX))


def note_stream(note_id: UUID) -> str:
    """The event store stream of one note."""
    return f"{_NOTE_PREFIX}{note_id}"


class DealStatus(StrEnum):
    """Where a deal is in its life: open in some stage, or closed one way or the other."""

    OPEN = "open"
    WON = "won"
    LOST = "lost"


class SalesEvent(Envelope):
    """Base of sales events: who did it."""

    actor: StaffId


class DealEvent(SalesEvent):
    """Base of events on a deal's stream."""

    deal_id: UUID


class DealOpened(DealEvent):
    """A deal for ``customer_id`` entered ``pipeline_id`` at an open stage ``stage_id``."""

    EVENT_TYPE: ClassVar[str] = "sales.deal.opened"
    event_type: Literal["sales.deal.opened"] = "sales.deal.opened"
    schema_version: Literal[1] = 1
    customer_id: UUID
    title: str = Field(min_length=1, max_length=300)
    amount: Money
    pipeline_id: ConfigId
    stage_id: ConfigId
    owner_id: StaffId
    expected_close: date | None = None
    source_channel: str | None = Field(default=None, min_length=1, max_length=64)
    source_campaign: str | None = Field(default=None, min_length=1, max_length=200)


class DealStageMoved(DealEvent):
    """An open deal moved from one open stage to another (closing is :class:`DealWon`/:class:`DealLost`)."""

    EVENT_TYPE: ClassVar[str] = "sales.deal.stage_moved"
    event_type: Literal["sales.deal.stage_moved"] = "sales.deal.stage_moved"
    schema_version: Literal[1] = 1
    from_stage: ConfigId
    to_stage: ConfigId


class DealAmountChanged(DealEvent):
    """The deal's value changed (a new currency is allowed: the forecast is kept per currency)."""

    EVENT_TYPE: ClassVar[str] = "sales.deal.amount_changed"
    event_type: Literal["sales.deal.amount_changed"] = "sales.deal.amount_changed"
    schema_version: Literal[1] = 1
    previous: Money
    amount: Money


class DealOwnerChanged(DealEvent):
    """The deal has a new owner (the staff member who answers for it)."""

    EVENT_TYPE: ClassVar[str] = "sales.deal.owner_changed"
    event_type: Literal["sales.deal.owner_changed"] = "sales.deal.owner_changed"
    schema_version: Literal[1] = 1
    previous_owner: StaffId
    owner_id: StaffId


class DealExpectedCloseChanged(DealEvent):
    """The date the deal is expected to close changed (None: no longer known)."""

    EVENT_TYPE: ClassVar[str] = "sales.deal.expected_close_changed"
    event_type: Literal["sales.deal.expected_close_changed"] = "sales.deal.expected_close_changed"
    schema_version: Literal[1] = 1
    previous: date | None
    expected_close: date | None


class DealWon(DealEvent):
    """The deal closed as won, into the pipeline's closed-won stage ``stage_id``.

    ``order_id`` and ``purchase_event_id`` name the order that closed it, when one did (the purchase
    rule sets both; a staff member may give the order id).
    """

    EVENT_TYPE: ClassVar[str] = "sales.deal.won"
    event_type: Literal["sales.deal.won"] = "sales.deal.won"
    schema_version: Literal[1] = 1
    from_stage: ConfigId
    stage_id: ConfigId
    amount: Money
    order_id: str | None = Field(default=None, min_length=1, max_length=200)
    purchase_event_id: UUID | None = None


class DealLost(DealEvent):
    """The deal closed as lost, for ``reason`` (one of the configured loss reasons)."""

    EVENT_TYPE: ClassVar[str] = "sales.deal.lost"
    event_type: Literal["sales.deal.lost"] = "sales.deal.lost"
    schema_version: Literal[1] = 1
    from_stage: ConfigId
    stage_id: ConfigId
    reason: ConfigId
    comment: str | None = Field(default=None, max_length=2000)


class DealReopened(DealEvent):
    """A closed deal is open again, at the open stage ``stage_id``."""

    EVENT_TYPE: ClassVar[str] = "sales.deal.reopened"
    event_type: Literal["sales.deal.reopened"] = "sales.deal.reopened"
    schema_version: Literal[1] = 1
    from_stage: ConfigId
    stage_id: ConfigId


class NoteAdded(SalesEvent):
    """A staff member's note on a customer, a deal, or both (at least one is named)."""

    EVENT_TYPE: ClassVar[str] = "sales.note.added"
    event_type: Literal["sales.note.added"] = "sales.note.added"
    schema_version: Literal[1] = 1
    note_id: UUID
    customer_id: UUID | None = None
    deal_id: UUID | None = None
    text: str = Field(min_length=1, max_length=5000)

    @model_validator(mode="after")
    def _about_something(self) -> Self:
        if self.customer_id is None and self.deal_id is None:
            raise ValueError("a note is about a customer, a deal, or both")
        return self


DEAL_EVENTS: tuple[type[DealEvent], ...] = (
    DealOpened,
    DealStageMoved,
    DealAmountChanged,
    DealOwnerChanged,
    DealExpectedCloseChanged,
    DealWon,
    DealLost,
    DealReopened,
)
SALES_EVENTS: tuple[type[SalesEvent], ...] = (*DEAL_EVENTS, NoteAdded)
