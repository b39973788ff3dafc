"""Documents kept for a customer: files staff upload (contracts, scans, signed forms).

The bytes live in the content-addressed blob store; the event carries their address, type and
size, so the card can list them and a reader can check what it fetches against the hash.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from contracts.customer import CustomerEvent
from contracts.evidence import BlobRef

#: ``type/subtype`` with optional parameters, as HTTP sends it.
CONTENT_TYPE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}(;.*)?$"


class DocumentAttached(CustomerEvent):
    """A staff member (``actor``) attached the document ``document`` to the customer."""

    EVENT_TYPE: ClassVar[str] = "customer.document.attached"
    event_type: Literal["customer.document.attached"] = "customer.document.attached"
    schema_version: Literal[1] = 1
    document: BlobRef
    content_type: str = Field(max_length=200, pattern=CONTENT_TYPE_PATTERN)
    filename: str | None = Field(default=None, min_length=1, max_length=300)
    title: str | None = Field(default=None, min_length=1, max_length=300)
    actor: str = Field(min_length=1, max_length=200)


DOCUMENT_EVENTS: tuple[type[CustomerEvent], ...] = (DocumentAttached,)
