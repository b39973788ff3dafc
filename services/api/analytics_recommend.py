"""Pure, explainable recommendations from co-purchase statistics ("customers who bought X also bought Y").

Over all customers' purchase histories (sets of items, sku else name): for an item Y the customer does
not own and an item X they do, support = customers who bought both, confidence = support / customers
who bought X, lift = confidence / (customers who bought Y / all buyers). Y's best pair (highest
confidence, then lift, then support) ranks it; every pair with support >= ``min_support`` is its evidence.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from uuid import UUID

from contracts.read.analytics import Evidence, Recommendation

Owned = Mapping[UUID, frozenset[str]]


def _pairs(owned: Owned, mine: frozenset[str]) -> tuple[Counter[str], Counter[tuple[str, str]]]:
    """How many customers own each item, and own each (item of mine, other item) together."""
    items: Counter[str] = Counter()
    pairs: Counter[tuple[str, str]] = Counter()
    for basket in owned.values():
        items.update(basket)
        for x in basket & mine:
            pairs.update((x, y) for y in basket - mine)
    return items, pairs


def recommend(
    owned: Owned,
    customer_id: UUID,
    *,
    limit: int = 5,
    min_support: int = 1,
    names: Mapping[str, str] | None = None,
) -> list[Recommendation]:
    """Up to ``limit`` items for ``customer_id``, best first, never one they own; each with evidence."""
    mine = owned.get(customer_id, frozenset())
    others = {c: basket for c, basket in owned.items() if c != customer_id}
    items, pairs = _pairs(others, mine)
    buyers = len(others)
    evidence: dict[str, list[Evidence]] = {}
    for (x, y), both in pairs.items():
        if both < min_support:
            continue
        confidence = both / items[x]
        lift = confidence / (items[y] / buyers)
        evidence.setdefault(y, []).append(
            Evidence(
                because_of=x,
                customers_with_both=both,
                customers_with_because=items[x],
                confidence=round(confidence, 6),
                lift=round(lift, 6),
            )
        )
    ranked = []
    for y, reasons in evidence.items():
        reasons.sort(key=lambda e: (-e.confidence, -e.lift, -e.customers_with_both, e.because_of))
        best = reasons[0]
        ranked.append(
            Recommendation(
                item=y,
                name=(names or {}).get(y, y),
                support=best.customers_with_both,
                confidence=best.confidence,
                lift=best.lift,
                evidence=reasons,
            )
        )
    ranked.sort(key=lambda r: (-r.confidence, -r.lift, -r.support, r.item))
    return ranked[:limit]


def popular(owned: Owned, customer_id: UUID, *, limit: int = 5) -> list[str]:
    """The baseline: the items most customers bought, that ``customer_id`` does not own."""
    mine = owned.get(customer_id, frozenset())
    counts: Counter[str] = Counter()
    for c, basket in owned.items():
        if c != customer_id:
            counts.update(basket - mine)
    return [item for item, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]]
