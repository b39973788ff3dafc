"""Cards kept in memory between batches, so a busy customer's card is not parsed again every batch.

Parsing a stored card costs in proportion to the card's size, which grows with the customer's history;
the busiest customers are in nearly every batch. The cache is only an optimisation, never a source of
truth: an entry is used only while the stored row is exactly the version it was taken from (the row's
``last_position`` and its ``xmin``, the transaction that wrote that row version: every write, by anyone,
changes it, and a rolled-back write leaves the old one). So a batch that fails after changing cards, a
re-fold, an erasure or another instance writing the row all make the entry stale, and the card is read
from the table again. PostgreSQL transaction ids are unique across the cluster's databases.

Memory is bounded by ``max_bytes`` of card JSON (least recently used cards leave first), never by the
size of the store. A card is *taken* out while a batch changes it in place and put back only with the
version its batch wrote, so a failed batch cannot leave a half-changed card behind.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from uuid import UUID

from contracts.read.customer_card import CustomerCard

#: JSON bytes of cards a projection keeps by default (a process holds a few times that in objects).
DEFAULT_CACHE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class RowVersion:
    """Which write of a ``customer_cards`` row a card is: its ``last_position`` and ``xmin``."""

    last_position: int
    xmin: str


@dataclass(frozen=True)
class CachedCard:
    """A card held, the row version it is, and its size in JSON bytes."""

    card: CustomerCard
    version: RowVersion
    size: int


class CardCache:
    """Least recently used cards with the row version they match, at most ``max_bytes`` of JSON."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must be zero (no cache) or more")
        self.max_bytes = max_bytes
        self._entries: OrderedDict[UUID, CachedCard] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bytes(self) -> int:
        """JSON bytes of the cards held."""
        return self._bytes

    def take(self, customer_id: UUID) -> CachedCard | None:
        """Remove ``customer_id``'s card and return it with its row version (the caller checks that
        version against the table and owns the card from here: it may change it in place)."""
        entry = self._entries.pop(customer_id, None)
        if entry is not None:
            self._bytes -= entry.size
        return entry

    def drop(self, customer_id: UUID) -> None:
        """Forget ``customer_id``'s card (its row is gone or no longer current)."""
        entry = self._entries.pop(customer_id, None)
        if entry is not None:
            self._bytes -= entry.size

    def keep(self, card: CustomerCard, version: RowVersion, size: int) -> None:
        """Hold ``card`` as row ``version`` (``size`` bytes of JSON); evict the least recently used."""
        self.drop(card.customer_id)
        if size > self.max_bytes:
            return
        self._entries[card.customer_id] = CachedCard(card, version, size)
        self._bytes += size
        while self._bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= evicted.size
