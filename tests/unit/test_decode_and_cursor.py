"""Poison detection of Kafka records, and the read API's opaque cursors."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from pydantic import ValidationError

from contracts import (
    ChatMessageReceived,
    IdentityKind,
    IdentityLinked,
    Sender,
    event_id_for,
    normalise_identity,
)
from contracts.base import STORED
from services.api.cursor import BadCursor, decode_cursor, encode_cursor
from services.timeline.decode import PoisonMessage, decode_interaction

pytestmark = pytest.mark.unit

AT = datetime(2025, 6, 9, 12, 0, tzinfo=UTC)
EMAIL = normalise_identity(IdentityKind.EMAIL, "ada@example.com")


def _chat() -> ChatMessageReceived:
    return ChatMessageReceived(
        event_id=event_id_for("widget", "m1"),
        occurred_at=AT,
        received_at=AT,
        correlation_id="corr-1",
        provider="widget",
        provider_message_id="m1",
        sender=Sender(identities=(EMAIL,), display_name="Ada"),
        summary="hello",
        conversation_id="conv-1",
    )


def _chat_json(**changes: Any) -> bytes:
    data = json.loads(_chat().model_dump_json())
    data.update(changes)
    return json.dumps(data).encode()


# --- decode ----------------------------------------------------------------------------------------


def test_a_valid_interaction_decodes_to_its_contract() -> None:
    event = decode_interaction(_chat().model_dump_json().encode())
    assert isinstance(event, ChatMessageReceived)
    assert event == _chat()


@pytest.mark.parametrize("body", [b"", b"{not json", b"\xff\xfe\x00garbage", b"{'single': 'quotes'}"])
def test_a_record_that_is_not_json_is_poison(body: bytes) -> None:
    with pytest.raises(PoisonMessage, match="not JSON"):
        decode_interaction(body)


@pytest.mark.parametrize("body", [b"[]", b"42", b'"text"', b"null", b"true"])
def test_json_that_is_not_an_object_is_poison(body: bytes) -> None:
    with pytest.raises(PoisonMessage, match="not a JSON object"):
        decode_interaction(body)


@pytest.mark.parametrize(
    "body",
    [
        _chat_json(event_type="interaction.fax.received"),
        _chat_json(schema_version=99),
        b'{"hello": "world"}',
    ],
)
def test_an_event_of_an_unknown_type_or_version_is_poison(body: bytes) -> None:
    with pytest.raises(PoisonMessage, match="unknown event type"):
        decode_interaction(body)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_chat_json(event_id="not-a-uuid"), "event_id"),
        (_chat_json(occurred_at="2025-06-09T12:00:00"), "occurred_at"),  # naive
        (_chat_json(sender={"identities": []}), "sender"),
        (_chat_json(conversation_id=""), "conversation_id"),
        (_chat_json(surprise="extra field"), "surprise"),
    ],
)
def test_an_event_with_invalid_fields_is_poison_and_the_reason_names_the_field(
    body: bytes, field: str
) -> None:
    with pytest.raises(PoisonMessage, match="invalid event") as caught:
        decode_interaction(body)
    assert field in str(caught.value)


@pytest.mark.parametrize("version", ['"abc"', "[1]", "null"])
def test_a_schema_version_that_is_not_a_number_is_poison(version: str) -> None:
    body = _chat_json().replace(b'"schema_version": 1', f'"schema_version": {version}'.encode())
    assert body != _chat_json()
    with pytest.raises(PoisonMessage):
        decode_interaction(body)


def test_the_reason_for_invalid_fields_does_not_echo_the_input() -> None:
    body = _chat_json(sender={"identities": [{"kind": "email", "value": 7}]})
    with pytest.raises(PoisonMessage) as caught:
        decode_interaction(body)
    assert "input" not in str(caught.value)


def test_a_valid_event_that_is_not_an_interaction_is_poison() -> None:
    linked = IdentityLinked(
        event_id=uuid4(),
        occurred_at=AT,
        received_at=AT,
        correlation_id="c",
        customer_id=uuid4(),
        identity=EMAIL,
        rule="new_customer",
        evidence_event_id=uuid4(),
    )
    with pytest.raises(PoisonMessage, match=r"customer\.identity\.linked is not an interaction event"):
        decode_interaction(linked.model_dump_json().encode())


def test_poison_is_a_value_error_with_a_reason() -> None:
    with pytest.raises(ValueError, match=r".+"):
        decode_interaction(b"[]")


# --- cursor ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("position", [0, 1, 42, 2**62])
def test_a_cursor_decodes_to_the_position_it_was_made_from(position: int) -> None:
    assert decode_cursor(encode_cursor(position)) == position


def test_a_cursor_is_opaque_url_safe_text() -> None:
    cursor = encode_cursor(123456)
    assert "123456" not in cursor
    assert "=" not in cursor
    assert all(c.isalnum() or c in "-_" for c in cursor)


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        "not a cursor",
        "é",
        _b64("p:"),
        _b64("p:abc"),
        _b64("q:5"),
        _b64("5"),
        _b64("p:1.5"),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_a_garbage_cursor_raises_bad_cursor(cursor: str) -> None:
    with pytest.raises(BadCursor):
        decode_cursor(cursor)


@pytest.mark.parametrize("text", ["p:+5", "p: 5", "p:1_000"])
def test_a_cursor_this_api_never_issues_raises_bad_cursor_even_if_its_number_parses(text: str) -> None:
    """``encode_cursor`` only writes ``p:<digits>`` without sign, spaces, underscores or leading zeros."""
    with pytest.raises(BadCursor):
        decode_cursor(_b64(text))


@pytest.mark.parametrize("text", ["p:-1", "p:-100"])
def test_a_cursor_with_a_negative_position_raises_bad_cursor(text: str) -> None:
    with pytest.raises(BadCursor):
        decode_cursor(_b64(text))


# --- bodies that break the JSON parser or int() itself must be poison too, not crash the handler ----


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000,  # fits easily in one Kafka record
        b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
    ],
    ids=["deep-array", "deep-object"],
)
def test_json_nested_too_deeply_to_parse_is_poison(body: bytes) -> None:
    with pytest.raises(PoisonMessage):
        decode_interaction(body)


@pytest.mark.parametrize("version", ["1e999", "-1e999", "Infinity"])
def test_an_infinite_schema_version_is_poison(version: str) -> None:
    body = _chat_json().replace(b'"schema_version": 1', f'"schema_version": {version}'.encode())
    with pytest.raises(PoisonMessage):
        decode_interaction(body)


def test_text_postgresql_cannot_store_is_poison() -> None:
    """A NUL character is valid JSON and passes the contract, but PostgreSQL refuses it in jsonb and
    text (UntranslatableCharacter), a deterministic failure that would be redelivered forever."""
    with pytest.raises(PoisonMessage):
        decode_interaction(_chat_json(summary="before\u0000after"))


@pytest.mark.parametrize(
    "body",
    [
        _chat_json(sender={"identities": [EMAIL.model_dump()], "display_name": "A\u0000da"}),  # nested
        _chat_json(summary="before\u0000after").decode().encode("utf-16"),  # json.loads takes UTF-16
        _chat_json(summary="before\u0000after").decode().encode("utf-32"),
    ],
    ids=["nested", "utf-16", "utf-32"],
)
def test_a_nul_anywhere_in_any_encoding_json_takes_is_poison(body: bytes) -> None:
    """The decoder skips the contracts' NUL walk for bodies that cannot hold a NUL: these can."""
    with pytest.raises(PoisonMessage, match="NUL"):
        decode_interaction(body)


def test_an_escaped_backslash_before_u0000_is_text_not_a_nul() -> None:
    event = decode_interaction(_chat_json(summary="C:\\u0000 is a path"))
    assert event.summary == "C:\\u0000 is a path"


def test_the_nul_check_guards_outside_input_but_is_skipped_for_documents_the_hub_stored() -> None:
    """Read models load their own JSON with ``context=STORED``: it passed the check on the way in, and
    walking every string of every nested contract was a fifth of a card rebuild's time."""
    body = _chat_json(summary="before\u0000after")
    with pytest.raises(ValidationError, match="NUL"):
        ChatMessageReceived.model_validate_json(body)
    assert ChatMessageReceived.model_validate_json(body, context=STORED).summary == "before\u0000after"
