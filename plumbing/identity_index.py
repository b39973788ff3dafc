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
from typing import Final
from uuid import UUID

from psycopg import sql

from contracts import Identity, IdentityKind
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
        " SELECT identity_key, customer_id, linked_at FROM identity_index WHERE identity_key = ANY(%s)"
        " UNION ALL SELECT reference_key, customer_id, linked_at FROM transaction_references"
        " WHERE reference_key = ANY(%s)) AS held ORDER BY linked_at, customer_id",
        (person, references),
    )
    found: dict[str, tuple[UUID, ...]] = {}
    for key, customer in await cur.fetchall():
        found[key] = (*found.get(key, ()), customer)
    return found


async def holdings(conn: Conn, customers: Collection[UUID]) -> dict[UUID, list[str]]:
    """customer -> the person identity keys it holds (for per-customer limits, which never count
    transaction references: see :meth:`contracts.identity_rules.IdentityRules.max_per_customer`)."""
    cur = await conn.execute(
        "SELECT customer_id, identity_key FROM identity_index WHERE customer_id = ANY(%s)"
        " ORDER BY identity_key",
        (list(customers),),
    )
    found: dict[UUID, list[str]] = {customer: [] for customer in customers}
    for customer, key in await cur.fetchall():
        found[customer].append(key)
    return found


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
                    " SELECT * FROM unnest(%s::text[], %s::uuid[], %s::uuid[])"
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
