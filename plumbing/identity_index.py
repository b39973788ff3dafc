"""The write-side identity index: which customers each normalised identity belongs to.

Written only in the transaction that appends the ``customer.identity.linked`` event it mirrors
(by the timeline writer, and by staff commands), so it never points at a customer whose events
were not written; it can be rebuilt from those events. The tables are created by the timeline
writer's migrations. This module is the only one that reads or writes them.

Most identities have one customer. A weak identity (a kind the rules do not merge on, such as a
family phone) may have several: one row per (identity, customer). Which of them an event known only
by that identity goes to is the resolver's decision (``services.timeline.resolve``), not the index's.

Two tables, one index: a customer's person identities (emails, phones, handles, ids in other systems)
are ``identity_index``; transaction references (an order or payment id, which a later refund names:
:data:`contracts.identity.TRANSACTION_REFERENCES`) are ``transaction_references``, because a buyer gains
one per order. Every function here takes and returns both alike, except :func:`holdings`, which gives a
customer's person identities only: what per-customer limits count, and a handful whatever its history.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Final
from uuid import UUID

from psycopg import sql

from contracts import Identity, IdentityKind, customer_stream
from contracts.identity import TRANSACTION_REFERENCES
from plumbing.eventstore.postgres import Conn

_REFERENCE_PREFIXES: Final = tuple(f"{IdentityKind.EXTERNAL}:{p}:" for p in sorted(TRANSACTION_REFERENCES))
#: (table, its key column): person identities, then transaction references.
_PERSON: Final = (sql.Identifier("identity_index"), sql.Identifier("identity_key"))
_REFERENCE: Final = (sql.Identifier("transaction_references"), sql.Identifier("reference_key"))
_TABLES: Final = (_PERSON, _REFERENCE)


def is_reference_key(key: str) -> bool:
    """Whether ``key`` names a transaction (kept in ``transaction_references``), not a person."""
    return key.startswith(_REFERENCE_PREFIXES)


def _split(keys: Iterable[str]) -> tuple[list[str], list[str]]:
    """(person identity keys, transaction reference keys)."""
    person: list[str] = []
    references: list[str] = []
    for key in keys:
        (references if is_reference_key(key) else person).append(key)
    return person, references


async def owners(conn: Conn, keys: Sequence[str]) -> dict[str, tuple[UUID, ...]]:
    """identity key -> its customers, in the order they got it, for the keys already linked."""
    person, references = _split(keys)
    cur = await conn.execute(
        "SELECT identity_key, customer_id FROM ("
        " SELECT identity_key, customer_id, linked_at FROM identity_index"
        " WHERE identity_key = ANY(%b::text[])"
        " UNION ALL SELECT reference_key, customer_id, linked_at FROM transaction_references"
        " WHERE reference_key = ANY(%b::text[])) AS held ORDER BY linked_at, customer_id",
        (person, references),
    )
    found: dict[str, tuple[UUID, ...]] = {}
    for key, customer in await cur.fetchall():
        found[key] = (*found.get(key, ()), customer)
    return found


#: The prefix of a customer's stream id (``customer-<uuid>``), for the first positions read in SQL.
_CUSTOMER_STREAM_PREFIX: Final = customer_stream(UUID(int=0)).removesuffix(str(UUID(int=0)))

#: :func:`owners`, and about the customers found, the first positions of their streams, the pairs of them
#: staff separated and the person keys each holds, as one statement: rows tagged by ``part`` (0 owners in
#: :func:`owners`' order, 1 first positions, 2 separated pairs, 3 holdings).
_FACTS: Final = """
WITH held AS (
  SELECT identity_key AS key, customer_id, linked_at FROM identity_index
   WHERE identity_key = ANY(%(person)b::text[])
  UNION ALL SELECT reference_key, customer_id, linked_at FROM transaction_references
   WHERE reference_key = ANY(%(references)b::text[])
), whose AS (SELECT DISTINCT customer_id FROM held)
SELECT 0 AS part, key, customer_id, NULL::uuid AS other, NULL::bigint AS position, linked_at FROM held
UNION ALL
SELECT 1, NULL, w.customer_id, NULL, e.position, NULL FROM whose AS w
  JOIN events AS e ON e.stream_id = %(prefix)s::text || w.customer_id::text AND e.stream_version = 0
UNION ALL
SELECT 2, NULL, s.customer_a, s.customer_b, NULL, NULL FROM customer_separations AS s
 WHERE s.customer_a IN (SELECT customer_id FROM whose) AND s.customer_b IN (SELECT customer_id FROM whose)
UNION ALL
SELECT 3, i.identity_key, i.customer_id, NULL, NULL, NULL FROM identity_index AS i
 WHERE %(holdings)s::boolean AND i.customer_id IN (SELECT customer_id FROM whose)
