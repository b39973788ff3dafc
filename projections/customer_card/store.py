"""SQL of the customer card projection: load cards, write cards, lookup and timeline rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from uuid import UUID

from contracts import (
    CustomerAbsorbed,
    CustomerRestored,
    CustomerUnmerged,
    IdentityLinked,
    IdentityUnlinked,
    InteractionEvent,
)
from contracts.base import STORED
from contracts.erasure import CustomerForgotten
from contracts.identity import is_transaction_reference
from contracts.personal import ERASED
from contracts.read.card_search import fold as fold_text
from contracts.read.card_search import search_terms
from contracts.read.customer_card import CustomerCard
from plumbing.eventstore import Interest, RecordedEvent
from plumbing.eventstore.postgres import Conn
from plumbing.projection import MIGRATIONS as CHECKPOINT_MIGRATIONS
from plumbing.sql_rows import columns
from projections.customer_card.card_cache import DEFAULT_CACHE_BYTES, CachedCard, CardCache, RowVersion
from projections.customer_card.evolve import Fact, evolve_in_place
from projections.customer_card.facts import to_event, to_fact
from projections.customer_card.refold import Refolded, refold

MIGRATIONS = (CHECKPOINT_MIGRATIONS, Path(__file__).parent / "migrations")


async def load_cards(
    conn: Conn, customer_ids: Iterable[UUID], cache: CardCache | None = None
) -> dict[UUID, CachedCard]:
    """The stored cards of ``customer_ids`` with their row versions; the caller owns them.

    A card ``cache`` holds at its current row version is taken from the cache and its JSON is not even
    sent; the others are parsed from their JSON text by pydantic (no dict in between).
    """
    ids = list(customer_ids)
    cache = cache if cache is not None else CardCache(0)
    held = {customer_id: entry for customer_id in ids if (entry := cache.take(customer_id)) is not None}
    cur = await conn.execute(
        "SELECT c.customer_id, c.last_position, c.xmin::text,"
        "   CASE WHEN k.last_position = c.last_position AND k.xmin = c.xmin::text THEN NULL"
        "   ELSE c.card::text END"
        " FROM customer_cards c"
        " LEFT JOIN unnest(%s::uuid[], %s::bigint[], %s::text[]) AS k (customer_id, last_position, xmin)"
        "   ON k.customer_id = c.customer_id"
        " WHERE c.customer_id = ANY(%s)",
        (
            list(held),
            [entry.version.last_position for entry in held.values()],
            [entry.version.xmin for entry in held.values()],
            ids,
        ),
    )
    loaded: dict[UUID, CachedCard] = {}
    for customer_id, last_position, xmin, text in await cur.fetchall():
        if text is None:
            loaded[customer_id] = held[customer_id]
        else:
            card = CustomerCard.model_validate_json(text, context=STORED)
            loaded[customer_id] = CachedCard(card, RowVersion(last_position, xmin), len(text))
    return loaded


def _term_source(card: CustomerCard) -> tuple[object, ...]:
    """What a card's search terms are made of (:func:`search_terms`), cheap to take and compare: a card
    whose source did not change keeps its terms, and its ``card_search`` rows are not rewritten."""
    return (card.merged_into, card.display_name, card.profile.name, *(view.value for view in card.identities))


async def _save_cards(
    conn: Conn, cards: Iterable[CustomerCard], term_sources: dict[UUID, tuple[object, ...]]
) -> dict[UUID, CachedCard]:
    """Upsert ``cards`` in one statement; returns each with the row version it wrote. Their JSON is
    written by pydantic (the document ``model_dump(mode="json")`` gives, without building it in Python
    first) and the arrays are sent binary: psycopg escapes text arrays element by element in Python,
    slower than the dump itself."""
    cards = list(cards)
    if not cards:
        return {}
    documents = [card.model_dump_json() for card in cards]
    cur = await conn.execute(
        "INSERT INTO customer_cards (customer_id, card, last_position)"
        " SELECT * FROM unnest(%b::uuid[], %b::jsonb[], %b::bigint[])"
        " ON CONFLICT (customer_id) DO UPDATE"
        " SET card = excluded.card, last_position = excluded.last_position, updated_at = now()"
        " RETURNING customer_id, last_position, xmin::text",
        ([card.customer_id for card in cards], documents, [card.last_position for card in cards]),
    )
    versions = {row[0]: RowVersion(row[1], row[2]) for row in await cur.fetchall()}
    await _save_search_terms(
        conn, [card for card in cards if term_sources.get(card.customer_id) != _term_source(card)]
    )
    return {
        card.customer_id: CachedCard(card, versions[card.customer_id], len(document))
        for card, document in zip(cards, documents, strict=True)
    }


async def _save_search_terms(conn: Conn, cards: Sequence[CustomerCard]) -> None:
    """Replace the search rows of ``cards`` with the terms they have now (none once merged away)."""
    if not cards:
        return
    await conn.execute(
        "DELETE FROM card_search WHERE customer_id = ANY(%s)", ([card.customer_id for card in cards],)
    )
    rows = [(card.customer_id, term) for card in cards for term in sorted(search_terms(card) - _ERASED_TERMS)]
    if rows:
        await conn.execute(
            "INSERT INTO card_search (customer_id, term) SELECT * FROM unnest(%b::uuid[], %b::text[])",
            ([customer for customer, _ in rows], [term for _, term in rows]),
        )


def _timeline_row(customer_id: UUID, position: int, event: InteractionEvent) -> tuple[object, ...]:
    return (
        customer_id,
        position,
        event.event_id,
        event.event_type,
        event.channel.value,
        event.provider,
        event.direction.value,
        event.summary,
        event.occurred_at,
    )


async def _insert_rows(
    conn: Conn, links: Sequence[tuple[str, UUID]], timeline: Sequence[tuple[object, ...]]
) -> None:
    """One statement per table (arrays, not a statement per row); rows already there are kept."""
    if links:
        await conn.execute(
            "INSERT INTO card_identities (identity_key, customer_id)"
            " SELECT * FROM unnest(%b::text[], %b::uuid[]) ON CONFLICT DO NOTHING",
            columns(links),
        )
    if timeline:
        await conn.execute(
            "INSERT INTO card_timeline (customer_id, position, event_id, event_type, channel, provider,"
            " direction, summary, occurred_at)"
            " SELECT * FROM unnest(%b::uuid[], %b::bigint[], %b::uuid[], %b::text[], %b::text[],"
            "   %b::text[], %b::text[], %b::text[], %b::timestamptz[])"
            " ON CONFLICT (customer_id, position) DO NOTHING",
            columns(timeline),
        )


class _PendingRows:
    """Lookup and timeline rows of incrementally folded facts, written in one round trip per table."""

    def __init__(self) -> None:
        self.links: list[tuple[str, UUID]] = []
        self.timeline: list[tuple[object, ...]] = []

    def add(self, fact: Fact) -> None:
        if isinstance(fact.event, IdentityLinked):
            identity = fact.event.identity
            if identity.value != ERASED and not is_transaction_reference(identity):  # as the card (evolve)
                self.links.append((identity.key, fact.customer_id))
        elif isinstance(fact.event, InteractionEvent):
            self.timeline.append(_timeline_row(fact.customer_id, fact.position, fact.event))

    async def flush(self, conn: Conn) -> None:
        """Write what is pending: before a re-fold rewrites rows, so the order of effects is the log's."""
        await _insert_rows(conn, self.links, self.timeline)
        self.links, self.timeline = [], []


