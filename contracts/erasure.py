"""The right to erasure: the event that records a customer was forgotten (crypto-shredded).

The event itself carries nothing personal (who asked, when, a reason code, which customers' keys were
destroyed and which raw blobs were deleted), so it stays readable for ever and explains to an auditor
why that customer's fields read as erased.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal
from uuid import UUID

from pydantic import Field, StringConstraints

from contracts.customer import CustomerEvent
from contracts.evidence import SHA256_PATTERN
from contracts.sales import StaffId

BlobName = Annotated[str, StringConstraints(pattern=SHA256_PATTERN)]


class CustomerForgotten(CustomerEvent):
    """``customer_id`` (and every customer merged into it, ``forgotten_ids``) was forgotten by ``actor``.

    Their data keys are destroyed: from this event on, every personal field of their events reads as
    erased. ``reason`` is a short code or ticket reference (``gdpr_request``, ``DSR-1234``), never
    free text about the person. ``erased_blobs`` are the raw deliveries and files that only these
    customers' events referenced, deleted from the blob store.
    """

    EVENT_TYPE: ClassVar[str] = "customer.forgotten"
    event_type: Literal["customer.forgotten"] = "customer.forgotten"
    schema_version: Literal[1] = 1
    forgotten_ids: tuple[UUID, ...] = Field(min_length=1, max_length=1000)
    actor: StaffId
    reason: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")
    erased_blobs: tuple[BlobName, ...] = Field(default=(), max_length=100_000)


ERASURE_EVENTS: tuple[type[CustomerEvent], ...] = (CustomerForgotten,)
