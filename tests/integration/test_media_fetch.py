"""Files of chat and social messages, fetched into the blob store, against the real PostgreSQL event store
and a local stand-in playing each provider's file API.

Messages are made by the real translators from provider-shaped payloads and appended to a customer's
stream as the timeline writer would. The stand-in (a plain HTTP server on 127.0.0.1) answers Telegram's
``getFile`` and file URLs, WhatsApp's media object and download, and CDN links of Messenger and VK; it
proves our side of the exchange (URLs, credentials, allow-list, retries), not the providers' behaviour,
which this code has never been run against.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr

from contracts import InteractionEvent, MediaStored, MediaUnavailable, customer_stream, parse_event
from hub import samples_chat_social as social
from plumbing.blobs import FileBlobStore
from plumbing.eventstore import NewEvent, PostgresEventStore
from plumbing.eventstore.postgres import Conn
from plumbing.projection import apply_next_batch, checkpoint
from services.ingress.translate import meta_messaging, meta_whatsapp, telegram, vk
from services.media import compose
from services.media.follower import FetchDeferred, MediaFollower
from services.media.settings import MediaSettings
from tests.support import media_payloads as payloads

pytestmark = pytest.mark.integration

TOKEN = "123456789:AAH-stand-in-bot-token"
META_TOKEN = "EAAG-stand-in-whatsapp-token"
PHOTO = b"\xff\xd8\xff\xe0 fake jpeg " + bytes(range(256)) * 8
PDF = b"%PDF-1.4 fake invoice " + bytes(range(256)) * 4
MAX_BYTES = 80 * 1024  # above the fixtures' declared sizes
VOICE = b"ID3 fake mp3 voice " + bytes(range(200))
CONTEXT: dict[str, Any] = {
    "received_at": datetime.now(UTC),
    "correlation_id": "media-it",
    "default_region": "US",
}

Answer = tuple[int, bytes, dict[str, str]]


@dataclass
class StandIn:
    """Scripted answers per path with query (the last one repeats); every request's path and auth."""

    base_url: str = ""
    script: dict[str, list[Answer]] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, path: str, auth: str | None) -> Answer:
        with self.lock:
            self.requests.append((path, auth))
            answers = self.script.get(path, [(404, b"", {})])
            return answers.pop(0) if len(answers) > 1 else answers[0]

    def serve(self, path: str, *answers: Answer) -> None:
        self.script[path] = list(answers)

    def paths(self) -> list[str]:
        with self.lock:
            return [path for path, _ in self.requests]


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    state = StandIn()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body, headers = state.answer(self.path, self.headers.get("Authorization"))
            self.send_response(status)
            for name, value in {"Content-Type": "application/octet-stream", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: pytest shows failures, not every request."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


def _settings(stand_in: StandIn, database: str, tmp_path: Path, **extra: Any) -> MediaSettings:
    """Every provider pointed at the stand-in, and only at it."""
    base = (stand_in.base_url,)
    values: dict[str, Any] = {
        "pg_dsn": SecretStr(database),
        "blob_dir": tmp_path / "blobs",
        "telegram_bot_token": SecretStr(TOKEN),
        "telegram_api_url": stand_in.base_url,
        "meta_access_token": SecretStr(META_TOKEN),
        "whatsapp_graph_url": f"{stand_in.base_url}/v21.0",
        "media_telegram_allowed_origins": base,
        "media_whatsapp_allowed_origins": base,
        "media_meta_allowed_origins": base,
        "media_vk_allowed_origins": base,
        "media_fetch_attempts": 3,
        "media_retry_max_wait_s": 0.02,
        "media_max_bytes": MAX_BYTES,
        **extra,
    }
    return MediaSettings(**values)


def _follower(settings: MediaSettings, http: httpx.AsyncClient, name: str) -> MediaFollower[Any]:
    [source] = [source for source in compose.sources(settings, http) if source.name == f"media:{name}"]
    return MediaFollower(source, FileBlobStore(settings.blob_dir))


async def _append(store: PostgresEventStore, events: Sequence[InteractionEvent]) -> uuid.UUID:
    customer = uuid.uuid4()
    await store.append(
        customer_stream(customer), [NewEvent(event, {"customer_id": str(customer)}) for event in events]
    )
    return customer


async def _drain(pool: AsyncConnectionPool[Conn], follower: MediaFollower[Any]) -> None:
    while await apply_next_batch(pool, follower, batch_size=100):
        pass


async def _outcomes(store: PostgresEventStore, customer: uuid.UUID) -> list[Any]:
    stream = await store.read_stream(customer_stream(customer))
    return [parse_event(e.data) for e in stream if e.event_type.startswith("customer.media.")]


def _telegram_file(stand_in: StandIn, file_id: str, file_path: str, *answers: Answer) -> tuple[str, str]:
    """Script ``getFile`` for ``file_id`` and the file itself; returns both request paths."""
    get_file = f"/bot{TOKEN}/getFile?{urlencode({'file_id': file_id})}"
    answer = {"ok": True, "result": {"file_id": file_id, "file_unique_id": "u", "file_path": file_path}}
    stand_in.serve(get_file, (200, json.dumps(answer).encode(), {"Content-Type": "application/json"}))
    download = f"/file/bot{TOKEN}/{file_path}"
    stand_in.serve(download, *answers)
    return get_file, download


async def test_telegram_photo_and_document_are_stored_through_get_file(
    pool: AsyncConnectionPool[Conn], database: str, stand_in: StandIn, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    store = PostgresEventStore(pool)
    person = social.social_person("tg-media")
    raw_photo = payloads.telegram_with(person, 7001, 81, photo=payloads.TELEGRAM_PHOTO_SIZES)
    raw_doc = payloads.telegram_with(person, 7002, 82, document=payloads.TELEGRAM_DOCUMENT)
    [photo_message] = telegram.translate(raw_photo, **CONTEXT)
    [doc_message] = telegram.translate(raw_doc, **CONTEXT)
    customer = await _append(store, [photo_message, doc_message])
    photo_calls = _telegram_file(
        stand_in, "AgACAgIAAxkBAAIBQ2Z-large", "photos/file_12.jpg", (200, PHOTO, {})
    )
    doc_calls = _telegram_file(stand_in, "BQACAgIAAxkBAAIBRGZ-doc", "documents/file_13.pdf", (200, PDF, {}))
    settings = _settings(stand_in, database, tmp_path)

    await _drain(pool, _follower(settings, http, "telegram"))

    photo, doc = await _outcomes(store, customer)
    assert isinstance(photo, MediaStored) and isinstance(doc, MediaStored)
    assert (photo.message_event_id, photo.media_index, photo.kind) == (photo_message.event_id, 0, "photo")
    assert photo.media.sha256 == hashlib.sha256(PHOTO).hexdigest()
    assert photo.content_type == "image/jpeg"  # served as bytes: the type follows the file's extension
    assert (doc.content_type, doc.filename) == ("application/pdf", "invoice-1042.pdf")
    blobs = FileBlobStore(settings.blob_dir)
    assert await blobs.get(photo.media.sha256) == PHOTO and await blobs.get(doc.media.sha256) == PDF
    assert stand_in.paths() == [*photo_calls, *doc_calls]


async def test_whatsapp_media_is_looked_up_and_downloaded_with_the_bearer_token(
    pool: AsyncConnectionPool[Conn], database: str, stand_in: StandIn, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    store = PostgresEventStore(pool)
    media = {"mime_type": "image/jpeg", "sha256": "x", "id": "1037543291543636"}
    [message] = meta_whatsapp.translate(
        payloads.whatsapp_with("16315551181", "wamid.M1", "image", media), **CONTEXT
    )
    customer = await _append(store, [message])
    download = "/whatsapp_business/attachments/?mid=1037543291543636&ext=1749470370&hash=ATs"
    media_object = {
        "messaging_product": "whatsapp",
        "url": stand_in.base_url + download,
        "mime_type": "image/jpeg",
        "sha256": "x",
        "file_size": len(PHOTO),
        "id": "1037543291543636",
    }
    stand_in.serve("/v21.0/1037543291543636", (200, json.dumps(media_object).encode(), {}))
    stand_in.serve(download, (200, PHOTO, {}))

    await _drain(pool, _follower(_settings(stand_in, database, tmp_path), http, "whatsapp"))

    (stored,) = await _outcomes(store, customer)
    assert isinstance(stored, MediaStored)
    assert (stored.media.sha256, stored.content_type) == (hashlib.sha256(PHOTO).hexdigest(), "image/jpeg")
    bearer = f"Bearer {META_TOKEN}"
    assert stand_in.requests == [("/v21.0/1037543291543636", bearer), (download, bearer)]


async def test_messenger_and_vk_links_are_fetched_without_credentials(
    pool: AsyncConnectionPool[Conn], database: str, stand_in: StandIn, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    store = PostgresEventStore(pool)
    person = social.social_person("links")
    base = stand_in.base_url
    attachments = [
        payloads.meta_file("image", f"{base}/v/t1/photo.jpg?oh=1"),
        payloads.meta_file("file", f"{base}/v/t1/order.pdf"),
    ]
    [messenger] = meta_messaging.translate(payloads.messenger_with(person, "m_link1", attachments), **CONTEXT)
    raw_vk = payloads.vk_with(
        person, 91, [payloads.vk_photo(base), payloads.vk_audio_message(base)], event_id="e1"
    )
    [vk_message] = vk.translate(raw_vk, **CONTEXT)
    customer = await _append(store, [messenger, vk_message])
    stand_in.serve("/v/t1/photo.jpg?oh=1", (200, PHOTO, {"Content-Type": "image/jpeg"}))
    stand_in.serve("/v/t1/order.pdf", (200, PDF, {"Content-Type": "application/pdf"}))
    stand_in.serve("/photo-w.jpg", (200, PHOTO, {"Content-Type": "image/jpeg"}))
    stand_in.serve("/voice.mp3", (200, VOICE, {}))
    settings = _settings(stand_in, database, tmp_path)

    await _drain(pool, _follower(settings, http, "meta"))
    await _drain(pool, _follower(settings, http, "vk"))

    outcomes = await _outcomes(store, customer)
    assert [(o.provider, o.media_index, o.kind, o.content_type) for o in outcomes] == [
        ("meta_messenger", 0, "image", "image/jpeg"),
        ("meta_messenger", 1, "file", "application/pdf"),
        ("vk", 0, "photo", "image/jpeg"),
        ("vk", 1, "audio_message", "audio/mpeg"),  # served as bytes: the type VK's link names
    ]
    assert [o.media.sha256 for o in outcomes] == [
        hashlib.sha256(b).hexdigest() for b in (PHOTO, PDF, PHOTO, VOICE)
    ]
    assert {auth for _, auth in stand_in.requests} == {None}


async def test_hosts_off_the_allow_list_are_never_contacted_even_through_a_redirect(
    pool: AsyncConnectionPool[Conn], database: str, stand_in: StandIn, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    store = PostgresEventStore(pool)
    port = stand_in.base_url.rsplit(":", 1)[1]
    elsewhere = f"http://localhost:{port}"  # the same server under a name the allow-list does not hold
    attachments = [
        payloads.meta_file("image", f"{elsewhere}/direct.jpg"),
        payloads.meta_file("image", f"{stand_in.base_url}/redirect.jpg"),
        payloads.meta_file("image", f"{stand_in.base_url}/fine.jpg"),
    ]
    [message] = meta_messaging.translate(
        payloads.messenger_with(social.social_person("ssrf"), "m_ssrf", attachments), **CONTEXT
    )
    customer = await _append(store, [message])
    stand_in.serve("/redirect.jpg", (302, b"", {"Location": f"{elsewhere}/metadata"}))
    stand_in.serve("/fine.jpg", (200, PHOTO, {"Content-Type": "image/jpeg"}))

    await _drain(pool, _follower(_settings(stand_in, database, tmp_path), http, "meta"))

    direct, redirect, fine = await _outcomes(store, customer)
    assert isinstance(direct, MediaUnavailable) and isinstance(redirect, MediaUnavailable)
    assert (direct.reason, direct.http_status) == ("untrusted_url", None)
    assert (redirect.reason, redirect.http_status) == ("untrusted_redirect", 302)
    assert isinstance(fine, MediaStored)
    assert stand_in.paths() == ["/redirect.jpg", "/fine.jpg"]


async def test_expired_links_and_oversized_files_are_unavailable_and_the_follower_moves_on(
    pool: AsyncConnectionPool[Conn], database: str, stand_in: StandIn, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    store = PostgresEventStore(pool)
    base = stand_in.base_url
    attachments = [
        payloads.meta_file("image", f"{base}/expired.jpg"),
        payloads.meta_file("video", f"{base}/huge.mp4"),
        payloads.meta_file("image", f"{base}/fine.jpg"),
    ]
    [message] = meta_messaging.translate(
        payloads.messenger_with(social.social_person("cdn"), "m_cdn", attachments), **CONTEXT
    )
    customer = await _append(store, [message])
    stand_in.serve("/expired.jpg", (404, b"URL signature expired", {}))
    stand_in.serve("/huge.mp4", (200, b"v" * (MAX_BYTES + 1), {}))
    stand_in.serve("/fine.jpg", (200, PHOTO, {}))

    await _drain(pool, _follower(_settings(stand_in, database, tmp_path), http, "meta"))

    expired, huge, fine = await _outcomes(store, customer)
    assert (expired.reason, expired.http_status) == ("not_found", 404)
    assert (huge.reason, huge.http_status) == ("too_large", 200)
    assert isinstance(fine, MediaStored)
    assert stand_in.paths().count("/expired.jpg") == 1  # a CDN 404 is final: not retried


async def test_a_restart_and_even_a_reset_checkpoint_append_and_download_nothing_new(
    pool: AsyncConnectionPool[Conn], database: str, stand_in: StandIn, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    store = PostgresEventStore(pool)
    [message] = meta_messaging.translate(
        payloads.messenger_with(
            social.social_person("again"),
            "m_again",
            [payloads.meta_file("image", f"{stand_in.base_url}/a.jpg")],
        ),
        **CONTEXT,
    )
    customer = await _append(store, [message])
    stand_in.serve("/a.jpg", (200, PHOTO, {}))
    settings = _settings(stand_in, database, tmp_path)
    await _drain(pool, _follower(settings, http, "meta"))
    position = await checkpoint(pool, "media:meta")

    await _drain(pool, _follower(settings, http, "meta"))  # a restarted process
    async with pool.connection() as conn:  # a crash before the checkpoint, or an operator's replay
        await conn.execute("UPDATE projection_checkpoints SET position = 0 WHERE name = 'media:meta'")
    await _drain(pool, _follower(settings, http, "meta"))

    assert len(await _outcomes(store, customer)) == 1
    assert stand_in.paths() == ["/a.jpg"]
    assert await checkpoint(pool, "media:meta") == position


async def test_a_telegram_outage_defers_only_telegram_and_its_files_arrive_once_it_is_back(
    pool: AsyncConnectionPool[Conn], database: str, stand_in: StandIn, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    store = PostgresEventStore(pool)
    person = social.social_person("outage")
    [voice] = telegram.translate(
        payloads.telegram_with(person, 7101, 91, voice=payloads.TELEGRAM_VOICE), **CONTEXT
    )
    [image] = meta_messaging.translate(
        payloads.messenger_with(person, "m_out", [payloads.meta_file("image", f"{stand_in.base_url}/b.jpg")]),
        **CONTEXT,
    )
    customer = await _append(store, [voice, image])
    get_file, download = _telegram_file(
        stand_in, "AwACAgIAAxkBAAIBRWZ-voice", "voice/file_3.oga", (503, b"", {})
    )
    stand_in.serve("/b.jpg", (200, PHOTO, {}))
    settings = _settings(stand_in, database, tmp_path)
    telegram_follower = _follower(settings, http, "telegram")

    with pytest.raises(FetchDeferred):
        await apply_next_batch(pool, telegram_follower, batch_size=100)
    await _drain(pool, _follower(settings, http, "meta"))  # the other providers' files go on

    assert await checkpoint(pool, "media:telegram") == 0
    assert [o.kind for o in await _outcomes(store, customer)] == ["image"]
    assert stand_in.paths().count(download) == 3  # the downloader's bound

    stand_in.serve(download, (200, VOICE, {}))  # Telegram is back
    await _drain(pool, telegram_follower)

    image_outcome, voice_outcome = await _outcomes(store, customer)
    assert isinstance(voice_outcome, MediaStored) and voice_outcome.message_event_id == voice.event_id
    assert voice_outcome.content_type == "audio/ogg"
    assert isinstance(image_outcome, MediaStored)
    assert get_file in stand_in.paths()
