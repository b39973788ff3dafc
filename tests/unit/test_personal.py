"""The personal-field registry: every event type is classified, and every path names a real field."""

from __future__ import annotations

import re
from typing import Any

import pytest

from contracts import (
    ATTRIBUTE_EVENTS,
    CUSTOMER_EVENTS,
    DOCUMENT_EVENTS,
    INTERACTION_EVENTS,
    MEDIA_EVENTS,
    SALES_EVENTS,
    ChatMessageReceived,
    EmailReceived,
    Envelope,
    SocialMessageReceived,
)
from contracts.erasure import ERASURE_EVENTS
from contracts.personal import ERASED, FIELDS, PERSONAL_FIELDS, leaves, personal_paths
from contracts.sales_tasks import TASK_EVENTS

ALL: tuple[type[Envelope], ...] = (
    *INTERACTION_EVENTS,
    *CUSTOMER_EVENTS,
    *MEDIA_EVENTS,
    *SALES_EVENTS,
    *TASK_EVENTS,
    *ATTRIBUTE_EVENTS,
    *DOCUMENT_EVENTS,
    *ERASURE_EVENTS,
)


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow ``$ref`` and take the non-null branch of an optional field."""
    if "$ref" in node:
        return _resolve(schema, schema["$defs"][node["$ref"].rsplit("/", 1)[-1]])
    for branch in node.get("anyOf", ()):
        if branch.get("type") != "null":
            return _resolve(schema, branch)
    return node


def _path_exists(schema: dict[str, Any], path: str) -> bool:
    node = schema
    for step in path.split("."):
        name = step.removesuffix("[]")
        properties = _resolve(schema, node).get("properties", {})
        if name not in properties:
            return False
        node = _resolve(schema, properties[name])
        if step.endswith("[]"):
            if node.get("type") != "array" or "items" not in node:
                return False
            node = _resolve(schema, node["items"])
    return True


#: String formats that cannot carry an identifier of a person (our own ids, instants, dates).
_NO_TEXT_FORMATS = frozenset({"uuid", "date-time", "date"})


def _text_leaves(schema: dict[str, Any], node: dict[str, Any], path: str) -> set[str]:
    """Paths of every field that can hold free text: a string (not an enum, a constant, a uuid or a
    date), a map, or an untyped JSON value. Objects are walked, lists named ``a[]``."""
    if "$ref" in node:
        return _text_leaves(schema, schema["$defs"][node["$ref"].rsplit("/", 1)[-1]], path)
    if "anyOf" in node:
        return set().union(*(_text_leaves(schema, branch, path) for branch in node["anyOf"]))
    kind = node.get("type")
    if kind == "object" and "properties" in node:
        return set().union(
            *(
                _text_leaves(schema, child, f"{path}.{name}" if path else name)
                for name, child in node["properties"].items()
            )
        )
    if kind == "array":
        items = [node["items"]] if "items" in node else node.get("prefixItems", [])
        return set().union(set(), *(_text_leaves(schema, item, f"{path}[]") for item in items))
    if kind == "object" or (kind is None and "enum" not in node and "const" not in node):
        return {path}  # a map, or any JSON value
    if kind == "string" and "enum" not in node and "const" not in node:
        return set() if node.get("format") in _NO_TEXT_FORMATS else {path}
    return set()


def test_every_event_type_is_classified_and_nothing_else_is() -> None:
    assert {cls.EVENT_TYPE for cls in ALL} == set(PERSONAL_FIELDS) == set(FIELDS)


@pytest.mark.parametrize("cls", ALL, ids=lambda cls: cls.EVENT_TYPE)
def test_every_text_field_of_every_contract_is_classified_personal_or_plain(cls: type[Envelope]) -> None:
    """A new field that can hold text fails here until contracts/personal.py says which it is."""
    schema = cls.model_json_schema()
    unclassified = _text_leaves(schema, schema, "") - FIELDS[cls.EVENT_TYPE].classified
    assert unclassified == set(), f"classify these in contracts/personal.py: {sorted(unclassified)}"


@pytest.mark.parametrize("cls", ALL, ids=lambda cls: cls.EVENT_TYPE)
def test_every_classified_path_names_a_field_of_its_contract_on_one_side_only(cls: type[Envelope]) -> None:
    schema = cls.model_json_schema()
    fields = FIELDS[cls.EVENT_TYPE]
    named = (*fields.personal, *fields.plain, *fields.depends)
    assert [p for p in named if not _path_exists(schema, p)] == []
    assert len(named) == len(set(named)), "a path is listed twice (or on both sides)"


def test_the_walk_finds_the_fields_that_were_once_left_in_clear() -> None:
    """The classification test is only as good as its walk: these must be found (and are personal)."""
    for cls, path in (
        (SocialMessageReceived, "conversation_id"),
        (ChatMessageReceived, "media[].media_id"),
        (EmailReceived, "in_reply_to"),
        (EmailReceived, "provider_message_id"),
    ):
        schema = cls.model_json_schema()
        assert path in _text_leaves(schema, schema, "")
        assert path in FIELDS[cls.EVENT_TYPE].personal


def test_identifier_carrying_ids_are_personal_and_amounts_and_channels_stay_plaintext() -> None:
    personal = {path for fields in FIELDS.values() for path in fields.personal}
    assert {"provider_message_id", "conversation_id", "media[].media_id", "message_id"} <= personal
    for plain in ("total", "amount", "order_id", "channel", "customer_id", "event_id", "provider"):
        assert not any(path.split(".")[0].removesuffix("[]") == plain for path in personal)


def test_every_personal_field_accepts_the_erased_marker() -> None:
    """A forgotten customer's events are re-folded from the log with ``[erased]`` in every personal
    field: each contract must still validate, whatever patterns and lengths its fields have."""
    for cls in ALL:
        schema = cls.model_json_schema()
        for path in FIELDS[cls.EVENT_TYPE].personal + FIELDS[cls.EVENT_TYPE].depends:
            node = _leaf(schema, path)
            if node.get("type") != "string":
                continue  # an object or a JSON value: the erased string replaces it whole
            assert node.get("minLength", 0) <= len(ERASED) <= node.get("maxLength", len(ERASED)), (cls, path)
            assert "pattern" not in node or re.search(node["pattern"], ERASED), (cls, path)


def _leaf(schema: dict[str, Any], path: str) -> dict[str, Any]:
    node = schema
    for step in path.split("."):
        node = _resolve(schema, _resolve(schema, node)["properties"][step.removesuffix("[]")])
        if step.endswith("[]"):
            node = _resolve(schema, node["items"])
    return node


def test_attribute_values_are_personal_for_the_person_not_for_consents() -> None:
    assert personal_paths("customer.attribute.set", {"attribute": "birthday"}) == ("value",)
    assert personal_paths("customer.attribute.set", {"attribute": "consent_sms"}) == ()


def test_leaves_name_each_list_element_and_skip_absent_values() -> None:
    data = {"sender": {"identities": [{"value": "a"}, {"value": "b"}], "display_name": None}, "to": ["x"]}
    found = [
        path
        for spec in ("sender.identities[].value", "sender.display_name", "to[]", "cc[]")
        for path, _, _ in leaves(data, spec)
    ]
    assert found == ["sender.identities[0].value", "sender.identities[1].value", "to[0]"]
