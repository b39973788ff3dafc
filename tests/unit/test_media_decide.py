"""The media fetcher's pure parts: which messages need fetching, outcome ids and events, the host
allow-list, status classes, and which providers run with which settings."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from contracts import (
    BlobRef,
    Envelope,
    MediaRef,
    MediaStored,
    MediaUnavailable,
    SocialMessageReceived,
    customer_stream,
    parse_event,
)
from hub import samples_chat_social as social
from plumbing.eventstore import RecordedEvent
from services.ingress.translate import meta_messaging
from services.media import compose
from services.media.download import Unfetchable, classify_cdn
from services.media.hosts import is_allowed
from services.media.messages import (
    content_type_of,
    declared_too_large,
    media_jobs,
    media_outcome_id,
    media_stored,
    media_unavailable,
    not_found_is_final,
)
from services.media.providers import telegram_file_path
from services.media.settings import MediaSettings
from tests.support import media_payloads as payloads
from tests.support.calls import call_recorded

pytestmark = pytest.mark.unit

CUSTOMER = uuid.uuid4()
NOW = datetime(2025, 6, 9, 12, 0, tzinfo=UTC)
BLOB = BlobRef(sha256="cd" * 32, size_bytes=5)
CDN = "https://scontent.xx.fbcdn.net/v"
CONTEXT: dict[str, Any] = {"received_at": NOW, "correlation_id": "corr-9", "default_region": "US"}


def _message(mid: str = "m_dec1", count: int = 2) -> SocialMessageReceived:
    attachments = [payloads.meta_file("image", f"{CDN}/{n}.jpg") for n in range(count)]
    [event] = meta_messaging.translate(
        payloads.messenger_with(social.social_person("decide"), mid, attachments), **CONTEXT
    )
    return event


def _logged(event: Envelope, stream_id: str = customer_stream(CUSTOMER)) -> RecordedEvent:
    return RecordedEvent(
        position=3,
        event_id=event.event_id,
        stream_id=stream_id,
        stream_version=0,
        event_type=event.event_type,
        schema_version=event.schema_version,
        data=event.model_dump(mode="json"),
        metadata={},
        recorded_at=NOW,
    )


def test_every_file_of_a_message_of_the_sources_providers_is_a_job() -> None:
    message = _message()

    jobs = media_jobs(_logged(message), {"meta_messenger"})

    assert [(job.index, job.ref.url, job.customer_id) for job in jobs] == [
        (0, f"{CDN}/0.jpg", CUSTOMER),
        (1, f"{CDN}/1.jpg", CUSTOMER),
    ]
    assert {job.stream_id for job in jobs} == {customer_stream(CUSTOMER)}


def test_other_providers_streams_and_event_types_need_nothing() -> None:
    message = _message()
    assert media_jobs(_logged(message), {"vk", "telegram"}) == []
    assert media_jobs(_logged(message, stream_id=f"deal-{uuid.uuid4()}"), {"meta_messenger"}) == []
    assert media_jobs(_logged(call_recorded("x1")), {"twilio", "meta_messenger"}) == []
    assert media_jobs(_logged(_message("m_dec2", count=0)), {"meta_messenger"}) == []


def test_outcome_ids_are_deterministic_one_per_file_and_shared_by_both_outcomes() -> None:
    first, second = media_jobs(_logged(_message()), {"meta_messenger"})
    again = media_jobs(_logged(_message()), {"meta_messenger"})[0]

    stored = media_stored(first, BLOB, "image/jpeg", NOW)
    unavailable = media_unavailable(first, "gone", 410, NOW)

    assert stored.event_id == unavailable.event_id == first.outcome_id == again.outcome_id
    assert first.outcome_id == media_outcome_id(first.message.event_id, 0) != second.outcome_id


def test_outcome_events_point_at_the_message_and_round_trip_through_the_registry() -> None:
    job = media_jobs(_logged(_message()), {"meta_messenger"})[1]

    stored = media_stored(job, BLOB, "image/jpeg", NOW)
    unavailable = media_unavailable(job, "not_found", 404, NOW)

    assert (stored.message_event_id, stored.media_index, stored.kind, stored.provider) == (
        job.message.event_id,
        1,
        "image",
        "meta_messenger",
    )
    assert (stored.customer_id, stored.media, stored.occurred_at) == (CUSTOMER, BLOB, job.message.occurred_at)
    assert isinstance(parse_event(stored.model_dump(mode="json")), MediaStored)
    assert isinstance(parse_event(unavailable.model_dump(mode="json")), MediaUnavailable)
    assert (unavailable.reason, unavailable.http_status) == ("not_found", 404)


def test_the_served_type_wins_unless_it_only_says_bytes() -> None:
    ref = MediaRef(kind="document", media_id="1", content_type="application/pdf")
    assert content_type_of("image/png", ref) == "image/png"
    assert content_type_of("application/octet-stream", ref) == "application/pdf"
    assert content_type_of("application/octet-stream", MediaRef(kind="photo", media_id="1")) == (
        "application/octet-stream"
    )


def test_a_declared_size_over_the_limit_is_refused_before_downloading() -> None:
    assert declared_too_large(MediaRef(kind="video", media_id="1", size_bytes=101), 100)
    assert not declared_too_large(MediaRef(kind="video", media_id="1", size_bytes=100), 100)
    assert not declared_too_large(MediaRef(kind="video", media_id="1"), 100)


def test_an_api_not_found_is_final_only_after_the_grace_period() -> None:
    message = _message()
    assert not not_found_is_final(message, NOW + timedelta(minutes=5), 3600)
    assert not_found_is_final(message, NOW + timedelta(hours=2), 3600)


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://scontent.xx.fbcdn.net/v/1.jpg", True),
        ("https://a.b.fbcdn.net:443/1.jpg", True),
        ("https://fbcdn.net/1.jpg", False),  # the bare domain is not a subdomain
        ("https://evilfbcdn.net/1.jpg", False),
        ("https://scontent.fbcdn.net.evil.example/1.jpg", False),
        ("http://scontent.xx.fbcdn.net/1.jpg", False),  # scheme matters
        ("https://scontent.xx.fbcdn.net:8443/1.jpg", False),  # and port
        ("https://user@scontent.xx.fbcdn.net/1.jpg", False),
        ("https://api.telegram.org/file/bot1:x/a.jpg", True),
        ("https://api.telegram.org.evil.example/a.jpg", False),
        ("http://169.254.169.254/latest/meta-data", False),
        ("https://127.0.0.1/", False),
        ("https://scontent.xx.fbcdn.net:notaport/1.jpg", False),
    ],
)
def test_the_allow_list_matches_exact_origins_and_subdomain_wildcards(url: str, allowed: bool) -> None:
    assert is_allowed(url, ("https://*.fbcdn.net", "https://api.telegram.org")) is allowed


def test_a_cdn_404_is_final_while_other_statuses_keep_their_class() -> None:
    assert classify_cdn(404) == ("permanent", "not_found")
    assert classify_cdn(503) == ("retry", "http_503")
    assert classify_cdn(401) == ("retry", "unauthorized")
    assert classify_cdn(200) == ("ok", "ok")


def testtelegram_file_path_is_taken_from_get_file() -> None:
    answer = {"ok": True, "result": {"file_id": "x", "file_size": 9, "file_path": "photos/file_7.jpg"}}
    assert telegram_file_path(answer) == "photos/file_7.jpg"


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ({"ok": False, "error_code": 400, "description": "Bad Request: wrong file_id"}, "rejected"),
        ({"ok": True, "result": {"file_id": "x"}}, "no_file_path"),
        ({"ok": True, "result": {"file_path": "../../bot/getMe"}}, "bad_file_path"),
        ({"ok": True, "result": {"file_path": "/etc/passwd"}}, "bad_file_path"),
        ({"ok": True, "result": {"file_path": "a.jpg?x=1"}}, "bad_file_path"),
    ],
)
def testtelegram_file_paths_outside_the_bot_folder_are_refused(
    answer: dict[str, object], reason: str
) -> None:
    with pytest.raises(Unfetchable) as refused:
        telegram_file_path(answer)
    assert refused.value.reason == reason


@pytest.fixture
def _bare_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_PG_DSN", "postgresql://x@127.0.0.1/x")
    for name in (
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "TWILIO_API_KEY_SID",
        "TWILIO_API_KEY_SECRET",
        "TELEGRAM_BOT_TOKEN",
        "META_ACCESS_TOKEN",
        "MEDIA_FETCH_LINKS",
    ):
        monkeypatch.delenv(f"HUB_{name}", raising=False)


@pytest.mark.usefixtures("_bare_environment")
async def test_without_credentials_only_the_link_providers_are_followed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with httpx.AsyncClient() as client:
        bare = [source.name for source in compose.sources(MediaSettings(), client)]
        monkeypatch.setenv("HUB_MEDIA_FETCH_LINKS", "false")
        nothing = compose.sources(MediaSettings(), client)
        monkeypatch.setenv("HUB_TELEGRAM_BOT_TOKEN", "123456:AA-token")
        monkeypatch.setenv("HUB_META_ACCESS_TOKEN", "EAAG-token")
        monkeypatch.setenv("HUB_TWILIO_API_KEY_SID", "SK" + "a" * 32)
        monkeypatch.setenv("HUB_TWILIO_API_KEY_SECRET", "twilio-secret")
        everything = [source.name for source in compose.sources(MediaSettings(), client)]

    assert bare == ["media:meta", "media:vk"]
    assert nothing == []
    assert everything == ["recordings", "media:telegram", "media:whatsapp"]


@pytest.mark.usefixtures("_bare_environment")
def test_tokens_never_show_in_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_TELEGRAM_BOT_TOKEN", "123456:AA-bot-token-value")
    monkeypatch.setenv("HUB_META_ACCESS_TOKEN", "EAAG-meta-token-value")
    shown = repr(MediaSettings())
    assert "bot-token-value" not in shown and "meta-token-value" not in shown
