"""Masks by kind: remove every value of a masked kind from a document, guided by its model's marks.

A *plan* is read once per model from the ``Personal``/``PersonalBy`` marks of its fields (and of the
models, lists and maps inside them, see :mod:`contracts.read.kinds`); applying it to a JSON document
drops each object key whose value is of a masked kind. Dropped means absent, as with field masks:
a client never mistakes "hidden" for "none". A container of marked items (``list[Contact]``) counts as
marked itself, so a masked list disappears instead of turning into an empty one.

The same plan also *collects* the values of given kinds from a document: the personal values the
safety net of :mod:`plumbing.access.scrub` then looks for elsewhere in a response.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import threading
import types
import typing
import uuid
from collections.abc import Iterator, Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from contracts.read.kinds import Inherited, Personal, PersonalBy, PersonalKind

NO_KINDS: frozenset[PersonalKind] = frozenset()
_SEQUENCES = (list, tuple, set, frozenset, Sequence, Set)
_MAPPINGS = (dict, Mapping)


@dataclass
class Node:
    """What a plan knows about one place of a document: its kinds, and where its parts go."""

    kinds: frozenset[PersonalKind] = NO_KINDS
    by: PersonalBy | None = None
    #: The part of a marked object that carries its kinds (:class:`~contracts.read.kinds.Inherited`).
    inherited: bool = False
    fields: dict[str, Node] = field(default_factory=dict)
    items: Node | None = None
    values: Node | None = None
    #: Declared as free text, a date or any JSON (not an id, a code, a number or a timestamp).
    text: bool = False
    #: No mark here or below: masking leaves this part as it is.
    plain: bool = True

    @property
    def marked(self) -> bool:
        return bool(self.kinds) or self.by is not None

    def kinds_in(self, parent: Mapping[str, Any]) -> frozenset[PersonalKind]:
        """This node's kinds as a field of ``parent`` (a :class:`PersonalBy` looks at its sibling)."""
        if self.by is None:
            return self.kinds
        sibling = parent.get(self.by.sibling)
        if isinstance(sibling, str):
            return self.kinds | self.by.kinds.get(sibling, NO_KINDS)
        return self.kinds.union(*self.by.kinds.values())


_PLANS: dict[Any, Node] = {}
_LOCK = threading.Lock()


def plan(annotation: Any) -> Node:
    """The plan of a type (a model, ``list[Model]``, ``Annotated[...]``, ...); cached per type."""
    try:
        return _PLANS[annotation]
    except (KeyError, TypeError):
        pass
    with _LOCK:
        built = _Planner().node(annotation)
        try:
            _PLANS[annotation] = built
        except TypeError:  # an unhashable annotation: planned again next time
            pass
        return built


class _Planner:
    """Builds nodes, sharing one node per model so recursive models terminate."""

    def __init__(self) -> None:
        self._models: dict[type, Node] = {}

    def node(self, annotation: Any) -> Node:
        kinds, by, inherited, inner = _unwrap(annotation)
        built = self._shape(inner)
        if kinds or by is not None or inherited:
            built = dataclasses.replace(
                built, kinds=built.kinds | kinds, by=by or built.by, inherited=inherited, plain=False
            )
        return built

    def _shape(self, inner: Any) -> Node:
        origin = typing.get_origin(inner)
        if origin in (typing.Union, types.UnionType):
            members = [arg for arg in typing.get_args(inner) if arg is not type(None)]
            return _merge([self.node(arg) for arg in members])
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return self._model(inner)
        if isinstance(inner, type) and dataclasses.is_dataclass(inner):
            return self._dataclass(inner)
        if isinstance(origin, type) and issubclass(origin, _MAPPINGS):
            args = typing.get_args(inner)
            return _container(values=self.node(args[1]) if len(args) == 2 else Node(text=True))
        if isinstance(origin, type) and issubclass(origin, _SEQUENCES):
            parts = [arg for arg in typing.get_args(inner) if arg is not Ellipsis]
            return _container(items=_merge([self.node(arg) for arg in parts]) if parts else Node(text=True))
        return Node(text=_is_text(inner))

    def _model(self, model: type[BaseModel]) -> Node:
        if model in self._models:
            return self._models[model]
        built = self._models[model] = Node()
        fields = {_json_name(name, info): self._field(info) for name, info in model.model_fields.items()}
        for name, computed in model.model_computed_fields.items():
            fields[computed.alias or name] = self.node(computed.return_type)
        _fill(built, fields)
        return built

    def _dataclass(self, cls: type) -> Node:
        if cls in self._models:
            return self._models[cls]
        built = self._models[cls] = Node()
        hints = typing.get_type_hints(cls, include_extras=True)
        _fill(built, {f.name: self.node(hints.get(f.name, Any)) for f in dataclasses.fields(cls)})
        return built

    def _field(self, info: FieldInfo) -> Node:
        if info.metadata:
            return self.node(typing.Annotated[(info.annotation, *info.metadata)])
        return self.node(info.annotation)


def _is_text(annotation: Any) -> bool:
    """Free text, a date or any JSON; not an enum, a literal, an id, a number or a timestamp."""
    if typing.get_origin(annotation) is typing.Literal:
        return False
    if isinstance(annotation, type):
        if issubclass(annotation, enum.Enum | bool | int | float | uuid.UUID | datetime.datetime):
            return False
        return issubclass(annotation, str | datetime.date)
    return True  # Any, JsonValue and other aliases: whatever the document holds


