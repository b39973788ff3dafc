"""Offline check of an evidence export (see :mod:`plumbing.export`): nothing but the folder is needed.

Checked: the file's SHA-256 and size and the line-hash list's SHA-256 against the manifest; every
line against its recorded hash (a changed line is named by its number, position and event id); each
line's chain link (``sha256(prev_hash || content) == hash``) and that ``content`` says what the line
says; links between consecutive versions of a stream; positions strictly increasing, first/last and
count as the manifest says, and for a range export every position from first to last present unless
the manifest lists it as a gap of the log; every blob file re-hashed, and every referenced blob present
unless the manifest already listed it as missing at export time.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plumbing.export import BLOBS_FOLDER, MANIFEST_FILE, blob_references


@dataclass
class VerifyReport:
    """What the check found; ``problems`` name the line, position, event or blob at fault."""

    events: int = 0
    blobs: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _sha256_file(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _content_matches(record: dict[str, Any]) -> bool:
    """``content`` (the hashed text) says exactly what the line's fields say."""
    try:
        content = json.loads(record["content"])
    except (TypeError, ValueError):
        return False
    fields = [record[key] for key in ("position", "event_id", "stream_id", "stream_version", "event_type")]
    fields += [record["schema_version"], record["data"], record["metadata"], record["recorded_at"]]
    return bool(content == fields)


def _link_ok(record: dict[str, Any]) -> bool:
    try:
        previous = bytes.fromhex(record["prev_hash"])
    except (TypeError, ValueError):
        return False
    return bool(hashlib.sha256(previous + str(record["content"]).encode()).hexdigest() == record["hash"])


class _LineCheck:
    """Walks the lines in order, collecting problems and what the manifest is compared with."""

    def __init__(self, report: VerifyReport, line_hashes: list[str]) -> None:
        self.report = report
        self.line_hashes = line_hashes
        self.positions: list[int] = []
        self.heads: dict[str, tuple[int, str]] = {}  # stream -> (last version, its hash)
        self.blobs: set[str] = set()

    def line(self, number: int, raw: bytes) -> None:
        where = f"line {number}"
        expected = self.line_hashes[number - 1] if number <= len(self.line_hashes) else None
        if hashlib.sha256(raw).hexdigest() != expected:
            self.report.problems.append(
                f"{where}: does not match its recorded hash (changed, added or moved)"
            )
        try:
            record: dict[str, Any] = json.loads(raw)
        except ValueError:
            self.report.problems.append(f"{where}: not JSON")
            return
        where = f"{where} (position {record.get('position')}, event {record.get('event_id')})"
        if not _link_ok(record):
            self.report.problems.append(f"{where}: sha256(prev_hash || content) is not its hash")
        if not _content_matches(record):
            self.report.problems.append(f"{where}: the line's fields differ from the hashed content")
        self._stream_link(where, record)
        self.positions.append(int(record["position"]))
        self.blobs.update(blob_references(record.get("data")))

    def _stream_link(self, where: str, record: dict[str, Any]) -> None:
        head = self.heads.get(record["stream_id"])
        if head is not None:
            version, last_hash = head
            if record["stream_version"] != version + 1:
                jump = f"from version {version} to {record['stream_version']}"
                self.report.problems.append(f"{where}: {record['stream_id']} jumps {jump}")
            elif record["prev_hash"] != last_hash:
                self.report.problems.append(
                    f"{where}: prev_hash is not the hash of the stream's previous event"
                )
        self.heads[record["stream_id"]] = (record["stream_version"], record["hash"])


def _check_positions(check: _LineCheck, events: dict[str, Any]) -> None:
    problems, positions = check.report.problems, check.positions
    if any(b <= a for a, b in itertools.pairwise(positions)):
        problems.append("positions are not strictly increasing")
    if len(positions) != events["count"]:
        problems.append(f"the file holds {len(positions)} events, the manifest says {events['count']}")
    first, last = (positions[0], positions[-1]) if positions else (None, None)
    if (first, last) != (events["first_position"], events["last_position"]):
        problems.append(
            f"positions run {first}..{last}, the manifest says"
            f" {events['first_position']}..{events['last_position']}"
        )
    if events.get("positions") == "contiguous" and positions:
        missing = set(range(positions[0], positions[-1] + 1)) - set(positions) - set(events.get("gaps", []))
        if missing:
            problems.append(f"positions missing from the range: {sorted(missing)[:20]}")


def _check_blobs(check: _LineCheck, folder: Path, blobs: dict[str, Any]) -> None:
    problems = check.report.problems
    known_missing = set(blobs.get("missing", [])) | set(blobs.get("corrupt", []))
    for digest in sorted(check.blobs):
        path = folder / BLOBS_FOLDER / digest
        if not path.is_file():
            if digest not in known_missing:
                problems.append(f"blob {digest}: referenced but not in the export")
            continue
        check.report.blobs += 1
        if _sha256_file(path)[0] != digest:
            problems.append(f"blob {digest}: its bytes do not hash to its name (altered)")


def verify_export(folder: Path) -> VerifyReport:
    """Check the export in ``folder`` against itself; a report, never an exception for bad content."""
    report = VerifyReport()
    try:
        manifest: dict[str, Any] = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
        events = manifest["events"]
        events_path, hashes_path = folder / events["file"], folder / events["line_hashes_file"]
    except (OSError, ValueError, KeyError) as exc:
        report.problems.append(f"{MANIFEST_FILE}: unreadable ({exc})")
        return report
    if _sha256_file(events_path) != (events["sha256"], events["bytes"]):
        report.problems.append(f"{events['file']}: SHA-256 or size differs from the manifest")
    if _sha256_file(hashes_path)[0] != events["line_hashes_sha256"]:
        report.problems.append(f"{events['line_hashes_file']}: SHA-256 differs from the manifest")
    line_hashes = hashes_path.read_text(encoding="ascii").split()
    check = _LineCheck(report, line_hashes)
    with events_path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            check.line(number, raw)
            report.events += 1
    if report.events != len(line_hashes):
        report.problems.append(f"{report.events} lines but {len(line_hashes)} recorded line hashes")
    _check_positions(check, events)
    _check_blobs(check, folder, manifest.get("blobs", {}))
    return report
