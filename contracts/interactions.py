"""Inbound interactions, one event type per channel, as the adapters publish them to Kafka.

Each carries the sender's identities (already normalised), a short content summary (never the
whole body: bodies stay in the raw evidence), and, for point of sale, the purchase and payment.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, ClassVar, Final, Literal, Self

from iso4217 import Currency
from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from contracts.base import STORED, Contract, Envelope
from contracts.evidence import SHA256_PATTERN, Evidence
from contracts.identity import Identity


class Channel(StrEnum):
    """The family of channels a business talks to its customers through."""

    EMAIL = "email"
    CHAT = "chat"
    SOCIAL = "social"
    POS = "pos"
    VOICE = "voice"


class Direction(StrEnum):
    """Who started the interaction: the customer (inbound) or the business (outbound)."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


class Sender(Contract):
    """The customer's side of the interaction: every identity the provider told us, plus a display
    name if given. For an outbound interaction (an agent's reply) it is the recipient."""

    identities: tuple[Identity, ...] = Field(min_length=1, max_length=20)
    display_name: str | None = Field(default=None, max_length=200)
    #: Profile data some providers send (the card keeps it as channel-sourced attributes): the
    #: language the person's app is set to, as given (the card keeps it only if it is BCP 47), and
    #: their marketing consent by email and SMS (None: the provider did not say).
    language: str | None = Field(default=None, max_length=35)
    email_marketing: bool | None = None
    sms_marketing: bool | None = None


class Campaign(Contract):
    """Where the customer came from, when the provider records it: the UTM parameters of the page they
    landed on and the host of the site that referred them. Campaign labels, not personal data (a
    referrer is kept as its host only: paths and queries can carry search terms and ids)."""

    source: str | None = Field(default=None, max_length=200)
    medium: str | None = Field(default=None, max_length=200)
    name: str | None = Field(default=None, max_length=200)
    term: str | None = Field(default=None, max_length=200)
    content: str | None = Field(default=None, max_length=200)
    referrer: str | None = Field(default=None, max_length=253)


class InteractionEvent(Envelope):
    """Base of every interaction: where it came from, which customer it concerns, which way it went.

    ``evidence`` points at the raw delivery it was translated from (absent only for events made
    before evidence was kept, and for events built in tests without an ingress). ``campaign``: see
    :class:`Campaign` (absent where the provider does not say). ``agent_id``: the person on the
    business's side as the channel names them (the widget agent who wrote, the cashier who rang the sale
    up), a channel's own id that ``deploy/staff.toml`` links to a staff member; absent when the channel
    does not say (and in every event recorded before the field existed).
    """

    channel: Channel
    provider: str = Field(min_length=1, max_length=64)
    provider_message_id: str = Field(min_length=1, max_length=500)
    sender: Sender
    summary: str = Field(default="", max_length=500)
    direction: Direction = Direction.INBOUND
    evidence: Evidence | None = None
    campaign: Campaign | None = None
    agent_id: str | None = Field(default=None, min_length=1, max_length=200)


class Attachment(Contract):
    """A file that came with a message; ``sha256`` addresses its bytes in the blob store."""

    filename: str = Field(max_length=300)
    content_type: str = Field(max_length=200)
    size_bytes: int = Field(ge=0)
    sha256: str | None = Field(default=None, pattern=SHA256_PATTERN)


#: Most media references one message keeps (VK allows 10 attachments, Messenger a few more images).
MAX_MEDIA = 10


class MediaRef(Contract):
    """A file a chat or social message carried, as the provider names it: never its bytes.

    ``media_id`` is the provider's handle (a Telegram ``file_id``, a WhatsApp media id), ``url`` where
    the provider serves it (Meta's and VK's CDN links, which expire); at least one is set. The media
    fetcher downloads it and records ``MediaStored`` / ``MediaUnavailable`` under the message's event id
    and this reference's index in ``media``. ``kind`` is the provider's word (``photo``, ``voice``,
    ``document``, ``image``...); type, size and name are what the provider declared, when it did.
    """

    kind: str = Field(min_length=1, max_length=32)
    media_id: str | None = Field(default=None, min_length=1, max_length=500)
    url: str | None = Field(default=None, min_length=1, max_length=2000)
    content_type: str | None = Field(default=None, max_length=200)
    size_bytes: int | None = Field(default=None, ge=0)
    filename: str | None = Field(default=None, max_length=300)

    @model_validator(mode="after")
    def _names_the_file(self) -> Self:
        if self.media_id is None and self.url is None:
            raise ValueError("a media reference needs a media_id or a url")
        return self


