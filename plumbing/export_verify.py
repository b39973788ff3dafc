"""Offline check of an evidence export (see :mod:`plumbing.export`): nothing but the folder is needed.

Checked: the file's SHA-256 and size and the line-hash list's SHA-256 against the manifest; every
line against its recorded hash (a changed line is named by its number, position and event id); each
line's chain link (``sha256(prev_hash || content) == hash``) and that every byte a reader reads says
what ``content`` says: the line is canonical JSON with exactly the exported fields, its fields equal
``content``, and a sealed event's ``opened`` copy is proven by :mod:`plumbing.export_proof`. Those
unkeyed hashes can all be recomputed by whoever edits the files; the chain link cannot be, without
also rewriting ``content`` (and then every later link, which ``hub audit verify`` and the chain digest
catch). Also: links between consecutive versions of a stream; positions strictly increasing,
first/last and count as the manifest says, and for a range export every position from first to last
present unless the manifest lists it as a gap of the log; every blob file re-hashed, and every
referenced blob present unless a ``customer.forgotten`` event the export carries (a line, or the
manifest's ``blobs.erasures``, each checked like a line) says it was erased.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contracts.erasure import CustomerForgotten
from plumbing.eventstore.sealing import SEALED
from plumbing.export import BLOBS_FOLDER, LINE_KEYS, MANIFEST_FILE, blob_references, canonical_line
from plumbing.export_proof import OpenedProof, canonical, prove_opened

_CONTENT_FIELDS = LINE_KEYS[:9]  # what ``content`` lists, in its order (position ... recorded_at)
_TYPE, _DATA, _METADATA = (_CONTENT_FIELDS.index(name) for name in ("event_type", "data", "metadata"))
_LINE_FIELDS = frozenset(LINE_KEYS)


@dataclass
class VerifyReport:
    """What the check found; ``problems`` name the line, position, event or blob at fault."""

    events: int = 0
    blobs: int = 0
    #: Referenced blobs absent because a ``customer.forgotten`` event of the export erased them.
    erased_blobs: int = 0
    #: Opened personal values proven to be what the chain sealed (their commitment recomputed).
    proven_fields: int = 0
    #: Personal values that read ``[erased]`` (a forgotten customer): they claim nothing.
    erased_fields: int = 0
    #: Sealed events whose opened values cannot be proven: sealed before commitments (format 1).
    unprovable_events: int = 0
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


def _content(record: dict[str, Any]) -> list[Any] | None:
    """The hashed ``content`` parsed: the list of :data:`_CONTENT_FIELDS`, or None if it is not one."""
    try:
        content = json.loads(record["content"])
    except (TypeError, ValueError):
        return None
    return content if isinstance(content, list) and len(content) == len(_CONTENT_FIELDS) else None


def _content_matches(record: dict[str, Any], content: list[Any]) -> bool:
    """``content`` (the hashed text) says exactly what the line's fields say, byte for byte once
    canonical (so ``1``, ``1.0`` and ``true`` differ, as they do to a reader)."""
    return canonical([record[key] for key in _CONTENT_FIELDS]) == canonical(content)


def _link_ok(record: dict[str, Any]) -> bool:
    try:
        previous = bytes.fromhex(record["prev_hash"])
    except (TypeError, ValueError):
        return False
    return bool(hashlib.sha256(previous + str(record["content"]).encode()).hexdigest() == record["hash"])


def _erased_by(content: list[Any]) -> list[str]:
    """The blobs a ``customer.forgotten`` event's hashed content says it erased (none for other events)."""
    data = content[_DATA]
    if content[_TYPE] != CustomerForgotten.EVENT_TYPE or not isinstance(data, dict):
        return []
    erased = data.get("erased_blobs")
    return [digest for digest in erased if isinstance(digest, str)] if isinstance(erased, list) else []


def check_record(record: Any) -> tuple[list[str], list[Any] | None]:
    """The problems of one exported event (a line or an erasure record) that its own bytes show, and its
    hashed content when the record is well formed and its link holds (else None)."""
    if not isinstance(record, dict):
        return ["not a JSON object"], None
    if (missing := _LINE_FIELDS - set(record)) or set(record) - _LINE_FIELDS - {"opened"}:
        extra = sorted(set(record) - _LINE_FIELDS - {"opened"})
        return [f"fields differ from an export line's (missing {sorted(missing)}, extra {extra})"], None
    problems: list[str] = []
    content = _content(record)
    linked = _link_ok(record)
    if not linked:
        problems.append("sha256(prev_hash || content) is not its hash")
    if content is None:
        return [*problems, "content is not the hashed list of an event's fields"], None
    if not _content_matches(record, content):
        problems.append("the line's fields differ from the hashed content")
    return problems, content if linked else None


