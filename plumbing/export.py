"""Evidence export: a customer's timeline or a slice of the global log as JSON Lines an auditor can check
offline, with the raw deliveries it references and a manifest.

``events.jsonl`` holds one event per line (canonical JSON, keys sorted) exactly as stored, including
its hash-chain link (``prev_hash``, ``hash``) and ``content``, the text the chain hashes: so
``sha256(prev_hash || content) == hash`` can be checked without the database, and ``content`` must say
what the line says. An event whose personal fields are sealed (crypto-shredding) is stored with their
ciphertext, which is what the chain covers; its line adds ``opened`` (``data`` and ``metadata`` with
those fields opened, or ``[erased]`` for a forgotten customer) and, for events sealed in format 2,
``opened.salts``: the salt sealed with each opened value, so that ``sha256(salt || value)`` can be
compared with the commitment the chain covers (see :mod:`plumbing.export_proof`).
``events.sha256`` holds one SHA-256 per line (a changed line is named by number);
``manifest.json`` counts, first/last position, the file's and the line list's SHA-256, the positions
the log itself lacks in the range (``gaps``: sequence values of rolled-back appends), the blobs, and
the store's own chain verification at export time. Blobs are copied to ``blobs/<sha256>``; a blob
deleted by a lawful forget is listed as ``erased``, and the ``customer.forgotten`` events that erased
it are copied into the manifest (``blobs.erasures``, as export lines) so the claim can be checked
against what the chain covers.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from psycopg import sql

from contracts.erasure import CustomerForgotten
from plumbing.blobs import BlobCorrupted, BlobNotFound, BlobStore
from plumbing.eventstore.audit import ChainReport, verify_chains
from plumbing.eventstore.postgres import Conn
from plumbing.eventstore.sealing import CustomerKey, Salts, is_sealed, open_sealed
from plumbing.export_timeline import IN_CUSTOMER_STREAMS, customer_streams

FORMAT = "interaction-hub-audit-export"
VERSION = 2  # 2: opened values carry their salts; erased blobs are listed with the events that erased them
EVENTS_FILE = "events.jsonl"
LINE_HASHES_FILE = "events.sha256"
MANIFEST_FILE = "manifest.json"
BLOBS_FOLDER = "blobs"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_COLUMNS = sql.SQL(
    "e.position, e.event_id, e.stream_id, e.stream_version, e.event_type, e.schema_version, e.data,"
    " e.metadata, to_char(e.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
    " encode(e.prev_hash, 'hex'), encode(e.hash, 'hex'), event_content(e)"
)
#: The fields of every export line, in the order of the query; a sealed event's line adds ``opened``.
LINE_KEYS = (
    "position",
    "event_id",
    "stream_id",
    "stream_version",
    "event_type",
    "schema_version",
    "data",
    "metadata",
    "recorded_at",
    "prev_hash",
    "hash",
    "content",
)


class ExportError(ValueError):
    """The selection is not one an export can be made of (bad bounds, folder not empty...)."""


@dataclass(frozen=True)
class Selection:
    """What to export: one customer (merged-in streams included), or positions ``[from, to]``, or
    events recorded in ``[since, until)``; position and time bounds may be combined."""

    customer_id: UUID | None = None
    from_position: int | None = None
    to_position: int | None = None
    since: datetime | None = None
    until: datetime | None = None

    def check(self) -> None:
        bounds = (self.from_position, self.to_position, self.since, self.until)
        if self.customer_id is not None and any(b is not None for b in bounds):
            raise ExportError("export either a customer or a range of the log, not both")
        if self.customer_id is None and all(b is None for b in bounds):
            raise ExportError(
                "say what to export: --customer, --from-position/--to-position or --since/--until"
            )
        if self.from_position is not None and self.to_position is not None:
            if self.from_position > self.to_position:
                raise ExportError("--from-position must not be after --to-position")
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ExportError("--since must be before --until")

    def describe(self) -> dict[str, Any]:
        return {
            key: (str(value) if isinstance(value, UUID) else value.isoformat())
            if isinstance(value, UUID | datetime)
            else value
            for key, value in asdict(self).items()
            if value is not None
        }


@dataclass
class ExportReport:
    """What was written, for the caller to print; ``manifest`` is what ``manifest.json`` holds."""

    folder: Path
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def events(self) -> int:
        return int(self.manifest["events"]["count"])


async def _selected_rows(conn: Conn, selection: Selection) -> AsyncIterator[tuple[Any, ...]]:
    """The selected events in position order, streamed through a server-side cursor."""
    if selection.customer_id is not None:
        where: sql.Composable = sql.SQL(IN_CUSTOMER_STREAMS)
        params = await customer_streams(conn, selection.customer_id)
    else:
        where = sql.SQL(
            "(%(from)s::bigint IS NULL OR e.position >= %(from)s)"
            " AND (%(to)s::bigint IS NULL OR e.position <= %(to)s)"
            " AND (%(since)s::timestamptz IS NULL OR e.recorded_at >= %(since)s)"
            " AND (%(until)s::timestamptz IS NULL OR e.recorded_at < %(until)s)"
        )
        params = {
            "from": selection.from_position,
            "to": selection.to_position,
            "since": selection.since,
            "until": selection.until,
        }
    query = sql.SQL("SELECT {} FROM events e WHERE {} ORDER BY e.position").format(_COLUMNS, where)
    async with conn.cursor(name="hub_audit_export") as cur:
        await cur.execute(query, params)
        async for row in cur:
            yield row


def canonical_line(record: dict[str, Any]) -> bytes:
    """One event as its export line: canonical JSON (sorted keys, no spaces) and a newline."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def blob_references(value: Any) -> Iterator[str]:
    """Every blob an event's data names: any ``sha256`` of 64 hex digits (raw bodies, attachments,
    recordings, stored media)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "sha256" and isinstance(item, str) and _HEX64.match(item):
                yield item
            else:
                yield from blob_references(item)
    elif isinstance(value, list):
        for item in value:
            yield from blob_references(item)


def chain_summary(report: ChainReport) -> dict[str, Any]:
    broken = [{**asdict(link), "event_id": link.event_id and str(link.event_id)} for link in report.broken]
    return {
        "intact": report.intact,
        "streams": report.streams,
        "events": report.events,
        "digest": report.digest,
        "broken": broken,
    }


@dataclass
class _Written:
    count: int = 0
    first: int | None = None
    last: int | None = None
    gaps: list[int] = field(default_factory=list)
    blobs: set[str] = field(default_factory=set)


async def _opened(conn: Conn, record: dict[str, Any], keys: dict[UUID, CustomerKey]) -> dict[str, Any]:
    """What a sealed event says, its personal fields opened (erased once the customer is forgotten), with
    the salt of each opened value when the event was sealed with commitments."""
    event_id, data, metadata = (
        UUID(record["event_id"]),
        copy.deepcopy(record["data"]),
        copy.deepcopy(record["metadata"]),
    )
    salts: dict[UUID, Salts] = {}
    await open_sealed(conn, [(event_id, data, metadata)], keys, salts)
    opened: dict[str, Any] = {"data": data, "metadata": metadata}
    if event_id in salts:
        opened["salts"] = salts[event_id]
    return opened


async def _write_events(conn: Conn, selection: Selection, folder: Path) -> tuple[_Written, dict[str, Any]]:
    written = _Written()
    file_hash, lines_hash = hashlib.sha256(), hashlib.sha256()
    size = 0
    keys: dict[UUID, CustomerKey] = {}
    with (folder / EVENTS_FILE).open("wb") as events, (folder / LINE_HASHES_FILE).open("wb") as hashes:
        async for row in _selected_rows(conn, selection):
            record = _line_record(row)
            if is_sealed(record["metadata"]):
                record["opened"] = await _opened(conn, record, keys)
            line = canonical_line(record)
            events.write(line)
            file_hash.update(line)
            size += len(line)
            line_digest = f"{hashlib.sha256(line).hexdigest()}\n".encode()
            hashes.write(line_digest)
            lines_hash.update(line_digest)
            position = int(record["position"])
            if written.last is not None and selection.customer_id is None:
                written.gaps.extend(range(written.last + 1, position))
            written.first = position if written.first is None else written.first
            written.last = position
            written.count += 1
            written.blobs.update(blob_references(record["data"]))
    summary = {
        "file": EVENTS_FILE,
        "count": written.count,
        "bytes": size,
        "sha256": file_hash.hexdigest(),
        "line_hashes_file": LINE_HASHES_FILE,
        "line_hashes_sha256": lines_hash.hexdigest(),
        "first_position": written.first,
        "last_position": written.last,
        "positions": "sparse: the customer's streams only" if selection.customer_id else "contiguous",
        "gaps": written.gaps,
    }
    return written, summary


def _line_record(row: tuple[Any, ...]) -> dict[str, Any]:
    record = dict(zip(LINE_KEYS, row, strict=True))
    record["event_id"] = str(record["event_id"])
    return record


async def _erasures(conn: Conn, missing: list[str]) -> list[dict[str, Any]]:
    """The ``customer.forgotten`` events that erased any of the ``missing`` blobs, as export lines."""
    if not missing:
        return []
    query = sql.SQL(
        "SELECT {} FROM events e WHERE e.event_type = %s AND e.data->'erased_blobs' ?| %s::text[]"
        " ORDER BY e.position"
    ).format(_COLUMNS)
    async with conn.transaction():
        cur = await conn.execute(query, (CustomerForgotten.EVENT_TYPE, missing))
        return [_line_record(row) for row in await cur.fetchall()]


async def _copy_blobs(conn: Conn, blobs: BlobStore, wanted: set[str], folder: Path) -> dict[str, Any]:
    """Copy every referenced blob (hash-checked on the way out); missing or altered ones are listed, and
    missing ones a lawful forget deleted are listed as erased, with the events that say so."""
    target = folder / BLOBS_FOLDER
    target.mkdir()
    copied: list[dict[str, Any]] = []
    missing: list[str] = []
    corrupt: list[str] = []
    for digest in sorted(wanted):
        try:
            data = await blobs.get(digest)
        except BlobNotFound:
            missing.append(digest)
            continue
        except BlobCorrupted:
            corrupt.append(digest)
            continue
        (target / digest).write_bytes(data)
        copied.append({"sha256": digest, "size_bytes": len(data)})
    erasures = await _erasures(conn, missing)  # after the copy: a forget that committed meanwhile counts
    erased = {digest for record in erasures for digest in record["data"].get("erased_blobs", [])}
    return {
        "folder": BLOBS_FOLDER,
        "count": len(copied),
        "files": copied,
        "missing": [digest for digest in missing if digest not in erased],
        "corrupt": corrupt,
        "erased": [digest for digest in missing if digest in erased],
        "erasures": erasures,
    }


def _prepare(folder: Path) -> None:
    if folder.exists() and any(folder.iterdir()):
        raise ExportError(f"{folder} is not empty")
    folder.mkdir(parents=True, exist_ok=True)


async def export(conn: Conn, selection: Selection, folder: Path, blobs: BlobStore) -> ExportReport:
    """Write the export of ``selection`` into ``folder`` (created; must be empty) from one consistent
    snapshot of the store (``conn`` must not be in autocommit mode: one repeatable-read transaction)."""
    selection.check()
    await asyncio.to_thread(_prepare, folder)
    async with conn.transaction():
        chains = await verify_chains(conn)  # sets REPEATABLE READ: the events below are the same snapshot
        written, events = await _write_events(conn, selection, folder)
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "created_at": datetime.now(UTC).isoformat(),
        "selection": selection.describe(),
        "events": events,
        "blobs": await _copy_blobs(conn, blobs, written.blobs, folder),
        "chain_verification": chain_summary(chains),
    }
    (folder / MANIFEST_FILE).write_text(
        json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return ExportReport(folder, manifest)