async def _rewrite_rows(conn: Conn, customer_id: UUID, refolded: Refolded) -> None:
    """Make the lookup and timeline rows of ``customer_id`` those of its re-folded card.

    Rows of the events it now folds leave whichever customer held them (an absorbed one, or the
    former survivor of an undone merge), and rows of events it no longer folds leave it.
    """
    interactions = [
        (recorded.position, event)
        for recorded in refolded.events
        if isinstance(event := to_event(recorded), InteractionEvent)
    ]
    await conn.execute(
        "DELETE FROM card_timeline WHERE customer_id = %s OR event_id = ANY(%s)",
        (customer_id, [event.event_id for _, event in interactions]),
    )
    await conn.execute(
        "DELETE FROM card_identities WHERE customer_id = %s OR customer_id = ANY(%s)",
        (customer_id, list(refolded.absorbed_ids)),
    )
    identities = refolded.card.identities if refolded.card is not None else []
    await _insert_rows(
        conn,
        [(view.key, customer_id) for view in identities],
        [_timeline_row(customer_id, position, event) for position, event in interactions],
    )


#: Events after which a card is re-folded from the log instead of evolved: they change which events
#: the card is the fold of, or (a forget) what those events read as.
_REFOLDING = (CustomerAbsorbed, CustomerUnmerged, CustomerRestored, CustomerForgotten)
#: A forgotten customer's erased name is no search term.
_ERASED_TERMS = frozenset({fold_text(ERASED), *fold_text(ERASED).split(" ")})


