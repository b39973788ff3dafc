"""Tamper evidence: walk every stream's hash chain and report the first broken link of each.

Each event stores ``prev_hash`` (the hash of the stream's previous event; 32 zero bytes for version 0)
and ``hash = sha256(prev_hash || event_content(event))``, computed by the database when the row is
inserted (migration eventstore_0002). Verification recomputes the hashes here, so an edited row, a
removed event (a version gap or a stream shorter than its recorded version) and a re-linked chain are
all found. What a chain cannot show is a rewrite of a stream's whole tail together with every later
hash; :attr:`ChainReport.digest` exists so an auditor can record the store's state elsewhere and
compare later.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from plumbing.eventstore.listen import Conn

GENESIS = bytes(32)


@dataclass(frozen=True)
class BrokenLink:
    """Where a stream's chain first fails, and why. ``position``/``event_id`` are None for a missing tail."""

    stream_id: str
    stream_version: int
    position: int | None
    event_id: UUID | None
    reason: str


@dataclass
class ChainReport:
    """The outcome of a walk: counts, the broken links (one per broken stream) and a digest of all heads."""

    streams: int = 0
    events: int = 0
    broken: list[BrokenLink] = field(default_factory=list)
    digest: str = ""

    @property
    def intact(self) -> bool:
        return not self.broken


@dataclass
class _StreamWalk:
    stream_id: str
    recorded_version: int | None
    next_version: int = 0
    previous_hash: bytes = GENESIS
    broken: BrokenLink | None = None

    def step(self, row: tuple[Any, ...]) -> None:
        _, version, position, event_id, prev_hash, own_hash, content = row
        prev, own = bytes(prev_hash), bytes(own_hash)
        if self.broken is not None:
            return
        here = (self.stream_id, version, position, event_id)
        if version != self.next_version:
            self.broken = BrokenLink(*here, f"version {self.next_version} is missing (found {version} next)")
        elif prev != self.previous_hash:
            self.broken = BrokenLink(*here, "prev_hash does not match the previous event's hash")
        elif own != hashlib.sha256(prev + content.encode()).digest():
            self.broken = BrokenLink(*here, "the event's content does not match its hash (edited)")
        self.next_version = version + 1
        self.previous_hash = own

    def finish(self) -> BrokenLink | None:
        last = self.next_version - 1
        if self.broken is None and self.recorded_version != last:
            recorded = "no version" if self.recorded_version is None else f"version {self.recorded_version}"
            reason = f"the streams table records {recorded} but the last event is version {last}"
            self.broken = BrokenLink(self.stream_id, last + 1, None, None, reason)
        return self.broken


async def _rows(conn: Conn, stream_id: str | None) -> AsyncIterator[tuple[Any, ...]]:
    """Events in chain order, streamed through a server-side cursor (the store can be large)."""
    query = (
        "SELECT e.stream_id, e.stream_version, e.position, e.event_id, e.prev_hash, e.hash, event_content(e)"
        " FROM events e WHERE %(stream)s::text IS NULL OR e.stream_id = %(stream)s"
        " ORDER BY e.stream_id, e.stream_version"
    )
    async with conn.cursor(name="hub_audit_verify") as cur:
        await cur.execute(query, {"stream": stream_id})
        async for row in cur:
            yield row


async def _recorded_versions(conn: Conn, stream_id: str | None) -> dict[str, int]:
    cur = await conn.execute(
        "SELECT stream_id, version FROM streams WHERE %(stream)s::text IS NULL OR stream_id = %(stream)s",
        {"stream": stream_id},
    )
    return {row[0]: row[1] for row in await cur.fetchall()}


async def verify_chains(conn: Conn, stream_id: str | None = None) -> ChainReport:
    """Walk one stream's chain, or every stream's; run inside a repeatable-read transaction for a
    consistent picture (the caller's ``conn`` must not be in autocommit mode for the cursor)."""
    await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
    recorded = await _recorded_versions(conn, stream_id)
    report = ChainReport()
    heads = hashlib.sha256()
    walk: _StreamWalk | None = None

    def close(done: _StreamWalk) -> None:
        report.streams += 1
        heads.update(f"{done.stream_id}\n{done.next_version - 1}\n".encode() + done.previous_hash)
        broken = done.finish()
        if broken is not None:
            report.broken.append(broken)

    async for row in _rows(conn, stream_id):
        if walk is None or walk.stream_id != row[0]:
            if walk is not None:
                close(walk)
            walk = _StreamWalk(row[0], recorded.pop(row[0], None))
        walk.step(row)
        report.events += 1
    if walk is not None:
        close(walk)
    for empty, version in sorted(recorded.items()):  # streams whose every event is gone
        report.streams += 1
        reason = f"the streams table records version {version} but the stream has no events"
        report.broken.append(BrokenLink(empty, 0, None, None, reason))
    report.digest = heads.hexdigest()
    return report
