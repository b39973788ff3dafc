"""The unified customer card: what every team reads about one customer."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, Field, computed_field

from contracts import IdentityKind, Payment, PurchaseLine
from contracts.read.card_parts import DocumentView, InteractionDetails, Profile, ProfileHistory, RefundView
from contracts.read.kinds import Contact, Message, Name, Personal, PersonalKind

#: How many recent interactions and purchases the card carries; the timeline has them all.
RECENT_INTERACTIONS = 20
RECENT_PURCHASES = 20


class IdentityView(BaseModel):
    """One identity of the customer; ``source`` is the channel it first came from (``staff`` when a
    staff member linked it), ``first_seen_at``/``last_seen_at`` the interactions that carried it."""

    kind: IdentityKind
    value: Contact
    provider: str | None = None
    key: Contact
    linked_at: datetime
    source: str | None = None
    first_seen_at: datetime | None = None
    last_seen_at: datetime | None = None


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
    summary: Message
    occurred_at: datetime
    details: InteractionDetails | None = None


class PurchaseView(BaseModel):
    position: int
    order_id: str
    provider: str
    occurred_at: datetime
    amount: Decimal
    currency: str
    line_count: int
    lines: list[PurchaseLine] = Field(default_factory=list)
    payments: list[Payment] = Field(default_factory=list)
    refunded: Decimal = Decimal(0)


class MergeView(BaseModel):
    """One merge or unmerge this customer took part in, and what explains it."""

    kind: Literal["absorbed", "merged_into", "unmerged", "restored"]
    other_customer_id: UUID
    event_id: UUID
    position: int
    occurred_at: datetime
    rule: str
    evidence_event_id: UUID | None = None
    merge_event_id: UUID | None = None  # for an unmerge: the merge it undid
    identities: list[Contact] = Field(default_factory=list)
    actor: str | None = None


class CustomerCard(BaseModel):
    """One customer's card. ``last_position`` makes applying an event twice a no-op.

    ``merged_into`` is set on a card whose customer was absorbed by another; readers follow it.
    ``merged_from`` lists the customers this card absorbed.
    """

    customer_id: UUID
    merged_into: UUID | None = None
    merged_from: list[UUID] = Field(default_factory=list)
    merge_history: list[MergeView] = Field(default_factory=list)
    display_name: Name | None = None
    created_at: datetime
    updated_at: datetime
    identities: Annotated[list[IdentityView], Personal(PersonalKind.CONTACTS)] = Field(default_factory=list)
    channels: dict[str, ChannelStats] = Field(default_factory=dict)
    interaction_count: int = 0
    last_interaction_at: datetime | None = None
    recent_interactions: list[InteractionView] = Field(default_factory=list)
    purchase_count: int = 0
    purchase_totals: dict[str, Decimal] = Field(default_factory=dict)
    recent_purchases: list[PurchaseView] = Field(default_factory=list)
    refund_count: int = 0
    refund_totals: dict[str, Decimal] = Field(default_factory=dict)
    purchase_counts: dict[str, int] = Field(default_factory=dict)
    first_purchase_at: datetime | None = None
    last_purchase_at: datetime | None = None
    payment_methods: dict[str, int] = Field(default_factory=dict)
    recent_refunds: list[RefundView] = Field(default_factory=list)
    profile: Profile = Field(default_factory=Profile)
    attribute_history: ProfileHistory = Field(default_factory=ProfileHistory)
    document_count: int = 0
    documents: Annotated[list[DocumentView], Personal(PersonalKind.DOCUMENTS)] = Field(default_factory=list)
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
    def average_order(self) -> dict[str, Decimal]:
        """Per currency: the mean purchase total (before refunds), to the cent."""
        return {
            currency: (total / self.purchase_counts[currency]).quantize(Decimal("0.01"))
            for currency, total in sorted(self.purchase_totals.items())
            if self.purchase_counts.get(currency)
        }

    @computed_field  # type: ignore[prop-decorator]
    @property
    def emails(self) -> list[Contact]:
        return [i.value for i in self.identities if i.kind is IdentityKind.EMAIL]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def phones(self) -> list[Contact]:
        return [i.value for i in self.identities if i.kind is IdentityKind.PHONE]
