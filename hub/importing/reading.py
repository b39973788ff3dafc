"""Records from an export file: CSV with a header line, or JSON Lines (one object per line).

Reading never stops at a bad record: a CSV line with the wrong number of fields or a JSONL line that is
not an object becomes a :class:`~hub.importing.rows.BadRow` with its line number. What makes the whole
file unusable (unknown format, undecodable text, duplicate or missing header) is an :class:`ImportFileError`.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import TextIO

import orjson

from hub.importing.rows import BadRow, Record

_CHUNK = 1 << 20


class FileFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"


class ImportFileError(ValueError):
    """The file as a whole cannot be imported; the message says why."""


_SUFFIXES = {
    ".csv": FileFormat.CSV,
    ".tsv": FileFormat.CSV,
    ".jsonl": FileFormat.JSONL,
    ".ndjson": FileFormat.JSONL,
}


def format_of(path: Path, given: FileFormat | None) -> FileFormat:
    """``given``, else what the file's suffix says."""
    if given is not None:
        return given
    found = _SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise ImportFileError(
            f"{path.name}: cannot tell the format from the suffix; give --format csv or jsonl"
        )
    return found


def count_lines(path: Path) -> int:
    """Lines in the file (the progress bar's total), counted in bytes without decoding."""
    lines, last = 0, b"\n"
    with path.open("rb") as raw:
        while chunk := raw.read(_CHUNK):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (last != b"\n")


def csv_header(path: Path, encoding: str, delimiter: str) -> list[str]:
    """The header of a CSV file (checked against the spec before any row is read)."""
    with _open(path, encoding) as text:
        return _header(csv.reader(text, delimiter=delimiter), path)


def _open(path: Path, encoding: str) -> TextIO:
    try:
        return path.open(encoding=encoding, newline="")
    except LookupError as exc:
        raise ImportFileError(f"unknown encoding {encoding!r}") from exc
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc.strerror}") from exc


def _header(reader: Iterator[list[str]], path: Path) -> list[str]:
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise ImportFileError(f"{path.name} is empty: a CSV file starts with a header line") from None
    doubled = sorted({name for name in header if header.count(name) > 1})
    if doubled:
        raise ImportFileError(f"{path.name}: the header names {', '.join(map(repr, doubled))} more than once")
    return header


def read_csv(path: Path, encoding: str = "utf-8-sig", delimiter: str = ",") -> Iterator[Record | BadRow]:
    """The records of a CSV file, by header name; blank lines are skipped."""
    csv.field_size_limit(min(sys.maxsize, 1 << 24))
    with _open(path, encoding) as text:
        reader = csv.reader(text, delimiter=delimiter)
        try:
            header = _header(reader, path)
            width, ended = len(header), reader.line_num
            while True:
                try:
                    fields = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    yield BadRow(ended + 1, f"not readable as CSV: {exc}")
                    ended = reader.line_num
                    continue
                start, ended = ended + 1, reader.line_num
                if not fields or (len(fields) == 1 and not fields[0].strip()):
                    continue
                if len(fields) != width:
                    yield BadRow(start, f"has {len(fields)} fields, the header has {width}")
                    continue
                yield Record(start, ended, dict(zip(header, fields, strict=True)))
        except UnicodeDecodeError as exc:
            raise ImportFileError(
                f"{path.name} is not {encoding} text after line {reader.line_num}: give --encoding"
                " (for example cp1251 or latin-1)"
            ) from exc


def read_jsonl(path: Path, encoding: str = "utf-8-sig") -> Iterator[Record | BadRow]:
    """The records of a JSON Lines file (one object per line); blank lines are skipped."""
    with _open(path, encoding) as text:
        line = 0
        try:
            for line, content in enumerate(text, start=1):
                if not content.strip():
                    continue
                try:
                    value = orjson.loads(content)
                except orjson.JSONDecodeError as exc:
                    yield BadRow(line, f"not valid JSON: {exc.msg}")
                    continue
                if not isinstance(value, dict):
                    yield BadRow(line, f"a JSON {type(value).__name__}, not an object")
                    continue
                yield Record(line, line, value)
        except UnicodeDecodeError as exc:
            raise ImportFileError(
                f"{path.name} is not {encoding} text at line {line + 1}: give --encoding"
            ) from exc


def read_records(
    path: Path, file_format: FileFormat, encoding: str = "utf-8-sig", delimiter: str = ","
) -> Iterator[Record | BadRow]:
    """:func:`read_csv` or :func:`read_jsonl`."""
    if file_format is FileFormat.CSV:
        return read_csv(path, encoding, delimiter)
    return read_jsonl(path, encoding)
