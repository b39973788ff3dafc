"""The recordings fetcher's pure parts: what needs fetching, the outcome events, URLs and statuses."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from contracts import BlobRef, Envelope, RecordingStored, RecordingUnavailable, customer_stream, parse_event
from plumbing.eventstore import RecordedEvent
from services.media.download import classify
from services.media.hosts import is_allowed
from services.media.recordings import (
    call_to_fetch,
    not_found_is_final,
    outcome_id,
    recording_stored,
    recording_unavailable,
)
from services.media.settings import MediaSettings
from services.media.twilio import media_url
from tests.support.calls import ACCOUNT_SID, call_recorded
from tests.support.events import identity_linked

pytestmark = pytest.mark.unit

CUSTOMER = uuid.uuid4()
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
REF = BlobRef(sha256="ab" * 32, size_bytes=3)


def _logged(event: object, stream_id: str = customer_stream(CUSTOMER)) -> RecordedEvent:
    assert isinstance(event, Envelope)
    return RecordedEvent(
        position=7,
        event_id=event.event_id,
        stream_id=stream_id,
        stream_version=0,
        event_type=event.event_type,
        schema_version=event.schema_version,
        data=event.model_dump(mode="json"),
        metadata={},
        recorded_at=NOW,
    )


def test_a_call_with_a_recording_on_a_customer_stream_needs_fetching() -> None:
    call = call_recorded("a1")
    assert call_to_fetch(_logged(call)) == (CUSTOMER, call)


def test_a_call_without_a_recording_needs_nothing() -> None:
    assert call_to_fetch(_logged(call_recorded("a2", recording_base=None))) is None


def test_other_event_types_and_other_streams_need_nothing() -> None:
    assert call_to_fetch(_logged(identity_linked("a3"))) is None
    assert call_to_fetch(_logged(call_recorded("a4"), stream_id=f"deal-{uuid.uuid4()}")) is None


def test_both_outcomes_of_a_call_share_one_deterministic_id() -> None:
    call = call_recorded("b1")
    stored = recording_stored(call, CUSTOMER, REF, "audio/mpeg", NOW)
    unavailable = recording_unavailable(call, CUSTOMER, "forbidden", 403, NOW)
    assert stored.event_id == unavailable.event_id == outcome_id(call.event_id)
    assert outcome_id(call.event_id) == outcome_id(call_recorded("b1").event_id)
    assert outcome_id(call.event_id) != outcome_id(call_recorded("b2").event_id)


def test_outcome_events_point_at_the_call_and_round_trip_through_the_registry() -> None:
    call = call_recorded("c1")
    stored = recording_stored(call, CUSTOMER, REF, "audio/mpeg", NOW)
    assert (stored.call_event_id, stored.call_id, stored.recording_id) == (call.event_id, "CAc1", "REc1")
    assert (stored.occurred_at, stored.received_at, stored.customer_id) == (call.occurred_at, NOW, CUSTOMER)
    assert parse_event(stored.model_dump(mode="json")) == stored
    unavailable = recording_unavailable(call, CUSTOMER, "gone", 410, NOW)
    assert isinstance(parse_event(unavailable.model_dump(mode="json")), RecordingUnavailable)
    assert isinstance(parse_event(stored.model_dump(mode="json")), RecordingStored)


def test_a_not_found_is_final_only_after_the_grace_period() -> None:
    call = call_recorded("d1", received_at=NOW)
    assert not not_found_is_final(call, NOW + timedelta(minutes=5), grace_s=3600)
    assert not_found_is_final(call, NOW + timedelta(hours=2), grace_s=3600)


@pytest.mark.parametrize(
    ("given", "media_format", "expected"),
    [
        ("https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1", "mp3", ".../RE1.mp3"),
        ("https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1", "wav", ".../RE1.wav"),
        ("https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1.json", "mp3", ".../RE1.mp3"),
        ("https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1.wav", "mp3", ".../RE1.mp3"),
        ("https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1?x=1", "mp3", ".../RE1.mp3"),
    ],
)
def test_the_media_url_is_the_recording_url_with_the_format_as_extension(
    given: str, media_format: str, expected: str
) -> None:
    prefix = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings"
    assert media_url(given, media_format) == expected.replace("...", prefix)


def test_credentials_go_only_to_the_allowed_origins() -> None:
    twilio = ("https://api.twilio.com",)
    assert is_allowed("https://api.twilio.com/2010-04-01/x.mp3", twilio)
    assert is_allowed("https://API.twilio.com:443/x.mp3", twilio)
    assert not is_allowed("http://api.twilio.com/x.mp3", twilio)
    assert not is_allowed("https://api.twilio.com.evil.example/x.mp3", twilio)
    assert not is_allowed("https://user@169.254.169.254/x.mp3", twilio)


@pytest.mark.parametrize(
    ("status", "verdict", "reason"),
    [
        (200, "ok", "ok"),
        (404, "retry", "not_found"),
        (401, "retry", "unauthorized"),
        (429, "retry", "http_429"),
        (500, "retry", "http_500"),
        (503, "retry", "http_503"),
        (403, "permanent", "forbidden"),
        (410, "permanent", "gone"),
        (400, "permanent", "http_400"),
    ],
)
def test_statuses_are_classified_as_retry_or_final(status: int, verdict: str, reason: str) -> None:
    assert classify(status) == (verdict, reason)


@pytest.fixture(autouse=True)
def _no_twilio_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ACCOUNT_SID", "AUTH_TOKEN", "API_KEY_SID", "API_KEY_SECRET"):
        monkeypatch.delenv(f"HUB_TWILIO_{name}", raising=False)


def test_without_twilio_credentials_the_settings_say_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_PG_DSN", "postgresql://x@127.0.0.1/x")
    settings = MediaSettings()
    assert settings.credentials() is None
    assert settings.recording_media_format == "mp3"


def test_an_api_key_is_preferred_to_the_auth_token_and_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_PG_DSN", "postgresql://x@127.0.0.1/x")
    monkeypatch.setenv("HUB_TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("HUB_TWILIO_AUTH_TOKEN", "token-value")
    assert MediaSettings().credentials() is not None
    monkeypatch.setenv("HUB_TWILIO_API_KEY_SID", "SK" + "f" * 32)
    monkeypatch.setenv("HUB_TWILIO_API_KEY_SECRET", "key-secret-value")
    settings = MediaSettings()
    credentials = settings.credentials()
    assert credentials is not None
    assert credentials[0] == "SK" + "f" * 32
    assert credentials[1].get_secret_value() == "key-secret-value"
    assert "key-secret-value" not in repr(settings) and "token-value" not in repr(settings)


def test_half_a_credential_pair_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_PG_DSN", "postgresql://x@127.0.0.1/x")
    monkeypatch.setenv("HUB_TWILIO_API_KEY_SID", "SK" + "f" * 32)
    with pytest.raises(ValidationError):
        MediaSettings()
