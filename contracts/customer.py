"""Events the hub itself records on a customer's stream (identity links, later merges)."""

from __future__ import annotations

from typing import ClassVar, Literal
from uuid import UUID

from pydantic import Field

from contracts.base import Envelope
from contracts.identity import Identity

_STREAM_PREFIX = "customer-"


def customer_stream(customer_id: UUID) -> str:
    """The event store stream of a customer's timeline; the writer appends there, readers fold it."""
    return f"{_STREAM_PREFIX}{customer_id}"


def stream_customer(stream_id: str) -> UUID | None:
    """The customer whose timeline ``stream_id`` is, or None for a stream of another kind."""
    if not stream_id.startswith(_STREAM_PREFIX):
        return None
    return UUID(stream_id.removeprefix(_STREAM_PREFIX))


class CustomerEvent(Envelope):
    """Base of events about a customer rather than an interaction."""

    customer_id: UUID


class IdentityLinked(CustomerEvent):
    """An identity now points at this customer; ``rule`` and ``evidence_event_id`` explain why.

    A staff member's link (rule ``staff``) names them in ``actor``; its evidence is the command
    itself, so ``evidence_event_id`` is the link's own id.
    """

    EVENT_TYPE: ClassVar[str] = "customer.identity.linked"
    event_type: Literal["customer.identity.linked"] = "customer.identity.linked"
    schema_version: Literal[1] = 1
    identity: Identity
    rule: str = Field(min_length=1, max_length=100)
    evidence_event_id: UUID
    actor: str | None = Field(default=None, max_length=200)


class IdentityUnlinked(CustomerEvent):
    """An identity no longer points at this customer: a staff member (``actor``) removed it, or
    corrected it (an unlink and a link of the right value, in one command).

    Lookups by the identity stop finding this customer; the next interaction carrying it is
    resolved as if it had never been seen.
    """

    EVENT_TYPE: ClassVar[str] = "customer.identity.unlinked"
    event_type: Literal["customer.identity.unlinked"] = "customer.identity.unlinked"
    schema_version: Literal[1] = 1
    identity: Identity
    actor: str = Field(min_length=1, max_length=200)
    reason: str | None = Field(default=None, max_length=1000)


class CustomerMergedInto(CustomerEvent):
    """On the absorbed customer's stream: from now on ``survivor_id`` speaks for this customer.

    A merge by a rule names the identities seen together in ``shared_identities``; a merge by a
    staff member (rule ``staff``) names them in ``actor`` and may share none.
    """

    EVENT_TYPE: ClassVar[str] = "customer.merged_into"
    event_type: Literal["customer.merged_into"] = "customer.merged_into"
    schema_version: Literal[1] = 1
    survivor_id: UUID
    rule: str = Field(min_length=1, max_length=100)
    evidence_event_id: UUID
    shared_identities: tuple[Identity, ...] = ()
    actor: str | None = Field(default=None, max_length=200)


class CustomerAbsorbed(CustomerEvent):
    """On the survivor's stream: ``absorbed_id``'s history and identities are now this customer's.

    ``shared_identities`` are the evidence: identities of both customers seen in one event.
    """

    EVENT_TYPE: ClassVar[str] = "customer.absorbed"
    event_type: Literal["customer.absorbed"] = "customer.absorbed"
    schema_version: Literal[1] = 1
    absorbed_id: UUID
    rule: str = Field(min_length=1, max_length=100)
    evidence_event_id: UUID
    shared_identities: tuple[Identity, ...] = ()
    actor: str | None = Field(default=None, max_length=200)


class CustomerUnmerged(CustomerEvent):
    """On the survivor's stream: the merge ``merge_event_id`` (a :class:`CustomerAbsorbed` on this
    stream) is undone and ``restored_id`` is a customer of its own again.

    ``returned_identities`` point at ``restored_id`` again. ``moved_event_ids`` are events appended
    to this stream after the merge that belong to the restored customer (their sender's identities
    are all the restored customer's, and the identity links they caused); projections fold them
    into the restored customer and out of this one. Undone by a staff member named in ``actor``.
    """

    EVENT_TYPE: ClassVar[str] = "customer.unmerged"
    event_type: Literal["customer.unmerged"] = "customer.unmerged"
    schema_version: Literal[1] = 1
    restored_id: UUID
    merge_event_id: UUID
    returned_identities: tuple[Identity, ...] = ()
    moved_event_ids: tuple[UUID, ...] = ()
    actor: str = Field(min_length=1, max_length=200)
    reason: str | None = Field(default=None, max_length=1000)


class CustomerRestored(CustomerEvent):
    """On the restored customer's stream, right after :class:`CustomerUnmerged` on the survivor's:
    this customer speaks for itself again; the same identities and moved events, seen from here."""

    EVENT_TYPE: ClassVar[str] = "customer.restored"
    event_type: Literal["customer.restored"] = "customer.restored"
    schema_version: Literal[1] = 1
    survivor_id: UUID
    merge_event_id: UUID
    unmerge_event_id: UUID
    returned_identities: tuple[Identity, ...] = ()
    moved_event_ids: tuple[UUID, ...] = ()
    actor: str = Field(min_length=1, max_length=200)
    reason: str | None = Field(default=None, max_length=1000)


CUSTOMER_EVENTS: tuple[type[CustomerEvent], ...] = (
    IdentityLinked,
    IdentityUnlinked,
    CustomerMergedInto,
    CustomerAbsorbed,
    CustomerUnmerged,
    CustomerRestored,
)
