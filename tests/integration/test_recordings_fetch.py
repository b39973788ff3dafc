"""The recordings follower against the real PostgreSQL event store and a local stand-in for Twilio.

The stand-in is a plain HTTP server on 127.0.0.1 answering ``<RecordingUrl>.mp3`` with scripted
statuses; it proves our side of the exchange (URL, basic auth, retries), not Twilio's behaviour, which
this code has never been run against.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr

from contracts import RecordingStored, RecordingUnavailable, customer_stream, parse_event
from plumbing.blobs import FileBlobStore
from plumbing.eventstore import NewEvent, PostgresEventStore
from plumbing.eventstore.postgres import Conn
from plumbing.projection import apply_next_batch, checkpoint
from services.media.download import Downloader
from services.media.follower import FetchDeferred, MediaFollower, follow_media
from services.media.sources import RecordingJob, RecordingSource
from services.media.twilio import RecordingFetcher
from tests.support.calls import call_recorded

pytestmark = pytest.mark.integration

USER = "SK" + "1" * 32
PASSWORD = "stand-in-secret"
AUDIO = b"ID3\x04fake mp3 audio " + bytes(range(256)) * 40


@dataclass
class StandIn:
    """Scripted answers per path (the last one repeats) and every request's path and auth header."""

    base_url: str = ""
    script: dict[str, list[tuple[int, bytes]]] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, path: str, auth: str | None) -> tuple[int, bytes]:
        with self.lock:
            self.requests.append((path, auth))
            answers = self.script.get(path, [(404, b"")])
            return answers.pop(0) if len(answers) > 1 else answers[0]

    def paths(self) -> list[str]:
        with self.lock:
            return [path for path, _ in self.requests]


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    state = StandIn()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = state.answer(self.path, self.headers.get("Authorization"))
            self.send_response(status)
            self.send_header("Content-Type", "audio/mpeg" if status == 200 else "application/json")
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


def _follower(
    stand_in: StandIn, http: httpx.AsyncClient, blobs: FileBlobStore
) -> MediaFollower[RecordingJob]:
    downloader = Downloader(
        http,
        allowed=(stand_in.base_url,),
        max_bytes=10 * 1024 * 1024,
        attempts=3,
        first_wait_s=0.01,
        max_wait_s=0.05,
        redirects_anywhere=True,
    )
    return MediaFollower(RecordingSource(RecordingFetcher(downloader, USER, SecretStr(PASSWORD))), blobs)


async def _record_call(
    store: PostgresEventStore, tag: str, base_url: str
) -> tuple[uuid.UUID, uuid.UUID, str]:
    """Append a call to a fresh customer's stream; returns (customer, call event id, media path)."""
    customer = uuid.uuid4()
    call = call_recorded(tag, recording_base=base_url)
    await store.append(customer_stream(customer), [NewEvent(call, {"customer_id": str(customer)})])
    assert call.recording_url is not None
    return customer, call.event_id, call.recording_url.removeprefix(base_url) + ".mp3"


async def _drain(pool: AsyncConnectionPool[Conn], follower: MediaFollower[RecordingJob]) -> None:
    while await apply_next_batch(pool, follower, batch_size=100):
        pass


async def _outcomes(store: PostgresEventStore, customer: uuid.UUID) -> list[object]:
    stream = await store.read_stream(customer_stream(customer))
    return [parse_event(e.data) for e in stream if e.event_type.startswith("customer.recording.")]


def _tag() -> str:
    return uuid.uuid4().hex[:12]


