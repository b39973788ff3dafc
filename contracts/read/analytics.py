"""Read models of analytics: the traits the analytics projection keeps per customer, and the rows of
every report the API serves.

Money stays Decimal per currency (amounts in different currencies are never added); durations are
seconds; rates are fractions in [0, 1] or None when their denominator is zero.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from contracts.read.kinds import ATTRIBUTE_KINDS, Contact, Name, PersonalBy


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class CustomerTraits(_View):
    """What a customer's history says about them, folded from the facts; segments filter on it.

    ``preferred_channel`` is the channel of most inbound messages (ties: the first by name); ``items``
    are the distinct items ever bought (sku, else the line's name).
    """

    customer_id: UUID
    first_seen_at: datetime | None = None
    last_contact_at: datetime | None = None
    last_inbound_at: datetime | None = None
    last_purchase_at: datetime | None = None
    last_discount_at: datetime | None = None
    purchase_count: int = 0
    purchase_totals: dict[str, Decimal] = Field(default_factory=dict)
    refund_totals: dict[str, Decimal] = Field(default_factory=dict)
    lifetime_value: dict[str, Decimal] = Field(default_factory=dict)
    inbound_by_channel: dict[str, int] = Field(default_factory=dict)
    preferred_channel: str | None = None
    items: tuple[str, ...] = ()


class ChannelRow(_View):
    """Channel effectiveness of one channel (and source, unless grouped by channel) in one period.

    Attribution: a won deal or a purchase counts for the channel of the customer's first touch (their
    first interaction ever) and for that of the last touch before it (the latest earlier interaction;
    the conversion's own channel when there is none). Revenue is purchases net of refunds, per currency.
    """

    period_start: date | None
    channel: str
    source: str
    interactions: int
    customers_reached: int
    new_customers: int
    purchasers: int
    deals_opened: int
    deals_won_first_touch: int
    deals_won_last_touch: int
    purchases_first_touch: int
    purchases_last_touch: int
    revenue_first_touch: dict[str, Decimal]
    revenue_last_touch: dict[str, Decimal]
    purchase_conversion: float | None  # purchasers / customers reached
    deal_win_rate: float | None  # deals won (last touch) / deals opened


class StaffRow(_View):
    """Effectiveness of one staff member, or of a team (``staff_id`` None), over a period.

    Response times run from the earliest unanswered inbound message of a customer on a channel to the
    business's next outbound message there; a first response opens a conversation (no activity on that
    channel for 24 hours before the inbound message). Tasks: completed by their due time, completed
    late, and still open past it at the period's end.
    """

    staff_id: str | None
    team: str | None
    interactions_handled: int
    replies: int
    first_response_median_s: float | None
    first_response_p90_s: float | None
    response_median_s: float | None
    response_p90_s: float | None
    tasks_done_on_time: int
    tasks_done_late: int
    tasks_overdue: int
    deals_won: int
    deals_lost: int
    revenue: dict[str, Decimal]
    avg_stage_seconds: dict[str, float]


class RfmRow(_View):
    """Recency, frequency and monetary value of one customer in one currency, with 1..5 scores
    (5 best) from the customer's rank among all buyers in that currency: ceil(5 x cumulative share)."""

    customer_id: UUID
    currency: str
    recency_days: int
    frequency: int
    monetary: Decimal
    r: int
    f: int
    m: int
    score: str


class SegmentSize(_View):
    """A segment and its size now; ``origin``: deploy/analytics.toml (``config``) or saved through the
    API (``api``, the only ones the API deletes). A saved segment that cannot be run (saved before a
    check it fails existed) has ``members`` None and says why in ``error``; the others are unaffected."""

    segment_id: str
    name: str
    description: str
    filter: str
    members: int | None
    origin: Literal["config", "api"] = "config"
    error: str | None = None


class SegmentPoint(_View):
    """Members of a segment at the end of ``day`` (UTC)."""

    day: date
    members: int


class SegmentMember(_View):
    """A member of a segment: who, and the traits that put them there (contacts only for roles that see
    them: the view ``analytics_member`` of the access policy masks the rest)."""

    customer_id: UUID
    display_name: Name | None = None
    emails: list[Contact] = Field(default_factory=list)
    phones: list[Contact] = Field(default_factory=list)
    traits: CustomerTraits


class Evidence(_View):
    """Why an item is recommended: customers who bought ``because_of`` (which this customer owns)
    and how many of them also bought the recommended item."""

    because_of: str
    customers_with_both: int
    customers_with_because: int
    confidence: float  # customers_with_both / customers_with_because
    lift: float  # confidence / share of all buyers who bought the recommended item


class Recommendation(_View):
    item: str
    name: str
    support: int  # customers who bought it together with one of this customer's items (the best one)
    confidence: float
    lift: float
    evidence: list[Evidence]


class Trigger(_View):
    """An event that made a reminder due."""

    position: int
    event_id: UUID
    event_type: str
    occurred_at: datetime


class Reminder(_View):
    """A next best action for a customer, from a configured rule, with the events that triggered it."""

    reminder_id: UUID
    rule: str
    kind: str
    customer_id: UUID
    title: str
    reason: Annotated[str, PersonalBy("kind", {"birthday": ATTRIBUTE_KINDS["birthday"]})]  # names the date
    owner_id: str | None
    triggers: list[Trigger]
