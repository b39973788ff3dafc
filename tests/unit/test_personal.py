"""The personal-field registry: every event type is classified, and every path names a real field."""

from __future__ import annotations

from typing import Any

import pytest

from contracts import (
    ATTRIBUTE_EVENTS,
    CUSTOMER_EVENTS,
    DOCUMENT_EVENTS,
    INTERACTION_EVENTS,
    MEDIA_EVENTS,
    SALES_EVENTS,
    Envelope,
)
from contracts.erasure import ERASURE_EVENTS
from contracts.personal import PERSONAL_FIELDS, leaves, personal_paths
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


def test_every_event_type_is_classified_and_nothing_else_is() -> None:
    assert {cls.EVENT_TYPE for cls in ALL} == set(PERSONAL_FIELDS)


@pytest.mark.parametrize("cls", ALL, ids=lambda cls: cls.EVENT_TYPE)
def test_every_personal_path_names_a_field_of_its_contract(cls: type[Envelope]) -> None:
    schema = cls.model_json_schema()
    entry = PERSONAL_FIELDS[cls.EVENT_TYPE]
    paths = entry if isinstance(entry, tuple) else entry({"attribute": "name"})
    assert all(_path_exists(schema, path) for path in paths), [
        p for p in paths if not _path_exists(schema, p)
    ]


def test_amounts_ids_and_channels_stay_plaintext() -> None:
    personal = {path for entry in PERSONAL_FIELDS.values() if isinstance(entry, tuple) for path in entry}
    for plain in ("total", "amount", "order_id", "provider_message_id", "channel", "customer_id", "event_id"):
        assert not any(path.split(".")[0].removesuffix("[]") == plain for path in personal)


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
