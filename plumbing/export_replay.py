"""Replays of the log for auditors and downstream teams: resolving ``as_of``, reading a range of the log.

``as_of`` is a store position (digits) or an ISO 8601 time; a time means "what the store had recorded by
then", i.e. the last position recorded at or before it, so a point-in-time answer is always the fold of
a prefix of the log (the same fold the live projection ran, stopped early).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from plumbing.eventstore import EventFilter, RecordedEvent
from plumbing.eventstore.postgres import Conn, read_all, read_all_filtered


class BadAsOf(ValueError):
    """``as_of`` is neither a position nor an ISO 8601 time with a zone."""


@dataclass(frozen=True)
class AsOf:
    """A point in the log: ``position`` (0 = before the first event) and the store time it stands for."""

    position: int
    at: datetime | None


def parse_as_of(text: str) -> int | datetime:
    """A position (digits) or an aware ISO 8601 time."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadAsOf(f"as_of {text!r} is neither a log position nor an ISO 8601 time") from exc
    if moment.tzinfo is None:
        raise BadAsOf(f"as_of {text!r} needs a time zone (e.g. Z or +02:00)")
    return moment


async def resolve_as_of(conn: Conn, as_of: int | datetime) -> AsOf:
    """The position ``as_of`` stands for, and its store time (the recording time of that event)."""
    if isinstance(as_of, int):
        cur = await conn.execute(
            "SELECT max(position), max(recorded_at) FROM events WHERE position <= %s", (as_of,)
        )
        row = await cur.fetchone()
        return AsOf(as_of, row[1] if row else None)
    cur = await conn.execute("SELECT max(position) FROM events WHERE recorded_at <= %s", (as_of,))
    row = await cur.fetchone()
    return AsOf(int(row[0]) if row and row[0] is not None else 0, as_of)


async def log_until(
    conn: Conn, position: int, categories: frozenset[str] = frozenset(), batch_size: int = 5000
) -> AsyncIterator[RecordedEvent]:
    """The events of ``categories`` (all when empty) with positions up to ``position``, in log order."""
    after, event_filter = 0, EventFilter(categories=categories)
    while after < position:
        events, scanned = await read_all_filtered(conn, after, batch_size, event_filter)
        for event in events:
            if event.position > position:
                return
            yield event
        if scanned == after:
            return
        after = scanned


async def log_range(
    conn: Conn,
    first: int,
    last: int,
    batch_size: int = 500,
    read: Callable[[Conn, int, int], Awaitable[list[RecordedEvent]]] = read_all,
) -> AsyncIterator[list[RecordedEvent]]:
    """Batches of the events with ``first <= position <= last``, in log order (read by ``read``: opened,
    unless the caller publishes them as stored)."""
    after = first - 1
    while after < last:
        batch = [event for event in await read(conn, after, batch_size) if event.position <= last]
        if not batch:
            return
        yield batch
        after = batch[-1].position