async def _refold_forgotten(
    conn: Conn, fact: Fact, cards: dict[UUID, CustomerCard | None]
) -> dict[UUID, CustomerCard]:
    """The cards of customers merged into a forgotten one: their own cards still hold what they said
    before the merge. Only the cards: their lookup and timeline rows are the survivor's already."""
    assert isinstance(fact.event, CustomerForgotten)
    again: dict[UUID, CustomerCard] = {}
    for absorbed in fact.event.forgotten_ids:
        if absorbed == fact.customer_id:
            continue
        card = (await refold(conn, absorbed, fact.position)).card
        if card is not None:
            cards[absorbed] = again[absorbed] = card
    return again


async def _refold_survivors(
    conn: Conn, forgotten: CustomerCard, position: int, cards: dict[UUID, CustomerCard | None]
) -> dict[UUID, CustomerCard]:
    """A forgotten customer merged into another lives on in that card (and in its survivor's...):
    re-fold them, rows included, so they read the erased fields too."""
    again: dict[UUID, CustomerCard] = {}
    survivor, seen = forgotten.merged_into, {forgotten.customer_id}
    while survivor is not None and survivor not in seen:
        seen.add(survivor)
        refolded = await refold(conn, survivor, position)
        await _rewrite_rows(conn, survivor, refolded)
        if refolded.card is None:
            break
        cards[survivor] = again[survivor] = refolded.card
        survivor = refolded.card.merged_into
    return again


class CustomerCardProjection:
    """Builds ``customer_cards``, ``card_identities`` and ``card_timeline`` from the log."""

    name = "customer_card"
    #: A card is the fold of its customer's stream (deal, task and note streams are the pipeline's).
    interest = Interest(categories=frozenset({"customer"}))

    def __init__(self, cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        """``cache_bytes``: JSON bytes of cards kept between batches (:mod:`.card_cache`; 0: none)."""
        self.cache = CardCache(cache_bytes)

    async def apply(self, conn: Conn, events: Sequence[RecordedEvent]) -> None:
        facts = [fact for fact in map(to_fact, events) if fact is not None]
        if not facts:
            return
        loaded = await load_cards(conn, {fact.customer_id for fact in facts}, self.cache)
        cards: dict[UUID, CustomerCard | None] = {
            customer_id: entry.card for customer_id, entry in loaded.items()
        }
        term_sources = {customer_id: _term_source(entry.card) for customer_id, entry in loaded.items()}
        changed: dict[UUID, CustomerCard] = {}
        pending = _PendingRows()
        for fact in facts:
            before = cards.get(fact.customer_id)
            changed_now = False
            if isinstance(fact.event, _REFOLDING):
                if before is not None and fact.position <= before.last_position:
                    continue  # folded already (a replayed batch)
                await pending.flush(conn)
                if isinstance(fact.event, CustomerForgotten):
                    changed.update(await _refold_forgotten(conn, fact, cards))
                refolded = await refold(conn, fact.customer_id, fact.position)
                await _rewrite_rows(conn, fact.customer_id, refolded)
                after = refolded.card
                if isinstance(fact.event, CustomerForgotten) and after is not None:
                    changed.update(await _refold_survivors(conn, after, fact.position, cards))
            else:
                after, changed_now = evolve_in_place(before, fact)  # cards here are this batch's own
                if changed_now:
                    pending.add(fact)
                    if isinstance(fact.event, IdentityUnlinked):
                        await pending.flush(conn)
                        await conn.execute(
                            "DELETE FROM card_identities WHERE identity_key = %s AND customer_id = %s",
                            (fact.event.identity.key, fact.customer_id),
                        )
            cards[fact.customer_id] = after
            if after is not None and (after is not before or changed_now):
                changed[fact.customer_id] = after
        await pending.flush(conn)
        saved = await _save_cards(conn, changed.values(), term_sources)
        self._keep(cards, loaded, saved)

    def _keep(
        self,
        cards: dict[UUID, CustomerCard | None],
        loaded: dict[UUID, CachedCard],
        saved: dict[UUID, CachedCard],
    ) -> None:
        """Put the batch's cards back in the cache: those it wrote as the row version it wrote (stale
        if the transaction does not commit), the others as they were loaded."""
        for customer_id, card in cards.items():
            entry = saved.get(customer_id) or loaded.get(customer_id)
            if card is not None and entry is not None and entry.card is card:
                self.cache.keep(card, entry.version, entry.size)
