"""Inbound interactions, one event type per channel, as the adapters publish them to Kafka.

Each carries the sender's identities (already normalised), a short content summary (never the
whole body: bodies stay in the raw evidence), and, for point of sale, the purchase and payment.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import ClassVar, Literal, Self

from pydantic import Field, field_validator, model_validator

from contracts.base import Contract, Envelope
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
    :class:`Campaign` (absent where the provider does not say).
    """

    channel: Channel
    provider: str = Field(min_length=1, max_length=64)
    provider_message_id: str = Field(min_length=1, max_length=500)
    sender: Sender
    summary: str = Field(default="", max_length=500)
    direction: Direction = Direction.INBOUND
    evidence: Evidence | None = None
    campaign: Campaign | None = None


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


class Money(Contract):
    """An exact amount in an ISO 4217 currency; never a float."""

    amount: Decimal = Field(max_digits=18, decimal_places=4)
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class PurchaseLine(Contract):
    """One line of a purchase."""

    sku: str | None = Field(default=None, max_length=200)
    name: str = Field(max_length=500)
    quantity: Decimal = Field(gt=0, max_digits=14, decimal_places=4)
    unit_price: Money
    total: Money


class Payment(Contract):
    """How the purchase was paid."""

    method: str = Field(max_length=64)
    amount: Money
    status: str = Field(max_length=64)


class PurchaseRecorded(InteractionEvent):
    """A point-of-sale purchase or paid online order."""

    EVENT_TYPE: ClassVar[str] = "interaction.pos.purchase"
    event_type: Literal["interaction.pos.purchase"] = "interaction.pos.purchase"
    schema_version: Literal[1] = 1
    channel: Literal[Channel.POS] = Channel.POS
    order_id: str = Field(min_length=1, max_length=200)
    lines: tuple[PurchaseLine, ...] = Field(min_length=1)
    total: Money
    payments: tuple[Payment, ...] = ()

    @field_validator("lines")
    @classmethod
    def _one_currency(cls, lines: tuple[PurchaseLine, ...]) -> tuple[PurchaseLine, ...]:
        if len({line.total.currency for line in lines}) > 1:
            raise ValueError("all purchase lines must be in one currency")
        return lines


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