ORDER BY part, linked_at, customer_id, key
"""


@dataclass(frozen=True)
class IdentityFacts:
    """What resolving a batch needs to know of the identity keys it names: their ``owners`` (as
    :func:`owners`), and of those customers the ``first_positions`` of their streams, the pairs of them
    staff ``separated``, and (when asked) their ``holdings``: the person identity keys each holds, in key
    order (per-customer limits never count transaction references)."""

    owners: dict[str, tuple[UUID, ...]]
    first_positions: dict[UUID, int]
    separated: set[frozenset[UUID]]
    holdings: dict[UUID, list[str]] | None


async def identity_facts(conn: Conn, keys: Sequence[str], with_holdings: bool) -> IdentityFacts:
    """:class:`IdentityFacts` in one statement (one round trip, and a few statements fewer for every
    batch of the timeline writer: at live rates its batches are small, and each statement costs)."""
    person, references = _split(keys)
    cur = await conn.execute(
        _FACTS,
        {
            "person": person,
            "references": references,
            "prefix": _CUSTOMER_STREAM_PREFIX,
            "holdings": with_holdings,
        },
    )
    found: dict[str, tuple[UUID, ...]] = {}
    firsts: dict[UUID, int] = {}
    separated: set[frozenset[UUID]] = set()
    held: dict[UUID, list[str]] | None = {} if with_holdings else None
    for part, key, customer, other, position, _ in await cur.fetchall():
        if part == 0:
            found[key] = (*found.get(key, ()), customer)
        elif part == 1:
            firsts[customer] = position
        elif part == 2:
            separated.add(frozenset((customer, other)))
        elif held is not None:
            held.setdefault(customer, []).append(key)
    if held is not None:  # every customer found, even one holding no person key
        held = {customer: held.get(customer, []) for owned in found.values() for customer in owned}
    return IdentityFacts(found, firsts, separated, held)


async def index_links(
    conn: Conn, customer_id: UUID, identities: Sequence[Identity], evidence_event_id: UUID
) -> None:
    """Point ``identities`` at ``customer_id`` (as well as at any customer holding them already);
    an identity this customer holds already is a constraint violation."""
    await index_many_links(conn, [(customer_id, identities, evidence_event_id)])


async def index_many_links(conn: Conn, linked: Sequence[tuple[UUID, Sequence[Identity], UUID]]) -> None:
    """:func:`index_links` for several ``(customer, identities, evidence event)`` at once: one statement
    per table."""
    person: list[tuple[str, UUID, UUID]] = []
    references: list[tuple[str, UUID, UUID]] = []
    for customer, identities, evidence in linked:
        for identity in identities:
            key = identity.key
            (references if is_reference_key(key) else person).append((key, customer, evidence))
    for (table, column), rows in zip(_TABLES, (person, references), strict=True):
        if rows:
            await conn.execute(
                sql.SQL(
                    "INSERT INTO {} ({}, customer_id, evidence_event_id)"
                    " SELECT * FROM unnest(%b::text[], %b::uuid[], %b::uuid[])"
                ).format(table, column),
                ([k for k, _, _ in rows], [c for _, c, _ in rows], [e for _, _, e in rows]),
            )


async def merge_identities(conn: Conn, absorbed: UUID, survivor: UUID) -> None:
    """A merge: every identity of ``absorbed`` is the survivor's now (held once, if both held it)."""
    for table, column in _TABLES:
        await conn.execute(
            sql.SQL(
                "DELETE FROM {table} AS a WHERE a.customer_id = %(absorbed)s AND EXISTS"
                " (SELECT 1 FROM {table} AS s WHERE s.customer_id = %(survivor)s AND s.{key} = a.{key})"
            ).format(table=table, key=column),
            {"absorbed": absorbed, "survivor": survivor},
        )
        await conn.execute(
            sql.SQL("UPDATE {} SET customer_id = %s WHERE customer_id = %s").format(table),
            (survivor, absorbed),
        )


async def return_identities(
    conn: Conn, keys: Collection[str], kept: Collection[str], survivor: UUID, restored: UUID
) -> int:
    """An unmerge: ``keys`` point at ``restored`` again; those in ``kept`` stay the survivor's too.

    Returns how many of ``keys`` the restored customer now holds that the survivor held (a
    mismatch with ``len(keys)`` means the index had drifted from the events).
    """
    returned = 0
    for (table, column), table_keys in zip(_TABLES, _split(keys), strict=True):
        if not table_keys:
            continue
        cur = await conn.execute(
            sql.SQL(
                "UPDATE {table} SET customer_id = %s WHERE customer_id = %s AND {key} = ANY(%s)"
                " AND NOT EXISTS (SELECT 1 FROM {table} AS r WHERE r.customer_id = %s"
                "  AND r.{key} = {table}.{key})"
            ).format(table=table, key=column),
            (restored, survivor, [key for key in table_keys if key not in kept], restored),
        )
        returned += cur.rowcount
        cur = await conn.execute(
            sql.SQL(
                "INSERT INTO {table} ({key}, customer_id, evidence_event_id)"
                " SELECT {key}, %s, evidence_event_id FROM {table}"
                " WHERE customer_id = %s AND {key} = ANY(%s) ON CONFLICT DO NOTHING"
            ).format(table=table, key=column),
            (restored, survivor, [key for key in table_keys if key in kept]),
        )
        returned += cur.rowcount
    return returned


def _table_of(key: str) -> tuple[sql.Identifier, sql.Identifier]:
    return _REFERENCE if is_reference_key(key) else _PERSON


async def unindex(conn: Conn, customer_id: UUID, key: str) -> bool:
    """Remove ``key`` from ``customer_id``'s identities in the index; whether it was there."""
    table, column = _table_of(key)
    cur = await conn.execute(
        sql.SQL("DELETE FROM {} WHERE customer_id = %s AND {} = %s").format(table, column), (customer_id, key)
    )
    return cur.rowcount > 0


async def holders(conn: Conn, key: str) -> set[UUID]:
    """The customers ``key`` points at in the index (none when it is unknown)."""
    table, column = _table_of(key)
    cur = await conn.execute(
        sql.SQL("SELECT customer_id FROM {} WHERE {} = %s").format(table, column), (key,)
    )
    return {customer for (customer,) in await cur.fetchall()}


async def forget_identities(conn: Conn, customers: Collection[UUID]) -> int:
    """Erasure: ``customers`` hold no identity any more (their keys are personal data); how many rows went."""
    gone = 0
    for table, _ in _TABLES:
        cur = await conn.execute(
            sql.SQL("DELETE FROM {} WHERE customer_id = ANY(%s)").format(table), (list(customers),)
        )
        gone += cur.rowcount
    return gone
