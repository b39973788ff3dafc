"""What the timeline relay publishes for a stored event: key, value and headers (pure, no I/O)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from contracts import customer_stream
from plumbing.eventstore import RecordedEvent
from plumbing.eventstore.sealing import SEALED
from services.relay.messages import customer_of, partition_key, timeline_record
from services.relay.relay import relay_name

pytestmark = pytest.mark.unit

RECORDED_AT = datetime(2025, 6, 9, 12, 0, 30, 123456, tzinfo=UTC)


def _recorded(stream_id: str, data: dict[str, Any] | None = None, **overrides: Any) -> RecordedEvent:
    event_id = uuid.uuid4()
    fields: dict[str, Any] = {
        "position": 42,
        "event_id": event_id,
        "stream_id": stream_id,
        "stream_version": 3,
        "event_type": "interaction.chat_message_received",
        "schema_version": 1,
        "data": data if data is not None else {"event_id": str(event_id), "summary": "Grüße, €5"},
        "metadata": {"actor": "timeline-writer"},
        "recorded_at": RECORDED_AT,
    }
    return RecordedEvent(**(fields | overrides))


def test_a_customer_streams_events_are_keyed_by_the_customer_id() -> None:
    customer = uuid.uuid4()

    record = timeline_record(_recorded(customer_stream(customer)))

    assert record.key == str(customer).encode()
    assert record.headers["customer_id"] == str(customer)


def test_any_other_stream_is_keyed_by_its_stream_id_and_has_no_customer_header() -> None:
    record = timeline_record(_recorded("deal-7f1c"))

    assert record.key == b"deal-7f1c"
    assert "customer_id" not in record.headers


def test_a_customer_prefixed_stream_without_a_uuid_is_treated_as_another_stream() -> None:
    assert customer_of("customer-not-a-uuid") is None
    assert partition_key("customer-not-a-uuid") == "customer-not-a-uuid"


def test_every_event_of_one_customer_gets_the_same_key_whatever_its_type() -> None:
    stream_id = customer_stream(uuid.uuid4())
    keys = {
        timeline_record(_recorded(stream_id, event_type=event_type, stream_version=n)).key
        for n, event_type in enumerate(["interaction.email_received", "customer.identity_linked"])
    }

    assert len(keys) == 1


def test_the_headers_describe_the_stored_event_for_dedupe_and_ordering() -> None:
    customer = uuid.uuid4()
    event = _recorded(customer_stream(customer))

    headers = timeline_record(event).headers

    assert headers == {
        "content-type": "application/json",
        "event_id": str(event.event_id),
        "event_type": "interaction.chat_message_received",
        "schema_version": "1",
        "stream_id": customer_stream(customer),
        "stream_version": "3",
        "position": "42",
        "recorded_at": "2025-06-09T12:00:30.123456+00:00",
        "customer_id": str(customer),
    }


def test_the_value_is_the_stored_contract_event_as_utf8_json_without_the_metadata() -> None:
    data = {"event_id": str(uuid.uuid4()), "summary": "Grüße, €5", "lines": [{"qty": 2, "price": "19.95"}]}
    event = _recorded(customer_stream(uuid.uuid4()), data)

    value = timeline_record(event).value

    assert json.loads(value.decode("utf-8")) == data
    assert "timeline-writer" not in value.decode("utf-8")  # metadata (actor, provenance) stays inside


def test_the_correlation_id_is_the_events_own_or_else_its_event_id() -> None:
    with_one = _recorded("deal-1", {"correlation_id": "webhook-123"})
    without = _recorded("deal-1", {"summary": "no correlation id"})

    assert timeline_record(with_one).correlation_id == "webhook-123"
    assert timeline_record(without).correlation_id == str(without.event_id)


def test_each_topic_has_a_checkpoint_of_its_own() -> None:
    assert relay_name("hub.timeline.v1") == "kafka-relay:hub.timeline.v1"
    assert relay_name("hub.timeline.v1") != relay_name("hub.timeline.v2")


def test_a_sealed_event_is_published_as_stored_with_its_seal_mark_in_a_header() -> None:
    """The relay reads the log as stored: the value keeps the ciphertext, the header says what it seals."""
    mark = {
        "key": str(uuid.uuid4()),
        "data": ["sender.identities[0].value", "conversation_id"],
        "metadata": [],
    }
    data = {
        "conversation_id": "q8Zx-ciphertext",
        "sender": {"identities": [{"kind": "phone", "value": "c2Vh"}]},
    }
    event = _recorded(customer_stream(uuid.uuid4()), data, metadata={"customer_id": "c", SEALED: mark})

    record = timeline_record(event)

    assert json.loads(record.value) == data
    assert json.loads(record.headers["sealed"]) == mark
    assert "sealed" not in timeline_record(_recorded("deal-1")).headers  # nothing sealed, no header