class _LineCheck:
    """Walks the lines in order, collecting problems and what the manifest is compared with."""

    def __init__(self, report: VerifyReport, line_hashes: list[str]) -> None:
        self.report = report
        self.line_hashes = line_hashes
        self.positions: list[int] = []
        self.heads: dict[str, tuple[int, str]] = {}  # stream -> (last version, its hash)
        self.blobs: set[str] = set()
        self.erased: set[str] = set()  # blobs a customer.forgotten line of the export erased

    def line(self, number: int, raw: bytes) -> None:
        where = f"line {number}"
        expected = self.line_hashes[number - 1] if number <= len(self.line_hashes) else None
        if hashlib.sha256(raw).hexdigest() != expected:
            self.report.problems.append(
                f"{where}: does not match its recorded hash (changed, added or moved)"
            )
        try:
            record: Any = json.loads(raw)
        except ValueError:
            self.report.problems.append(f"{where}: not JSON")
            return
        if isinstance(record, dict):
            where = f"{where} (position {record.get('position')}, event {record.get('event_id')})"
        problems, content = check_record(record)
        self.report.problems.extend(f"{where}: {problem}" for problem in problems)
        if not isinstance(record, dict) or not _LINE_FIELDS <= set(record):
            return
        if raw != canonical_line(record):
            self.report.problems.append(f"{where}: not canonical JSON (a reader may read other bytes)")
        if content is not None:
            self._readable_copy(where, record, content)
            self.erased.update(_erased_by(content))
        self._stream_link(where, record)
        self.positions.append(record["position"] if isinstance(record["position"], int) else -1)
        self.blobs.update(blob_references(record.get("data")))

    def _readable_copy(self, where: str, record: dict[str, Any], content: list[Any]) -> None:
        """A sealed event's ``opened`` proven against the hashed content; none on other events."""
        data, metadata = content[_DATA], content[_METADATA]
        sealed = isinstance(metadata, dict) and SEALED in metadata
        if "opened" not in record:
            if sealed:
                self.report.problems.append(f"{where}: a sealed event without its opened copy")
            return
        proof: OpenedProof = prove_opened(data, metadata, record["opened"])
        self.report.problems.extend(f"{where}: {problem}" for problem in proof.problems)
        self.report.proven_fields += proof.proven
        self.report.erased_fields += proof.erased
        self.report.unprovable_events += 1 if proof.unprovable else 0

    def _stream_link(self, where: str, record: dict[str, Any]) -> None:
        if not isinstance(record["stream_id"], str) or not isinstance(record["stream_version"], int):
            return  # not an event's fields: already reported as differing from the hashed content
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


def _proven_erasures(check: _LineCheck, blobs: dict[str, Any]) -> set[str]:
    """Blobs erased according to ``customer.forgotten`` events: the export's lines, and the manifest's
    ``erasures`` (each checked like a line: its fields, its content and its chain link)."""
    erased = set(check.erased)
    records = blobs.get("erasures", [])
    for number, record in enumerate(records if isinstance(records, list) else [], start=1):
        problems, content = check_record(record)
        check.report.problems.extend(f"{MANIFEST_FILE} erasure {number}: {problem}" for problem in problems)
        if content is not None and not problems:
            erased.update(_erased_by(content))
    return erased


def _check_blobs(check: _LineCheck, folder: Path, blobs: dict[str, Any]) -> None:
    problems = check.report.problems
    erased = _proven_erasures(check, blobs)
    lacked = set(blobs.get("missing", [])) | set(blobs.get("corrupt", []))
    for digest in sorted(check.blobs):
        path = folder / BLOBS_FOLDER / digest
        if not path.is_file():
            if digest in erased:
                check.report.erased_blobs += 1
            else:
                why = " (the store lacked it at export time)" if digest in lacked else ""
                problems.append(
                    f"blob {digest}: referenced but not in the export, and no erasure says why{why}"
                )
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
