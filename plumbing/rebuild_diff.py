"""Row-by-row comparison of a projection's live tables with their rebuilt copies in a shadow schema.

Rows are matched by primary key and compared as ``to_jsonb(row)`` minus the columns a table declares
volatile (bookkeeping times such as ``updated_at = now()``, which a rebuild cannot reproduce). Each
difference names its table and key and the columns that differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from psycopg import sql

from plumbing.eventstore.postgres import Conn


@dataclass(frozen=True)
class RowDiff:
    """One row that differs: ``live`` or ``rebuilt`` is None when the row exists on one side only."""

    table: str
    key: dict[str, Any]
    live: dict[str, Any] | None
    rebuilt: dict[str, Any] | None

    @property
    def kind(self) -> str:
        if self.rebuilt is None:
            return "only in live"
        if self.live is None:
            return "only in rebuild"
        return "changed"

    @property
    def columns(self) -> list[str]:
        """The columns whose values differ (all of them for a row on one side only)."""
        live, rebuilt = self.live or {}, self.rebuilt or {}
        return sorted(name for name in set(live) | set(rebuilt) if live.get(name) != rebuilt.get(name))

    def describe(self) -> str:
        key = ", ".join(f"{name}={value}" for name, value in self.key.items())
        return f"{self.table} [{key}]: {self.kind}" + (
            f" ({', '.join(self.columns)})" if self.kind == "changed" else ""
        )


@dataclass
class TableDiff:
    table: str
    live_rows: int = 0
    rebuilt_rows: int = 0
    differing: int = 0
    rows: list[RowDiff] = field(default_factory=list)  # the first ``limit`` of them


async def primary_key(conn: Conn, schema: str, table: str) -> list[str]:
    """The primary key columns of ``schema.table``, in key order."""
    cur = await conn.execute(
        "SELECT a.attname FROM pg_index i"
        " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
        " WHERE i.indrelid = to_regclass(%s) AND i.indisprimary"
        " ORDER BY array_position(i.indkey, a.attnum)",
        (sql.Identifier(schema, table).as_string(conn),),
    )
    columns = [row[0] for row in await cur.fetchall()]
    if not columns:
        raise ValueError(f"{schema}.{table} has no primary key: rows cannot be matched")
    return columns


def _side(schema: str, table: str, key: list[str], volatile: tuple[str, ...]) -> sql.Composable:
    key_object = sql.SQL(", ").join(
        sql.SQL("{}, t.{}").format(sql.Literal(c), sql.Identifier(c)) for c in key
    )
    return sql.SQL("SELECT jsonb_build_object({}) AS k, to_jsonb(t) - {}::text[] AS doc FROM {} t").format(
        key_object, sql.Literal(list(volatile)), sql.Identifier(schema, table)
    )


async def compare_table(
    conn: Conn, table: str, live_schema: str, shadow_schema: str, volatile: tuple[str, ...], limit: int
) -> TableDiff:
    """The differences between ``live_schema.table`` and ``shadow_schema.table`` (first ``limit``
    named), in one statement per count and per listing, inside the caller's transaction."""
    key = await primary_key(conn, shadow_schema, table)
    live, rebuilt = _side(live_schema, table, key, volatile), _side(shadow_schema, table, key, volatile)
    joined = sql.SQL("FROM ({}) l FULL JOIN ({}) s ON l.k = s.k WHERE l.doc IS DISTINCT FROM s.doc").format(
        live, rebuilt
    )
    diff = TableDiff(table)
    counts = sql.SQL(
        "SELECT (SELECT count(*) FROM {}), (SELECT count(*) FROM {}), (SELECT count(*) {})"
    ).format(sql.Identifier(live_schema, table), sql.Identifier(shadow_schema, table), joined)
    cur = await conn.execute(counts)
    row = await cur.fetchone()
    assert row is not None
    diff.live_rows, diff.rebuilt_rows, diff.differing = row
    cur = await conn.execute(
        sql.SQL("SELECT coalesce(l.k, s.k), l.doc, s.doc {} ORDER BY 1::text LIMIT {}").format(
            joined, sql.Literal(limit)
        )
    )
    diff.rows = [
        RowDiff(table, k, live_doc, rebuilt_doc) for k, live_doc, rebuilt_doc in await cur.fetchall()
    ]
    return diff
