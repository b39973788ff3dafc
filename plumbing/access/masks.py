"""Field masks: the paths a role may not see are removed from a read model as it leaves the API.

Removed means absent, not emptied: a masked card has no ``emails`` key at all, so a client cannot
confuse "hidden" with "none".

Path syntax: ``field``, ``field.sub`` (a nested object), ``field[].sub`` (every item of a list),
``field.*.sub`` (every value of a map).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, create_model
from pydantic.fields import FieldInfo


def apply_mask(document: dict[str, Any], paths: Iterable[str]) -> dict[str, Any]:
    """A copy of ``document`` without ``paths``; the input is left as it was."""
    masked: dict[str, Any] = _copy(document)
    for path in paths:
        _drop(masked, path.split("."))
    return masked


def _copy(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _copy(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_copy(item) for item in node]
    return node


def _drop(node: Any, segments: list[str]) -> None:
    if not isinstance(node, dict) or not segments:
        return
    head, rest = segments[0], segments[1:]
    if head == "*":
        for value in node.values():
            _drop(value, rest)
        return
    is_list = head.endswith("[]")
    key = head.removesuffix("[]")
    if not rest:
        node.pop(key, None)
        return
    child = node.get(key)
    for item in child if is_list and isinstance(child, list) else [child]:
        _drop(item, rest)


def unknown_paths(model: type[BaseModel], paths: Iterable[str]) -> set[str]:
    """The ``paths`` that name no field of ``model`` (computed fields count as fields)."""
    return {path for path in paths if not _resolves(model, path.split("."))}


def _resolves(model: type[BaseModel], segments: list[str]) -> bool:
    head, rest = segments[0], segments[1:]
    key = head.removesuffix("[]")
    annotation = _field_annotation(model, key)
    if annotation is None:
        return False
    if not rest:
        return not head.endswith("[]")
    if head.endswith("[]"):
        annotation = _item_type(annotation, list)
    if rest[0] == "*":
        annotation, rest = _item_type(annotation, dict), rest[1:]
        if not rest:
            return False
    nested = _model_in(annotation)
    return nested is not None and _resolves(nested, rest)


def _field_annotation(model: type[BaseModel], name: str) -> Any:
    if name in model.model_fields:
        return model.model_fields[name].annotation
    if name in model.model_computed_fields:
        return model.model_computed_fields[name].return_type
    return None


def _strip_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return members[0] if len(members) == 1 else annotation
    return annotation


def _item_type(annotation: Any, container: type) -> Any:
    annotation = _strip_optional(annotation)
    if typing.get_origin(annotation) is not container:
        return None
    return typing.get_args(annotation)[-1]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    annotation = _strip_optional(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def optional_view(model: type[BaseModel], name: str) -> type[BaseModel]:
    """``model`` with every top-level field optional: the documented shape of a masked view.

    Fields keep their ``Annotated`` metadata, so the kinds marked on them (:mod:`contracts.read.kinds`)
    still mask the view."""
    fields: dict[str, Any] = {key: (_optional(info), None) for key, info in model.model_fields.items()}
    fields.update({key: (info.return_type | None, None) for key, info in model.model_computed_fields.items()})
    doc = f"{model.__name__}; fields the caller's role may not see are absent. {model.__doc__ or ''}"
    view: type[BaseModel] = create_model(name, __doc__=doc.strip(), **fields)
    return view


def _optional(info: FieldInfo) -> Any:
    optional = info.annotation | None  # type: ignore[operator]  # a type, at run time
    return typing.Annotated[(optional, *info.metadata)] if info.metadata else optional