async def test_recording_bytes_land_in_the_blob_store_and_a_recording_stored_event_references_them(
    pool: AsyncConnectionPool[Conn], stand_in: StandIn, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    store = PostgresEventStore(pool)
    blobs = FileBlobStore(tmp_path / "blobs")
    customer, call_event_id, path = await _record_call(store, _tag(), stand_in.base_url)
    stand_in.script[path] = [(200, AUDIO)]

    await _drain(pool, _follower(stand_in, http, blobs))

    (stored,) = await _outcomes(store, customer)
    assert isinstance(stored, RecordingStored)
    assert stored.call_event_id == call_event_id and stored.customer_id == customer
    assert stored.recording.sha256 == hashlib.sha256(AUDIO).hexdigest()
    assert stored.recording.size_bytes == len(AUDIO) and stored.content_type == "audio/mpeg"
    assert await blobs.get(stored.recording.sha256) == AUDIO
    assert blobs.path_of(stored.recording.sha256).is_file()


async def test_the_download_sends_basic_auth_to_the_mp3_url(
    pool: AsyncConnectionPool[Conn], stand_in: StandIn, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    store = PostgresEventStore(pool)
    _, _, path = await _record_call(store, _tag(), stand_in.base_url)
    stand_in.script[path] = [(200, AUDIO)]

    await _drain(pool, _follower(stand_in, http, FileBlobStore(tmp_path)))

    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert stand_in.requests == [(path, expected)]
    assert path.endswith(".mp3")


async def test_a_restart_and_even_a_reset_checkpoint_append_nothing_new(
    pool: AsyncConnectionPool[Conn], stand_in: StandIn, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    store = PostgresEventStore(pool)
    blobs = FileBlobStore(tmp_path)
    customer, _, path = await _record_call(store, _tag(), stand_in.base_url)
    stand_in.script[path] = [(200, AUDIO)]
    await _drain(pool, _follower(stand_in, http, blobs))
    position = await checkpoint(pool, "recordings")

    await _drain(pool, _follower(stand_in, http, blobs))  # a restarted process
    async with pool.connection() as conn:  # a crash before the checkpoint, or an operator's replay
        await conn.execute("UPDATE projection_checkpoints SET position = 0 WHERE name = 'recordings'")
    await _drain(pool, _follower(stand_in, http, blobs))

    assert len(await _outcomes(store, customer)) == 1
    assert stand_in.paths() == [path]  # already recorded: not even downloaded again
    assert await checkpoint(pool, "recordings") == position


async def test_a_404_while_the_recording_is_processed_is_retried_until_it_is_there(
    pool: AsyncConnectionPool[Conn], stand_in: StandIn, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    store = PostgresEventStore(pool)
    customer, _, path = await _record_call(store, _tag(), stand_in.base_url)
    stand_in.script[path] = [(404, b'{"code": 20404}'), (200, AUDIO)]

    await _drain(pool, _follower(stand_in, http, FileBlobStore(tmp_path)))

    assert stand_in.paths() == [path, path]
    (stored,) = await _outcomes(store, customer)
    assert isinstance(stored, RecordingStored)


async def test_a_403_is_recorded_as_unavailable_and_the_follower_moves_on(
    pool: AsyncConnectionPool[Conn], stand_in: StandIn, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    store = PostgresEventStore(pool)
    refused, refused_call, refused_path = await _record_call(store, _tag(), stand_in.base_url)
    later, _, later_path = await _record_call(store, _tag(), stand_in.base_url)
    stand_in.script[refused_path] = [(403, b'{"code": 20003}')]
    stand_in.script[later_path] = [(200, AUDIO)]

    await _drain(pool, _follower(stand_in, http, FileBlobStore(tmp_path)))

    (unavailable,) = await _outcomes(store, refused)
    assert isinstance(unavailable, RecordingUnavailable)
    assert (unavailable.call_event_id, unavailable.reason, unavailable.http_status) == (
        refused_call,
        "forbidden",
        403,
    )
    assert stand_in.paths().count(refused_path) == 1  # final: not retried
    (stored,) = await _outcomes(store, later)
    assert isinstance(stored, RecordingStored)


async def test_an_outage_leaves_the_checkpoint_and_the_live_follower_fetches_after_it(
    pool: AsyncConnectionPool[Conn],
    database: str,
    stand_in: StandIn,
    http: httpx.AsyncClient,
    tmp_path: Path,
) -> None:
    store = PostgresEventStore(pool)
    follower = _follower(stand_in, http, FileBlobStore(tmp_path))
    customer, _, path = await _record_call(store, _tag(), stand_in.base_url)
    stand_in.script[path] = [(503, b"")]

    with pytest.raises(FetchDeferred):
        await apply_next_batch(pool, follower, batch_size=100)
    assert await checkpoint(pool, "recordings") == 0
    assert await _outcomes(store, customer) == []
    assert stand_in.paths() == [path] * 3  # the fetcher's bound

    stop = asyncio.Event()
    task = asyncio.create_task(follow_media(pool, database, follower, stop, backoff_first_s=0.05))
    try:
        deadline = time.monotonic() + 15
        while len(stand_in.paths()) < 6:  # the live follower met the outage again, and backed off
            assert time.monotonic() < deadline, "the live follower never retried the deferred batch"
            await asyncio.sleep(0.02)
        stand_in.script[path] = [(200, AUDIO)]  # the provider is back
        while not await _outcomes(store, customer):
            assert time.monotonic() < deadline, "the live follower never fetched the recording"
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    (stored,) = await _outcomes(store, customer)
    assert isinstance(stored, RecordingStored)
