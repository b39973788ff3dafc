"""The unified customer card: what every team reads about one customer."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from uuid import UUID

from pydantic import BaseModel, Field, computed_field

from contracts import IdentityKind

#: How many recent interactions and purchases the card carries; the timeline has them all.
RECENT_INTERACTIONS = 20
RECENT_PURCHASES = 20


class IdentityView(BaseModel):
    kind: IdentityKind
    value: str
    provider: str | None = None
    key: str
    linked_at: datetime


class ChannelStats(BaseModel):
    count: int = 0
    last_at: datetime | None = None


class InteractionView(BaseModel):
    position: int
    event_id: UUID
    event_type: str
    channel: str
    provider: str
    direction: str = "inbound"
    summary: str
    occurred_at: datetime


class PurchaseView(BaseModel):
    position: int
    order_id: str
    provider: str
    occurred_at: datetime
    amount: Decimal
    currency: str
    line_count: int


class CustomerCard(BaseModel):
    """One customer's card. ``last_position`` makes applying an event twice a no-op.

    ``merged_into`` is set on a card whose customer was absorbed by another; readers follow it.
    ``merged_from`` lists the customers this card absorbed.
    """

    customer_id: UUID
    merged_into: UUID | None = None
    merged_from: list[UUID] = Field(default_factory=list)
    display_name: str | None = None
    created_at: datetime
    updated_at: datetime
    identities: list[IdentityView] = Field(default_factory=list)
    channels: dict[str, ChannelStats] = Field(default_factory=dict)
    interaction_count: int = 0
    last_interaction_at: datetime | None = None
    recent_interactions: list[InteractionView] = Field(default_factory=list)
    purchase_count: int = 0
    purchase_totals: dict[str, Decimal] = Field(default_factory=dict)
    recent_purchases: list[PurchaseView] = Field(default_factory=list)
    refund_count: int = 0
    refund_totals: dict[str, Decimal] = Field(default_factory=dict)
    last_position: int = 0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def lifetime_value(self) -> dict[str, Decimal]:
        """Per currency: purchases net of refunds (a refund of an order older than the card counts too)."""
        currencies = sorted({*self.purchase_totals, *self.refund_totals})
        bought, refunded = self.purchase_totals, self.refund_totals
        return {c: bought.get(c, Decimal(0)) - refunded.get(c, Decimal(0)) for c in currencies}

    @computed_field  # type: ignore[prop-decorator]
    @property
    def emails(self) -> list[str]:
        return [i.value for i in self.identities if i.kind is IdentityKind.EMAIL]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def phones(self) -> list[str]:
        return [i.value for i in self.identities if i.kind is IdentityKind.PHONE]
