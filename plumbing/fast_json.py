"""orjson where JSON is hot, with the standard library behind it for what orjson refuses.

orjson parses and writes the same JSON several times faster, but refuses integers past 64 bits, which
the standard library (and PostgreSQL's jsonb) accept; every hot path goes through these functions, so such
a value is slower, never an error. :func:`install` makes psycopg parse json/jsonb columns with
:func:`loads` (reading the log is a visible part of every projection's and rebuild's time).
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from psycopg.types.json import set_json_loads


def loads(text: str | bytes | bytearray | memoryview) -> Any:
    """Parse JSON; the standard library's result, faster."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(bytes(text) if isinstance(text, memoryview) else text)


def dumps(value: Any) -> bytes | str:
    """Compact JSON (a jsonb parameter: orjson's bytes, or the standard library's text for what orjson
    refuses; PostgreSQL stores the same jsonb either way)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value)


def dumps_compact(value: Any) -> bytes:
    """Compact UTF-8 JSON, keys in their order: ``json.dumps(value, separators=(",", ":"),
    ensure_ascii=False)`` to the byte."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def dumps_sorted(value: Any) -> bytes:
    """Compact UTF-8 JSON with sorted keys: ``json.dumps(value, sort_keys=True, separators=(",", ":"),
    ensure_ascii=False)`` to the byte."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def install() -> None:
    """Parse every json/jsonb value psycopg reads with :func:`loads` (process-wide, idempotent)."""
    set_json_loads(loads)
