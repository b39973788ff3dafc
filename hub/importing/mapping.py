"""A record becomes an :class:`ImportRow` (identities and attribute values in normal form) or a
:class:`BadRow` saying what is wrong. Pure: the same record and spec always give the same answer.

A row with any value the hub would refuse (a bad email, a phone that is no number, a birthday in the
future) is bad as a whole: importing the rest of it would make a customer out of half a line. Empty cells
are simply absent. Reasons name the column and the rule, never the value (it is personal).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import orjson
from pydantic import JsonValue

from contracts import (
    AttributeName,
    Identity,
    InvalidAttribute,
    InvalidIdentity,
    event_id_for,
    normalise_identity,
)
from contracts.attributes import attribute_json
from hub.importing.ids import attribute_id, link_id
from hub.importing.rows import BadRow, ImportRow, Record
from hub.importing.spec import AttributeColumn, ColumnSpec
from plumbing import fast_json

#: The provider an import row's key is derived under (no provider message id can collide with it).
IMPORT_PROVIDER = "import"
_TRUE = frozenset({"true", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "no", "n", "0", "off"})
_STRUCTURED = frozenset({AttributeName.CHILDREN, AttributeName.CAR})
_CONSENTS = frozenset(name for name in AttributeName if name.value.startswith("consent_"))


class RowRefused(ValueError):
    """Why a record cannot be imported."""


def _text(value: Any, column: str) -> str | None:
    """A cell as text, or None when it is empty."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RowRefused(f"{column}: expected text, got a JSON {type(value).__name__}")
    text = str(value).strip()
    return text or None


def _flag(text: str, column: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise RowRefused(f"{column}: a consent is yes/no, true/false or 1/0")


def _from_text(name: AttributeName, text: str, column: str) -> Any:
    """A CSV cell's text as the value its attribute takes."""
    if name in _CONSENTS:
        return _flag(text, column)
    if name is AttributeName.PREFERENCES and not text.startswith("["):
        return [part.strip() for part in text.split(";") if part.strip()]
    if name in _STRUCTURED or name is AttributeName.PREFERENCES:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            example = (
                '{"brand": "Volvo", "model": "XC60"}' if name is AttributeName.CAR else '[{"name": "Ann"}]'
            )
            raise RowRefused(f"{column}: {name.value} is JSON, such as {example}") from None
    return text


def _attribute(spec: AttributeColumn, value: Any, today: date) -> JsonValue | None:
    column, name = spec.column, spec.attribute
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    typed = _from_text(name, value.strip(), column) if isinstance(value, str) else value
    try:
        normal = attribute_json(name, typed)
    except InvalidAttribute as exc:
        if name is AttributeName.LANGUAGE:  # its message quotes the value
            raise RowRefused(f"{column}: language: not a BCP 47 tag (such as en, en-GB, pt-BR)") from None
        raise RowRefused(f"{column}: {exc}") from None
    if name is AttributeName.BIRTHDAY and isinstance(normal, str) and date.fromisoformat(normal) > today:
        raise RowRefused(f"{column}: birthday is in the future")
    return normal


def _identities(spec: ColumnSpec, values: Mapping[str, Any], region: str) -> tuple[Identity, ...]:
    found: dict[str, Identity] = {}
    for column in spec.identities:
        text = _text(values.get(column.column), column.column)
        if text is None:
            continue
        try:
            identity = normalise_identity(column.kind, text, provider=column.provider, default_region=region)
        except InvalidIdentity as exc:
            raise RowRefused(f"{column.column}: {column.kind.value}: {exc}") from None
        found.setdefault(identity.key, identity)
    if not found:
        raise RowRefused(f"no identity: {', '.join(c.column for c in spec.identities)} empty")
    return tuple(found.values())


def row_key(identities: tuple[Identity, ...], attributes: tuple[tuple[AttributeName, JsonValue], ...]) -> str:
    """The canonical text of a row's content: its identity keys (sorted) and attribute values."""
    content = {"identities": sorted(i.key for i in identities), "attributes": dict(attributes)}
    return fast_json.dumps_sorted(content).decode()


def map_record(record: Record, spec: ColumnSpec, region: str, today: date) -> ImportRow | BadRow:
    """The record as an import row, or why it is bad. ``region`` reads phones without a country code,
    ``today`` bounds birthdays."""
    try:
        identities = _identities(spec, record.values, region)
        attributes = tuple(
            (column.attribute, value)
            for column in spec.attributes
            if (value := _attribute(column, record.values.get(column.column), today)) is not None
        )
    except RowRefused as exc:
        return BadRow(record.line, str(exc))
    key = event_id_for(IMPORT_PROVIDER, row_key(identities, attributes))
    return ImportRow(
        record.line,
        identities,
        attributes,
        key,
        link_ids=tuple(link_id(key, identity) for identity in identities),
        attribute_ids=tuple(attribute_id(key, name) for name, _ in attributes),
    )
