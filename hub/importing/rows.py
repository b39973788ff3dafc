"""What an import handles, row by row: a record read from the file, and what it became."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from pydantic import JsonValue

from contracts import AttributeName, Identity


@dataclass(frozen=True)
class Record:
    """One record of the file: ``line`` is where it starts, ``last_line`` where it ends (a quoted CSV
    field may span lines), ``values`` column -> value as the file had it."""

    line: int
    last_line: int
    values: Mapping[str, Any]


@dataclass(frozen=True)
class BadRow:
    """A record that is not imported, and why (never its values: they are personal)."""

    line: int
    reason: str


@dataclass(frozen=True)
class ImportRow:
    """A record in normal form. ``key`` is its idempotency key: a keyed id of its identities and values,
    so the same row imported again (from this file or a later export) is recognised, wherever it stands.
    ``link_ids`` and ``attribute_ids`` (one per identity and per attribute, in order) are the ids of the
    events the row may append, derived from ``key`` (:mod:`hub.importing.plan`) while the file is read."""

    line: int
    identities: tuple[Identity, ...]
    attributes: tuple[tuple[AttributeName, JsonValue], ...]
    key: UUID
    link_ids: tuple[UUID, ...]
    attribute_ids: tuple[UUID, ...]
