"""Identity resolution under configurable rules: a pure decision, no I/O.

Given the sender's normalised identities, who already holds each of them, how old those customers
are, the rules and the pairs staff separated, :func:`resolve` decides which customer the event
belongs to, which identities become linked to it, which customers merge (and by which rule, on
which evidence) and which merges the rules refuse. The same function serves the timeline writer
and ``hub identity simulate``, so a dry run decides exactly as the writer would.

Terms used below:

* **usable** identity: not blocked, and not held by more customers than its kind's
  ``max_customers_per_value`` (a value that shared means nobody).
* **strong** identity: usable, of a kind that may merge, held by exactly one customer. Only strong
  identities prove that two customers are one person.
* **weak** identity: usable and known, but not strong: of a non-merging kind (a family phone) or
  held by several customers already (ambiguous).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

from contracts import Identity
from contracts.identity_rules import DEFAULT_RULES, Group, IdentityRules, group_of, group_of_key

#: The rule recorded on links made to a customer found by exact match of a normalised identity.
EXACT_MATCH = "exact_match"
#: The rule recorded on the links of a customer the event creates.
NEW_CUSTOMER = "new_customer"
#: The rule recorded when a weak identity (non-merging kind, or shared already) is attached to one more
#: customer.
SHARED = "shared"
#: Reasons an identity was left out, or a merge refused.
BLOCKED = "blocked"
TOO_SHARED = "too_shared"
HELD_ELSEWHERE = "held_by_another_customer"
SEPARATED = "separated"

_UNKNOWN_SENIORITY = 2**63


def merge_rule(identity: Identity) -> str:
    """``auto:<kind>``: the rule name recorded on a merge proved by an identity of that kind."""
    return f"auto:{identity.kind}"


def limit_reason(group: Group) -> str:
    """``limit:<kind>`` or ``limit:<kind>:<provider>``: a per-customer limit would be exceeded."""
    kind, provider = group
    return f"limit:{kind}" if provider is None else f"limit:{kind}:{provider}"


@dataclass(frozen=True)
class Merge:
    """``absorbed`` becomes part of the survivor, allowed by ``rule``; ``shared`` are the identities
    of the event, held by either customer, that proved it."""

    absorbed: UUID
    shared: tuple[Identity, ...]
    rule: str


@dataclass(frozen=True)
class RefusedMerge:
    """The event tied ``customer`` to ``other`` (by ``identities``) but ``reason`` kept them apart."""

    customer: UUID
    other: UUID
    reason: str
    identities: tuple[Identity, ...]


@dataclass(frozen=True)
class Skipped:
    """An identity of the event that was neither matched nor linked, and why."""

    identity: Identity
    reason: str


@dataclass(frozen=True)
class Resolution:
    """Which customer an interaction belongs to, what becomes linked and what gets merged.

    ``new_links`` were nobody's; ``shared_links`` are weak identities other customers hold too, now
    attached to this one as well. ``survivor`` absorbs the ``merges`` (usually ``customer_id``; another
    customer when a refused merge sent the event to a customer of higher priority). ``refused``
    merges and ``skipped`` identities explain what the rules did not do.
    """

    customer_id: UUID
    is_new_customer: bool
    new_links: tuple[Identity, ...]
    merges: tuple[Merge, ...]
    shared_links: tuple[Identity, ...] = ()
    refused: tuple[RefusedMerge, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    survivor: UUID | None = None

    @property
    def links(self) -> tuple[tuple[Identity, str], ...]:
        """Every identity newly attached to :attr:`customer_id`, with the rule to record on its link."""
        rule = NEW_CUSTOMER if self.is_new_customer else EXACT_MATCH
        return (
            *((identity, rule) for identity in self.new_links),
            *((identity, SHARED) for identity in self.shared_links),
        )


@dataclass(frozen=True)
class _Facts:
    """What resolve reads, in one place, so the small steps below take one argument."""

    owners: Mapping[str, Sequence[UUID]]
    seniority: Mapping[UUID, int]
    rules: IdentityRules
    separated: frozenset[frozenset[UUID]]
    holdings: Mapping[UUID, Collection[str]]

    def held_by(self, identity: Identity) -> Sequence[UUID]:
        return self.owners.get(identity.key, ())

    def age(self, customer: UUID) -> tuple[int, str]:
        """Sort key: older (lower first position) first, unknown seniority last, then by id."""
        return self.seniority.get(customer, _UNKNOWN_SENIORITY), str(customer)

    def is_strong(self, identity: Identity) -> bool:
        return self.rules.may_merge(identity) and len(self.held_by(identity)) == 1

    def ranked(self, identities: Iterable[Identity]) -> list[Identity]:
        """Highest priority first; the event's order among equals (``sorted`` is stable)."""
        return sorted(identities, key=lambda identity: -self.rules.priority(identity.kind))


