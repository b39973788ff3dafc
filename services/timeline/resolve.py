"""Identity resolution by exact match on normalised identities: a pure decision, no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

from contracts import Identity

#: The rule recorded on links and merges made by exact match of a normalised identity.
EXACT_MATCH = "exact_match"
NEW_CUSTOMER = "new_customer"


@dataclass(frozen=True)
class Merge:
    """``absorbed`` becomes part of the survivor; ``shared`` are the identities that proved it."""

    absorbed: UUID
    shared: tuple[Identity, ...]


@dataclass(frozen=True)
class Resolution:
    """Which customer an interaction belongs to, what becomes linked and what gets merged."""

    customer_id: UUID
    is_new_customer: bool
    new_links: tuple[Identity, ...]
    merges: tuple[Merge, ...]


def resolve(
    identities: Sequence[Identity],
    owners: Mapping[str, UUID],
    seniority: Mapping[UUID, int],
    new_customer_id: UUID,
) -> Resolution:
    """Decide the customer of an event whose sender has ``identities``.

    ``owners`` maps identity keys already known to their customer; ``seniority`` orders those
    customers (lower is older). When the identities belong to several customers, the oldest one
    survives and absorbs the others: one event proved they are one person. Unknown identities
    are linked to the survivor; with no known identity a new customer is made.
    """
    unique = list({identity.key: identity for identity in identities}.values())
    known = [(identity, owners[identity.key]) for identity in unique if identity.key in owners]
    if not known:
        return Resolution(new_customer_id, True, tuple(unique), ())
    customers = sorted({customer for _, customer in known}, key=lambda c: (seniority.get(c, 2**63), str(c)))
    survivor = customers[0]
    merges = tuple(
        Merge(absorbed, tuple(identity for identity, owner in known if owner in (absorbed, survivor)))
        for absorbed in customers[1:]
    )
    return Resolution(
        customer_id=survivor,
        is_new_customer=False,
        new_links=tuple(identity for identity in unique if identity.key not in owners),
        merges=merges,
    )
