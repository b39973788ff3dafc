"""Rows as one array per column, for ``INSERT ... SELECT FROM unnest(...)``: one statement per table
and batch instead of one per row (what the projections write per batch)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def columns(rows: Sequence[tuple[Any, ...]]) -> tuple[list[Any], ...]:
    """``rows`` (of equal length) as one list per column."""
    return tuple(map(list, zip(*rows, strict=True)))