def resolve(
    identities: Sequence[Identity],
    owners: Mapping[str, Sequence[UUID]],
    seniority: Mapping[UUID, int],
    new_customer_id: UUID,
    rules: IdentityRules = DEFAULT_RULES,
    separated: Collection[frozenset[UUID]] = (),
    holdings: Mapping[UUID, Collection[str]] | None = None,
) -> Resolution:
    """Decide the customer of an event whose sender has ``identities``.

    ``owners`` maps identity keys already known to the customers holding them; ``seniority`` orders
    customers (lower is older); ``separated`` are pairs staff un-merged, never merged again here;
    ``holdings`` are the identity keys each involved customer holds (needed only for
    ``max_per_customer`` limits).

    1. Blocked and too-shared identities are skipped: they neither match nor link.
    2. Customers reached by strong identities merge into the oldest of them, unless separated from
       it (or from one it absorbed) or the merge would exceed a per-customer limit: those stay apart.
    3. The event goes to the customer of its highest-priority strong identity (the survivor when
       merged). Without one, a new identity makes a new customer: a weak identity never vouches for a
       new one (a new email paid with the family phone is not the phone holder's). Without a new one,
       the event goes to the oldest holder of its highest-priority weak identity.
    4. Unknown identities are linked to that customer and weak ones attached to it too (shared), each
       within its kind's ``max_per_customer``; strong identities of customers kept apart stay theirs.
    """
    facts = _Facts(owners, seniority, rules, frozenset(separated), holdings or {})
    usable, skipped = _usable(identities, facts)
    merges, refused, members = _merges(usable, facts)
    customer_id, is_new = _customer(usable, facts, members, new_customer_id)
    cluster = members if customer_id in members else {customer_id}
    new_links, shared_links, unlinked = _links(usable, facts, cluster)
    return Resolution(
        customer_id=customer_id,
        is_new_customer=is_new,
        new_links=new_links,
        merges=merges,
        shared_links=shared_links,
        refused=refused,
        skipped=(*skipped, *unlinked),
        survivor=min(members, key=facts.age) if merges else None,
    )


def _usable(identities: Sequence[Identity], facts: _Facts) -> tuple[list[Identity], list[Skipped]]:
    """The event's distinct identities that may match and link, in the event's order, and the rest."""
    usable: list[Identity] = []
    skipped: list[Skipped] = []
    for identity in {identity.key: identity for identity in identities}.values():
        cap = facts.rules.max_customers_per_value(identity.kind)
        if facts.rules.is_blocked(identity):
            skipped.append(Skipped(identity, BLOCKED))
        elif cap is not None and len(facts.held_by(identity)) > cap:
            skipped.append(Skipped(identity, TOO_SHARED))
        else:
            usable.append(identity)
    return usable, skipped


def _merges(
    usable: list[Identity], facts: _Facts
) -> tuple[tuple[Merge, ...], tuple[RefusedMerge, ...], set[UUID]]:
    """Merge every customer reached by a strong identity into the oldest one, where the rules allow.

    Returns the merges, the refusals and the survivor's cluster (survivor + absorbed; empty when no
    customer is reached by a strong identity)."""
    strong = [identity for identity in usable if facts.is_strong(identity)]
    proof: dict[UUID, list[Identity]] = {}
    for identity in strong:
        proof.setdefault(facts.held_by(identity)[0], []).append(identity)
    if not proof:
        return (), (), set()
    survivor, *others = sorted(proof, key=facts.age)
    members = {survivor}
    held = set(facts.holdings.get(survivor, ()))
    merges: list[Merge] = []
    refused: list[RefusedMerge] = []
    for customer in others:
        evidence = tuple(i for i in strong if facts.held_by(i)[0] in (survivor, customer))
        reason = _refusal(customer, members, held, facts)
        if reason is not None:
            refused.append(RefusedMerge(customer, survivor, reason, evidence))
            continue
        members.add(customer)
        held |= set(facts.holdings.get(customer, ()))
        merges.append(Merge(customer, evidence, merge_rule(facts.ranked(proof[customer])[0])))
    return tuple(merges), tuple(refused), members


def _refusal(customer: UUID, members: set[UUID], held: set[str], facts: _Facts) -> str | None:
    """Why ``customer`` may not join the cluster ``members`` (holding ``held``), or None."""
    if any(frozenset((customer, member)) in facts.separated for member in members):
        return SEPARATED
    incoming = set(facts.holdings.get(customer, ())) - held
    for group in sorted({group_of_key(key) for key in incoming}, key=str):
        limit = facts.rules.max_per_customer(group)
        in_group = [key for key in held | incoming if group_of_key(key) == group]
        if limit is not None and len(in_group) > limit:
            return limit_reason(group)
    return None


def _customer(
    usable: list[Identity], facts: _Facts, members: set[UUID], new_customer_id: UUID
) -> tuple[UUID, bool]:
    """The event's customer and whether it is new (step 3 of :func:`resolve`)."""
    ranked = facts.ranked(usable)
    for identity in ranked:
        if facts.is_strong(identity):
            held = facts.held_by(identity)[0]
            return (min(members, key=facts.age) if held in members else held), False
    if any(not facts.held_by(identity) for identity in usable):
        return new_customer_id, True  # weak identities prove nothing about a new one: no guessing
    for identity in ranked:  # only weak identities are left, and nothing new to link
        return min(facts.held_by(identity), key=facts.age), False
    return new_customer_id, True  # nothing usable: the event speaks for a customer of its own


def _links(
    usable: list[Identity], facts: _Facts, cluster: set[UUID]
) -> tuple[tuple[Identity, ...], tuple[Identity, ...], list[Skipped]]:
    """Identities to attach to the customer ``cluster`` becomes: (new, shared, left out by a limit)."""
    counts: dict[Group, set[str]] = {}
    for customer in cluster:
        for key in facts.holdings.get(customer, ()):
            counts.setdefault(group_of_key(key), set()).add(key)
    new: list[Identity] = []
    shared: list[Identity] = []
    skipped: list[Skipped] = []
    for identity in usable:
        held = facts.held_by(identity)
        if cluster.intersection(held):
            continue
        if held and facts.is_strong(identity):
            skipped.append(Skipped(identity, HELD_ELSEWHERE))
            continue
        group = group_of(identity)
        limit = facts.rules.max_per_customer(group)
        in_group = counts.setdefault(group, set())
        if limit is not None and len(in_group) >= limit:
            skipped.append(Skipped(identity, limit_reason(group)))
            continue
        in_group.add(identity.key)
        (shared if held else new).append(identity)
    return tuple(new), tuple(shared), skipped
