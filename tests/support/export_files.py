"""Evidence exports as files, for tests: what an attacker does to one (edit a line, then recompute every
unkeyed hash so the file-level checks pass again) and a synthetic export of hand-made events, built
the way the store and :mod:`plumbing.export` build them, for tests that need no database."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

from plumbing.eventstore.sealing import CustomerKey, Salts, open_with
from plumbing.export import BLOBS_FOLDER, EVENTS_FILE, LINE_HASHES_FILE, MANIFEST_FILE, canonical_line

RECORDED_AT = "2025-06-09T12:00:00.000000Z"
GENESIS = "00" * 32


def read_lines(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / EVENTS_FILE).read_text(encoding="utf-8").splitlines()]


def rehash(folder: Path) -> None:
    """Recompute every unkeyed hash of the export: each line's, the line list's, the file's and its size."""
    raw = (folder / EVENTS_FILE).read_bytes()
    hashes = "".join(f"{hashlib.sha256(line).hexdigest()}\n" for line in raw.splitlines(keepends=True))
    (folder / LINE_HASHES_FILE).write_text(hashes, encoding="ascii")
    manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    manifest["events"]["sha256"] = hashlib.sha256(raw).hexdigest()
    manifest["events"]["bytes"] = len(raw)
    manifest["events"]["line_hashes_sha256"] = hashlib.sha256(hashes.encode()).hexdigest()
    (folder / MANIFEST_FILE).write_text(
        json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )


def forge_line(folder: Path, number: int, change: Callable[[dict[str, Any]], None]) -> None:
    """Edit line ``number`` (1-based) with ``change``, write it back canonical, and :func:`rehash`."""
    records = read_lines(folder)
    change(records[number - 1])
    (folder / EVENTS_FILE).write_bytes(b"".join(canonical_line(record) for record in records))
    rehash(folder)


def stored_record(
    position: int,
    stream_id: str,
    version: int,
    prev_hash: str,
    data: dict[str, Any],
    metadata: dict[str, Any],
) -> dict[str, Any]:
    """An event as the store holds it and the export writes it: its fields, hashed ``content`` and link."""
    fields = [
        position,
        data["event_id"],
        stream_id,
        version,
        data["event_type"],
        data["schema_version"],
        data,
        metadata,
        RECORDED_AT,
    ]
    content = json.dumps(fields, ensure_ascii=False)  # jsonb's text form: spaces after separators
    own = hashlib.sha256(bytes.fromhex(prev_hash) + content.encode()).hexdigest()
    names = ("position", "event_id", "stream_id", "stream_version", "event_type", "schema_version")
    record = dict(zip(names, fields, strict=False))
    return record | {
        "data": data,
        "metadata": metadata,
        "recorded_at": RECORDED_AT,
        "prev_hash": prev_hash,
        "hash": own,
        "content": content,
    }


def with_opened(record: dict[str, Any], keys: dict[UUID, CustomerKey]) -> dict[str, Any]:
    """``record`` with ``opened`` as the exporter adds it to a sealed event (salts for format 2)."""
    data, metadata = copy.deepcopy(record["data"]), copy.deepcopy(record["metadata"])
    event_id = UUID(record["event_id"])
    salts: dict[UUID, Salts] = {}
    open_with([(event_id, data, metadata)], keys, salts)
    opened: dict[str, Any] = {"data": data, "metadata": metadata}
    if event_id in salts:
        opened["salts"] = salts[event_id]
    return record | {"opened": opened}


def write_export(folder: Path, records: list[dict[str, Any]]) -> Path:
    """``records`` as an export folder (lines, line hashes, a manifest), positions taken as contiguous."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / BLOBS_FOLDER).mkdir(exist_ok=True)
    (folder / EVENTS_FILE).write_bytes(b"".join(canonical_line(record) for record in records))
    positions = [record["position"] for record in records]
    manifest = {
        "events": {
            "file": EVENTS_FILE,
            "count": len(records),
            "line_hashes_file": LINE_HASHES_FILE,
            "first_position": positions[0],
            "last_position": positions[-1],
            "positions": "contiguous",
            "gaps": [],
        },
        "blobs": {"missing": [], "corrupt": [], "erased": [], "erasures": []},
    }
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest), encoding="utf-8")
    rehash(folder)
    return folder