def _json_name(name: str, info: FieldInfo) -> str:
    alias = info.serialization_alias or info.alias
    return alias if isinstance(alias, str) else name


def _fill(node: Node, fields: dict[str, Node]) -> None:
    node.fields = fields
    node.plain = all(child.plain for child in fields.values())


def _unwrap(annotation: Any) -> tuple[frozenset[PersonalKind], PersonalBy | None, bool, Any]:
    kinds: set[PersonalKind] = set()
    by: PersonalBy | None = None
    inherited = False
    while typing.get_origin(annotation) is typing.Annotated:
        for meta in annotation.__metadata__:
            if isinstance(meta, Personal):
                kinds |= meta.kinds
            elif isinstance(meta, PersonalBy):
                by = meta
            elif isinstance(meta, Inherited):
                inherited = True
        annotation = annotation.__origin__
    return frozenset(kinds), by, inherited, annotation


def _container(*, items: Node | None = None, values: Node | None = None) -> Node:
    part = items if items is not None else values
    assert part is not None
    # A list or map of marked values is itself of their kinds: masked, it goes as a whole.
    lifted = part.kinds if part.by is None else NO_KINDS
    return Node(kinds=lifted, items=items, values=values, text=part.text, plain=part.plain)


def _merge(nodes: list[Node]) -> Node:
    """One node for a union: a value is masked when any member's plan would mask it."""
    if not nodes:
        return Node()
    if len(nodes) == 1:
        return nodes[0]
    fields: dict[str, Node] = {}
    for node in nodes:
        for name, child in node.fields.items():
            fields[name] = _merge([fields[name], child]) if name in fields else child
    items = [n.items for n in nodes if n.items is not None]
    values = [n.values for n in nodes if n.values is not None]
    return Node(
        kinds=NO_KINDS.union(*(n.kinds for n in nodes)),
        by=next((n.by for n in nodes if n.by is not None), None),
        inherited=any(n.inherited for n in nodes),
        fields=fields,
        items=_merge(items) if items else None,
        values=_merge(values) if values else None,
        text=any(n.text for n in nodes),
        plain=all(n.plain for n in nodes),
    )


def mask_kinds(node: Node, document: Any, masked: frozenset[PersonalKind]) -> Any:
    """``document`` without the values of ``masked`` kinds; unchanged parts are shared, not copied."""
    if node.plain or not masked:
        return document
    if isinstance(document, dict):
        if node.fields:
            kept: dict[str, Any] = {}
            for key, value in document.items():
                child = node.fields.get(key)
                if child is None or child.plain:
                    kept[key] = value
                elif not child.kinds_in(document) & masked:
                    kept[key] = mask_kinds(child, value, masked)
            return kept
        if node.values is not None:
            return {key: mask_kinds(node.values, value, masked) for key, value in document.items()}
    if isinstance(document, list) and node.items is not None:
        return [mask_kinds(node.items, item, masked) for item in document]
    return document


def collect_kinds(node: Node, document: Any, kinds: frozenset[PersonalKind]) -> Iterator[str]:
    """Every personal value (as text) in ``document`` that is of one of ``kinds``.

    Of a marked object, only the parts that carry its kinds count: its marked and inherited parts when
    it says which (an identity's value and key), else its text and dates (a child's name and birth date);
    never its ids, codes, numbers or timestamps.
    """
    if node.plain or not kinds:
        return
    if isinstance(document, dict) and node.fields:
        for key, value in document.items():
            child = node.fields.get(key)
            if child is None or child.plain:
                continue
            if child.kinds_in(document) & kinds:
                yield from _carried(child, value)
            else:
                yield from collect_kinds(child, value, kinds)
    elif isinstance(document, dict) and node.values is not None:
        for value in document.values():
            yield from collect_kinds(node.values, value, kinds)
    elif isinstance(document, list) and node.items is not None:
        for item in document:
            yield from collect_kinds(node.items, item, kinds)


def _carried(node: Node, value: Any) -> Iterator[str]:
    """The personal values of a marked value: all of it if it is text, else the parts carrying its kinds."""
    if node.text:
        yield from scalars(value)
    elif isinstance(value, list) and node.items is not None:
        for item in value:
            yield from _carried(node.items, item)
    elif isinstance(value, dict) and node.fields:
        carriers = {name for name, child in node.fields.items() if child.marked or child.inherited}
        for key, part in value.items():
            child = node.fields.get(key)
            if child is not None and (not carriers or key in carriers):
                yield from _carried(child, part)
    elif isinstance(value, dict) and node.values is not None:
        for part in value.values():
            yield from _carried(node.values, part)


def scalars(document: Any) -> Iterator[str]:
    """Every string, number and date in ``document`` (map values, not keys), as text."""
    if isinstance(document, dict):
        for value in document.values():
            yield from scalars(value)
    elif isinstance(document, list | tuple):
        for item in document:
            yield from scalars(item)
    elif isinstance(document, str):
        yield document
    elif isinstance(document, int | float | datetime.date) and not isinstance(document, bool):
        yield str(document)


def kinds_of_field(model: type[BaseModel], name: str) -> frozenset[PersonalKind]:
    """The kinds marked on one field of ``model`` (for refusals that depend on a field's kind)."""
    child = plan(model).fields.get(name)
    return NO_KINDS if child is None else child.kinds
