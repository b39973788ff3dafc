"""Segments saved through the API (table ``analytics_saved_segments``): read, upsert, delete.

Ids are shared with the segments of deploy/analytics.toml; the routes refuse a saved segment that would
shadow a configured one, so an id always names one definition.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from plumbing.eventstore.postgres import Conn
from services.api.analytics_config import Segment
from services.api.analytics_segments import FilterError, parse_filter

_COLUMNS = "segment_id, name, description, filter"


@dataclass(frozen=True)
class Unusable:
    """A stored segment that fails today's checks (saved before they existed, say a number out of
    range): listed with ``error``, run by no route, deleted like any other."""

    id: str
    name: str
    description: str
    filter: str
    error: str


def _segment(row: tuple[str, str, str, str]) -> Segment | Unusable:
    try:
        parse_filter(row[3])
        return Segment(id=row[0], name=row[1], description=row[2], filter=row[3])
    except FilterError as exc:
        return Unusable(*row, error=f"filter {row[3]!r}: {exc}")
    except ValidationError as exc:
        return Unusable(*row, error="; ".join(str(e["msg"]) for e in exc.errors()))


async def saved_segments(conn: Conn) -> list[Segment | Unusable]:
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM analytics_saved_segments ORDER BY segment_id"  # noqa: S608 - constant
    )
    return [_segment(row) for row in await cur.fetchall()]


async def saved_segment(conn: Conn, segment_id: str) -> Segment | Unusable | None:
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM analytics_saved_segments WHERE segment_id = %s",  # noqa: S608 - constant
        (segment_id,),
    )
    row = await cur.fetchone()
    return _segment(row) if row else None


async def save_segment(conn: Conn, segment: Segment, saved_by: str, at: datetime) -> bool:
    """Create or replace ``segment``; True when it was created."""
    cur = await conn.execute(
        "INSERT INTO analytics_saved_segments (segment_id, name, description, filter, saved_by, saved_at)"
        " VALUES (%s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (segment_id) DO UPDATE SET name = excluded.name, description = excluded.description,"
        " filter = excluded.filter, saved_by = excluded.saved_by, saved_at = excluded.saved_at"
        " RETURNING xmax = 0",
        (segment.id, segment.name, segment.description, segment.filter, saved_by, at),
    )
    row = await cur.fetchone()
    return bool(row and row[0])


async def delete_segment(conn: Conn, segment_id: str) -> bool:
    """True when a saved segment ``segment_id`` existed (and is gone)."""
    cur = await conn.execute("DELETE FROM analytics_saved_segments WHERE segment_id = %s", (segment_id,))
    return cur.rowcount == 1