class EmailReceived(InteractionEvent):
    """An inbound email."""

    EVENT_TYPE: ClassVar[str] = "interaction.email.received"
    event_type: Literal["interaction.email.received"] = "interaction.email.received"
    schema_version: Literal[1] = 1
    channel: Literal[Channel.EMAIL] = Channel.EMAIL
    subject: str = Field(default="", max_length=1000)
    message_id: str | None = Field(default=None, max_length=1000)
    in_reply_to: str | None = Field(default=None, max_length=1000)
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()


class ChatMessageReceived(InteractionEvent):
    """A chat message (messenger bot, website widget); ``media`` references the files it carried."""

    EVENT_TYPE: ClassVar[str] = "interaction.chat.received"
    event_type: Literal["interaction.chat.received"] = "interaction.chat.received"
    schema_version: Literal[1] = 1
    channel: Literal[Channel.CHAT] = Channel.CHAT
    conversation_id: str = Field(min_length=1, max_length=300)
    media: tuple[MediaRef, ...] = Field(default=(), max_length=MAX_MEDIA)


class SocialMessageReceived(InteractionEvent):
    """A message on a social network (WhatsApp, Messenger, Instagram, VK...); ``media`` references the
    files it carried."""

    EVENT_TYPE: ClassVar[str] = "interaction.social.received"
    event_type: Literal["interaction.social.received"] = "interaction.social.received"
    schema_version: Literal[1] = 1
    channel: Literal[Channel.SOCIAL] = Channel.SOCIAL
    network: str = Field(min_length=1, max_length=64)
    conversation_id: str = Field(min_length=1, max_length=300)
    media: tuple[MediaRef, ...] = Field(default=(), max_length=MAX_MEDIA)


#: The currency codes ISO 4217 lists today (the ``iso4217`` package's table).
ISO_4217: Final = frozenset(currency.code for currency in Currency)


def iso_4217(code: str) -> str:
    """``code`` when ISO 4217 lists it; ValueError naming it otherwise."""
    if code not in ISO_4217:
        raise ValueError(f"currency {code} is not an ISO 4217 code")
    return code


#: A currency code as a request gives it: three capitals that ISO 4217 lists.
CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$"), AfterValidator(iso_4217)]


class Money(Contract):
    """An exact amount in an ISO 4217 currency; never a float.

    A code ISO 4217 does not list is refused where money enters (a webhook, a command). Documents the hub
    stored itself (validated with :data:`~contracts.base.STORED`) keep any three-letter code they were
    stored with, so an event stored before the check, or in a code ISO has since withdrawn, still reads.
    """

    amount: Decimal = Field(max_digits=18, decimal_places=4)
    currency: str = Field(pattern=r"^[A-Z]{3}$")

    @field_validator("currency")
    @classmethod
    def _iso_4217(cls, code: str, info: ValidationInfo) -> str:
        return code if info.context is STORED else iso_4217(code)


def _no_negative_discount(discount: Money | None) -> Money | None:
    if discount is not None and discount.amount < 0:
        raise ValueError("a discount is the amount taken off: it must not be negative")
    return discount


class PurchaseLine(Contract):
    """One line of a purchase: ``total`` is what the line cost after ``discount``, the amount taken off
    it (absent: the provider did not say; events recorded before the field have none)."""

    sku: str | None = Field(default=None, max_length=200)
    name: str = Field(max_length=500)
    quantity: Decimal = Field(gt=0, max_digits=14, decimal_places=4)
    unit_price: Money
    total: Money
    discount: Money | None = None

    _discount = field_validator("discount")(_no_negative_discount)


class Payment(Contract):
    """How the purchase was paid."""

    method: str = Field(max_length=64)
    amount: Money
    status: str = Field(max_length=64)


DiscountCode = Annotated[str, Field(min_length=1, max_length=255)]


