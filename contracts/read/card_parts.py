"""Parts of the customer card beyond contacts and counts: profile with history, interaction details,
documents, and refunds. Every part is folded from events only.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, Field, JsonValue

from contracts.attributes import AttributeName, AttributeSource, Car, Child
from contracts.read.kinds import ATTRIBUTE_KINDS, Contact, Inherited, Message, Name, Personal, PersonalKind

_PROFILE = Personal(*ATTRIBUTE_KINDS["birthday"])
_CHILDREN = Personal(*ATTRIBUTE_KINDS["children"])
_NAMES = Personal(*ATTRIBUTE_KINDS["name"])

#: How many changes of one attribute and how many documents the card carries; the log has them all.
ATTRIBUTE_HISTORY_CAP = 100
RECENT_DOCUMENTS = 100
RECENT_REFUNDS = 20


class AttributeChange(BaseModel):
    """One change of one attribute: the value it got (None when cleared), when, why and by whom.

    ``event_id`` is the event that made the change: an attribute event, or the interaction whose
    provider told us the value (then it is also ``source_event_id``).
    """

    value: Annotated[JsonValue, Inherited()] = None
    cleared: bool = False
    at: datetime
    position: int
    event_id: UUID
    source_event_id: UUID
    source: AttributeSource
    provider: str | None = None
    actor: str | None = None


class Profile(BaseModel):
    """The current value of every profile attribute (None: not known). Field names = AttributeName."""

    name: Name | None = None
    birthday: Annotated[date | None, _PROFILE] = None
    children: Annotated[list[Child] | None, _CHILDREN] = None
    car: Car | None = None
    preferences: list[str] | None = None
    language: str | None = None
    consent_email: bool | None = None
    consent_sms: bool | None = None
    consent_phone: bool | None = None
    consent_messaging: bool | None = None


class ProfileHistory(BaseModel):
    """Per attribute, its changes oldest first (the newest :data:`ATTRIBUTE_HISTORY_CAP`)."""

    name: Annotated[list[AttributeChange], _NAMES] = Field(default_factory=list)
    birthday: Annotated[list[AttributeChange], _PROFILE] = Field(default_factory=list)
    children: Annotated[list[AttributeChange], _CHILDREN] = Field(default_factory=list)
    car: list[AttributeChange] = Field(default_factory=list)
    preferences: list[AttributeChange] = Field(default_factory=list)
    language: list[AttributeChange] = Field(default_factory=list)
    consent_email: list[AttributeChange] = Field(default_factory=list)
    consent_sms: list[AttributeChange] = Field(default_factory=list)
    consent_phone: list[AttributeChange] = Field(default_factory=list)
    consent_messaging: list[AttributeChange] = Field(default_factory=list)

    def of(self, name: AttributeName) -> list[AttributeChange]:
        changes: list[AttributeChange] = getattr(self, name.value)
        return changes


class RecordingView(BaseModel):
    """A call's recording in the blob store."""

    sha256: str
    size_bytes: int
    content_type: str
    duration_s: int | None = None
    event_id: UUID


class InteractionDetails(BaseModel):
    """What is particular to an interaction's kind; fields of other kinds stay None.

    Letters: subject, message and reply ids, attachment count. Chats and social messages: the
    conversation (and network). Calls: id, duration, outcome, agent and, once fetched, the recording.
    """

    subject: Message | None = None
    message_id: Contact | None = None  # an email's Message-ID names the sender's mail domain, often more
    in_reply_to: Contact | None = None
    attachment_count: int | None = None
    conversation_id: Contact | None = None  # a WhatsApp conversation is the phone number
    network: str | None = None
    call_id: str | None = None
    duration_s: int | None = None
    call_status: str | None = None
    agent: str | None = None
    recording: Annotated[RecordingView | None, Personal(PersonalKind.DOCUMENTS)] = None


class DocumentView(BaseModel):
    """A file kept for the customer: an email attachment, a call recording, a file of a chat or social
    message (``media``) or a document staff uploaded.

    ``sha256`` addresses its bytes in the blob store (None for an attachment whose bytes were not
    kept); ``event_id`` is the event that brought it.
    """

    kind: Literal["attachment", "recording", "media", "upload"]
    sha256: str | None = None
    size_bytes: int
    content_type: str
    filename: Annotated[str | None, Personal(PersonalKind.DOCUMENTS)] = None
    title: Annotated[str | None, Personal(PersonalKind.DOCUMENTS)] = None
    event_id: UUID
    position: int
    occurred_at: datetime
    actor: str | None = None


class RefundView(BaseModel):
    position: int
    order_id: str
    refund_id: str
    provider: str
    occurred_at: datetime
    amount: Decimal
    currency: str
    reason: Message | None = None
