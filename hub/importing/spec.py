"""Which column of an export holds what: ``--map TARGET=COLUMN`` pairs, or a TOML/JSON spec file.

Targets: ``email``, ``phone``, ``loyalty``; ``handle.<provider>`` and ``external.<provider>`` (an id in
a chat network, or in another system such as the CRM the export comes from); ``name`` and every profile
attribute the card keeps (``birthday``, ``language``, ``consent_email``...), also as ``attr.<name>``.
A target may take several columns (``--map email=E-mail --map email="E-mail 2"``); a column one target.

A spec file holds the same pairs in a ``map`` table, and optionally the phone ``region``::

    region = "DE"
    [map]
    email = "E-mail"
    phone = ["Phone", "Mobile"]
    name = "Full name"
    "external.oldcrm" = "Customer ID"
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts import AttributeName, IdentityKind

_QUALIFIED = {IdentityKind.HANDLE, IdentityKind.EXTERNAL}
_ATTRIBUTE_PREFIX = "attr."


class SpecError(ValueError):
    """A column spec that cannot be used; the message says what is wrong and what would be right."""


@dataclass(frozen=True)
class IdentityColumn:
    column: str
    kind: IdentityKind
    provider: str | None = None


@dataclass(frozen=True)
class AttributeColumn:
    column: str
    attribute: AttributeName


@dataclass(frozen=True)
class ColumnSpec:
    """Where each identity and attribute comes from; ``region`` reads phones without a country code."""

    identities: tuple[IdentityColumn, ...]
    attributes: tuple[AttributeColumn, ...]
    region: str | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        return (*(c.column for c in self.identities), *(c.column for c in self.attributes))

    def missing_from(self, header: Iterable[str]) -> list[str]:
        """The spec's columns the header does not have."""
        present = set(header)
        return [column for column in self.columns if column not in present]


def _known_targets() -> str:
    kinds = [k.value for k in IdentityKind if k not in _QUALIFIED]
    qualified = [f"{k.value}.<provider>" for k in IdentityKind if k in _QUALIFIED]
    return ", ".join([*kinds, *qualified, *(a.value for a in AttributeName)])


def _target(target: str, column: str) -> IdentityColumn | AttributeColumn:
    name = target.strip().lower()
    kind_text, dot, provider = name.partition(".")
    if name.startswith(_ATTRIBUTE_PREFIX) or name in {a.value for a in AttributeName}:
        attribute = name.removeprefix(_ATTRIBUTE_PREFIX)
        try:
            return AttributeColumn(column, AttributeName(attribute))
        except ValueError:
            raise SpecError(
                f"{target!r}: the card keeps no attribute {attribute!r};"
                f" attributes: {', '.join(a.value for a in AttributeName)}"
            ) from None
    try:
        kind = IdentityKind(kind_text)
    except ValueError:
        raise SpecError(f"unknown target {target!r}; targets: {_known_targets()}") from None
    if kind in _QUALIFIED and not provider:
        raise SpecError(f"{target!r}: {kind.value} needs a provider: {kind.value}.<provider>")
    if kind not in _QUALIFIED and dot:
        raise SpecError(f"{target!r}: {kind.value} takes no provider")
    return IdentityColumn(column, kind, provider or None)


def build_spec(pairs: Iterable[tuple[str, str]], region: str | None = None) -> ColumnSpec:
    """A spec from ``(target, column)`` pairs; at least one identity column, each column used once."""
    identities: list[IdentityColumn] = []
    attributes: list[AttributeColumn] = []
    seen: set[str] = set()
    for target, column in pairs:
        if not column.strip():
            raise SpecError(f"{target!r}: the column name is empty")
        if column in seen:
            raise SpecError(f"column {column!r} is mapped twice")
        seen.add(column)
        mapped = _target(target, column)
        if isinstance(mapped, IdentityColumn):
            identities.append(mapped)
        else:
            attributes.append(mapped)
    if not identities:
        raise SpecError("map at least one identity column (email, phone, ...): rows are matched by them")
    single = [a.attribute.value for a in attributes]
    twice = sorted({name for name in single if single.count(name) > 1})
    if twice:
        raise SpecError(f"attribute(s) {', '.join(twice)} mapped from more than one column")
    if region is not None and not (len(region) == 2 and region.isalpha() and region.isupper()):
        raise SpecError(f"region {region!r} is not a two-letter country code such as US or DE")
    return ColumnSpec(tuple(identities), tuple(attributes), region)


def parse_pairs(texts: Iterable[str]) -> list[tuple[str, str]]:
    """``TARGET=COLUMN`` texts as pairs (the column may itself contain ``=``)."""
    pairs = []
    for text in texts:
        target, equals, column = text.partition("=")
        if not equals or not target.strip():
            raise SpecError(f"{text!r}: expected TARGET=COLUMN, for example email=E-mail")
        pairs.append((target.strip(), column))
    return pairs


def _file_pairs(document: Mapping[str, Any]) -> list[tuple[str, str]]:
    table = document.get("map")
    if not isinstance(table, Mapping):
        raise SpecError("the spec file needs a 'map' table of TARGET = COLUMN (or a list of columns)")
    pairs = []
    for target, columns in table.items():
        listed = columns if isinstance(columns, list) else [columns]
        if not listed or not all(isinstance(column, str) for column in listed):
            raise SpecError(f"map.{target}: a column name, or a list of them")
        pairs += [(str(target), column) for column in listed]
    return pairs


def load_spec_file(path: Path) -> tuple[list[tuple[str, str]], str | None]:
    """The pairs and region of a ``.toml`` or ``.json`` spec file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"cannot read the spec file {path}: {exc.strerror}") from exc
    try:
        document = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SpecError(f"{path}: not valid {path.suffix.lstrip('.') or 'TOML'}: {exc}") from exc
    if not isinstance(document, dict):
        raise SpecError(f"{path}: expected a table with 'map'")
    region = document.get("region")
    if region is not None and not isinstance(region, str):
        raise SpecError(f'{path}: region must be text such as "DE"')
    return _file_pairs(document), region