class PurchaseRecorded(InteractionEvent):
    """A point-of-sale purchase or paid online order.

    ``discount``: everything taken off the order (line discounts and order-level ones together), in the
    order's currency; ``discount_codes``: the codes the buyer entered. Both are optional additions:
    absent means the provider did not say (a Square payment never does; events recorded before they
    existed have neither), so "not discounted" is read only from a zero discount and no code.
    ``agent_id`` (see :class:`InteractionEvent`) is the cashier.
    """

    EVENT_TYPE: ClassVar[str] = "interaction.pos.purchase"
    event_type: Literal["interaction.pos.purchase"] = "interaction.pos.purchase"
    schema_version: Literal[1] = 1
    channel: Literal[Channel.POS] = Channel.POS
    order_id: str = Field(min_length=1, max_length=200)
    lines: tuple[PurchaseLine, ...] = Field(min_length=1)
    total: Money
    payments: tuple[Payment, ...] = ()
    discount: Money | None = None
    discount_codes: tuple[DiscountCode, ...] = Field(default=(), max_length=50)

    _discount = field_validator("discount")(_no_negative_discount)

    @field_validator("lines")
    @classmethod
    def _one_currency(cls, lines: tuple[PurchaseLine, ...]) -> tuple[PurchaseLine, ...]:
        if len({line.total.currency for line in lines}) > 1:
            raise ValueError("all purchase lines must be in one currency")
        return lines

    @model_validator(mode="after")
    def _discount_in_the_order_currency(self) -> Self:
        if self.discount is not None and self.discount.currency != self.total.currency:
            raise ValueError("the discount must be in the currency of the total")
        return self

    @property
    def discounted(self) -> bool:
        """Whether anything was taken off: a discount, a code, or a line sold below its list price."""
        if self.discount_codes or (self.discount is not None and self.discount.amount > 0):
            return True
        return any(line_discounted(line) for line in self.lines)


def line_discounted(line: PurchaseLine) -> bool:
    """A line with a discount, or sold below its list price (quantity x unit price)."""
    if line.discount is not None and line.discount.amount > 0:
        return True
    return line.total.amount < line.quantity * line.unit_price.amount


class RefundRecorded(InteractionEvent):
    """Money given back on an earlier purchase (``order_id``); ``amount`` is what was refunded.

    ``payment_id`` is the payment the money went back through, when the provider names one (Square's
    ``payment_id``; the Shopify transaction all the refund's transactions refunded, their ``parent_id``).
    """

    EVENT_TYPE: ClassVar[str] = "interaction.pos.refund"
    event_type: Literal["interaction.pos.refund"] = "interaction.pos.refund"
    schema_version: Literal[1] = 1
    channel: Literal[Channel.POS] = Channel.POS
    order_id: str = Field(min_length=1, max_length=200)
    refund_id: str = Field(min_length=1, max_length=200)
    amount: Money
    lines: tuple[PurchaseLine, ...] = ()
    reason: str | None = Field(default=None, max_length=1000)
    payment_id: str | None = Field(default=None, max_length=200)


class CallRecorded(InteractionEvent):
    """A finished phone call; ``recording_*`` point at the provider's recording, never the audio."""

    EVENT_TYPE: ClassVar[str] = "interaction.voice.call"
    event_type: Literal["interaction.voice.call"] = "interaction.voice.call"
    schema_version: Literal[1] = 1
    channel: Literal[Channel.VOICE] = Channel.VOICE
    call_id: str = Field(min_length=1, max_length=200)
    direction: Direction
    from_number: str = Field(min_length=1, max_length=200)
    to_number: str = Field(min_length=1, max_length=200)
    duration_s: int = Field(ge=0)
    status: str = Field(min_length=1, max_length=64)
    agent: str | None = Field(default=None, max_length=200)
    recording_id: str | None = Field(default=None, max_length=200)
    recording_url: str | None = Field(default=None, max_length=2000)


INTERACTION_EVENTS: tuple[type[InteractionEvent], ...] = (
    EmailReceived,
    ChatMessageReceived,
    SocialMessageReceived,
    PurchaseRecorded,
    RefundRecorded,
    CallRecorded,
)
