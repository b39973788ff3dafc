"""What a batch of interactions needs to know about identities, read once and kept current in memory.

The one-at-a-time writer reads, for each event, who holds the sender's identities, how old those
customers are, which of them staff separated and which identities they hold (for per-customer limits),
then writes what it decided, so the next event reads the store as it now is. :class:`KnownIdentities`
holds the same facts for every identity of a batch, read in a few set-based queries before the first
event, and applies each decision to itself exactly as the store would change (links add holders, a
merge moves the absorbed customer's identities to the survivor, a new customer is younger than every
customer before it). Each event is then resolved as the one-at-a-time writer would resolve it, with
no query in between. Pure: no I/O here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from uuid import UUID

from contracts import Identity, InteractionEvent, derived_event_id
from contracts.identity_rules import IdentityRules
from plumbing.identity_index import is_reference_key
from services.timeline.resolve import BLOCKED, Resolution, Skipped, resolve

#: Seniority of customers a batch creates: after every stored stream's first position, in batch order.
#: (A position of the store never comes near it; unknown seniority, 2**63, still sorts last.)
NEW_CUSTOMER_SENIORITY = 2**62


@dataclass
class KnownIdentities:
    """The facts :func:`services.timeline.resolve.resolve` reads, for the identities of one batch.

    ``owners``: identity key -> its customers (keys of the batch only: the only ones looked up);
    ``seniority``: customer -> first position of its stream; ``separated``: pairs staff un-merged;
    ``holdings``: customer -> the person identity keys it holds, all of them (None when the rules limit
    nothing per customer: then they are never read).
    """

    owners: dict[str, list[UUID]]
    seniority: dict[UUID, int]
    separated: set[frozenset[UUID]]
    holdings: dict[UUID, set[str]] | None
    _created: int = 0
    _keys_of: dict[UUID, set[str]] = field(default_factory=dict)  # customer -> batch keys it holds
    #: identity key -> whether ``_blocked_by`` blocks it: a busy sender comes many times in a batch, and
    #: the rules' lists and patterns are matched once per identity, not once per event.
    _blocked: dict[str, bool] = field(default_factory=dict)
    _blocked_by: IdentityRules | None = None

    @classmethod
    def read(
        cls,
        owners: Mapping[str, Sequence[UUID]],
        seniority: Mapping[UUID, int],
        separated: set[frozenset[UUID]],
        holdings: Mapping[UUID, Sequence[str]] | None,
    ) -> KnownIdentities:
        """From what the store said before the batch's first event."""
        known = cls(
            owners={key: list(held) for key, held in owners.items()},
            seniority=dict(seniority),
            separated=separated,
            holdings=None if holdings is None else {c: set(keys) for c, keys in holdings.items()},
        )
        for key, held in known.owners.items():
            for customer in held:
                known._keys_of.setdefault(customer, set()).add(key)
        return known

    def resolve(self, event: InteractionEvent, rules: IdentityRules) -> Resolution:
        """Decide ``event`` on the facts as they stand after the events before it."""
        return self.resolve_identities(event.sender.identities, event.event_id, rules)

    def resolve_identities(
        self, identities: Sequence[Identity], cause_id: UUID, rules: IdentityRules
    ) -> Resolution:
        """:meth:`resolve` for identities that did not come with an interaction (``hub import customers``
        rows); ``cause_id`` is the id a new customer's id is derived from."""
        known = self._known_customer(identities, rules)
        if known is not None:
            return known
        mine = {i.key: tuple(self.owners[i.key]) for i in identities if self.owners.get(i.key)}
        candidates = {customer for held in mine.values() for customer in held}
        return resolve(
            identities,
            mine,
            {customer: self.seniority[customer] for customer in candidates if customer in self.seniority},
            derived_event_id(cause_id, "customer"),
            rules,
            separated=[pair for pair in self.separated if pair <= candidates],
            holdings=None
            if self.holdings is None
            else {customer: self.holdings.get(customer, set()) for customer in candidates},
        )

    def _known_customer(self, identities: Sequence[Identity], rules: IdentityRules) -> Resolution | None:
        """The resolution of a sender all of whose usable identities one customer holds, and nobody else:
        most events of a busy store. :func:`resolve` decides the same, at several times the cost: no
        merge (one customer), no link (it holds them all), blocked identities skipped; ``None`` for any
        other sender (a unit test checks the two agree)."""
        if rules is not self._blocked_by:
            self._blocked, self._blocked_by = {}, rules
        known_blocked = self._blocked
        customer: UUID | None = None
        blocked: list[Skipped] = []
        for key, identity in {identity.key: identity for identity in identities}.items():
            is_blocked = known_blocked.get(key)
            if is_blocked is None:
                is_blocked = known_blocked[key] = rules.is_blocked(identity)
            if is_blocked:
                blocked.append(Skipped(identity, BLOCKED))
                continue
            held = self.owners.get(key)
            if not held or len(held) > 1 or (customer is not None and held[0] != customer):
                return None
            customer = held[0]
        if customer is None:
            return None
        return Resolution(customer, is_new_customer=False, new_links=(), merges=(), skipped=tuple(blocked))

    def record(self, resolution: Resolution) -> None:
        """The store after ``resolution`` is written: merges first, then the links (as the writer writes)."""
        customer = resolution.customer_id
        if resolution.is_new_customer:
            self.seniority[customer] = NEW_CUSTOMER_SENIORITY + self._created
            self._created += 1
        survivor = resolution.survivor or customer
        for merge in resolution.merges:
            self._merge(merge.absorbed, survivor)
        for identity, _ in resolution.links:
            self._link(customer, identity.key)

    def _link(self, customer: UUID, key: str) -> None:
        self.owners.setdefault(key, []).append(customer)
        self._keys_of.setdefault(customer, set()).add(key)
        if self.holdings is not None and not is_reference_key(key):
            self.holdings.setdefault(customer, set()).add(key)

    def _merge(self, absorbed: UUID, survivor: UUID) -> None:
        """As ``plumbing.identity_index.merge_identities``: the absorbed customer's identities become the
        survivor's, held once where both held one."""
        moved = self._keys_of.pop(absorbed, set())
        for key in moved:
            held = self.owners[key]
            if survivor in held:
                held.remove(absorbed)
            else:
                held[held.index(absorbed)] = survivor
        self._keys_of.setdefault(survivor, set()).update(moved)
        if self.holdings is not None:
            self.holdings.setdefault(survivor, set()).update(self.holdings.pop(absorbed, set()))


@dataclass(frozen=True)
class Links:
    """Index change: ``identities`` now point at ``customer`` (evidence: ``evidence_event_id``)."""

    customer: UUID
    identities: tuple[Identity, ...]
    evidence_event_id: UUID


@dataclass(frozen=True)
class Moved:
    """Index change: ``absorbed``'s identities are ``survivor``'s now."""

    absorbed: UUID
    survivor: UUID
