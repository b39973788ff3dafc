"""Offline evaluation of the co-purchase recommendations against a popularity baseline.

Seeded synthetic shop (deterministic for a seed): products come in families (a sofa, its cover, its
cushions...) plus popular staples; each customer favours one or two families and buys a few baskets,
mostly from them, sometimes staples. For every customer the LAST basket is held out; the model is the
one the API runs (:func:`services.api.analytics_recommend.recommend`) over everybody's remaining
history. A hit: an item of the held-out basket the customer did not already own is among the top K.
Customers whose held-out basket holds nothing new are not counted.

    .venv/bin/python -m bench.recommend_eval [--customers 2000] [--seed 7] [--k 5]
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from services.api.analytics_recommend import Owned, popular, recommend

FAMILIES = 25
FAMILY_SIZE = 5
STAPLES = 40


@dataclass(frozen=True)
class Shop:
    """Every customer's baskets, oldest first."""

    baskets: dict[uuid.UUID, list[frozenset[str]]]


def seeded_shop(customers: int, seed: int) -> Shop:
    rng = random.Random(seed)
    families = [[f"F{f:02d}-{i}" for i in range(FAMILY_SIZE)] for f in range(FAMILIES)]
    staples = [f"S{s:02d}" for s in range(STAPLES)]
    staple_weights = [1 / (rank + 1) for rank in range(STAPLES)]  # Zipf: a few staples sell a lot
    family_weights = [1 / (rank + 1) ** 0.5 for rank in range(FAMILIES)]
    baskets: dict[uuid.UUID, list[frozenset[str]]] = {}
    for n in range(customers):
        favourites = rng.choices(families, weights=family_weights, k=rng.choice((1, 2)))
        history = []
        for _ in range(rng.randint(2, 6)):
            items = set()
            for _ in range(rng.randint(1, 3)):
                if rng.random() < 0.7:
                    items.add(rng.choice(rng.choice(favourites)))
                else:
                    items.add(rng.choices(staples, weights=staple_weights)[0])
            history.append(frozenset(items))
        baskets[uuid.UUID(int=n + 1)] = history
    return Shop(baskets)


def split(shop: Shop) -> tuple[Owned, dict[uuid.UUID, frozenset[str]]]:
    """(what everyone owned before their last basket, each customer's new items in it)."""
    train: dict[uuid.UUID, frozenset[str]] = {}
    held: dict[uuid.UUID, frozenset[str]] = {}
    for customer, history in shop.baskets.items():
        owned = frozenset().union(*history[:-1])
        train[customer] = owned
        new = history[-1] - owned
        if new:
            held[customer] = new
    return train, held


def hit_rate(held: dict[uuid.UUID, frozenset[str]], top: Callable[[uuid.UUID], list[str]]) -> float:
    hits = sum(1 for customer, new in held.items() if new & set(top(customer)))
    return hits / len(held)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--k", type=int, default=5)
    args = parser.parse_args()
    shop = seeded_shop(args.customers, args.seed)
    train, held = split(shop)
    started = time.perf_counter()
    model = hit_rate(held, lambda c: [r.item for r in recommend(train, c, limit=args.k)])
    model_s = time.perf_counter() - started
    baseline = hit_rate(held, lambda c: popular(train, c, limit=args.k))
    print(
        f"customers: {args.customers}, seed {args.seed}; evaluated (last basket has a new item): {len(held)}"
    )
    print(f"hit rate @{args.k}: co-purchase {model:.3f}, popularity baseline {baseline:.3f}")
    print(f"co-purchase: {model_s / len(held) * 1000:.2f} ms per customer (all histories in memory)")


if __name__ == "__main__":
    main()
