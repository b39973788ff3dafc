"""The ingress's path from request to 2xx: one parse per delivery, the evidence written while Kafka
confirms, and the answer only once both are done (no broker, no disk: both are stand-ins here)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from hub import samples
from hub import samples_email_generic as mail
from hub.demo import Webhook
from plumbing.blobs import FileBlobStore, blob_ref
from services.ingress import app as ingress_app
from services.ingress.settings import IngressSettings
from services.ingress.translate import _form
from services.ingress.verify import sign_hex

pytestmark = pytest.mark.unit

SECRET = SecretStr("a-webhook-secret-for-these-tests")
SETTINGS = IngressSettings(
    widget_secrets=[SECRET], mailgun_secrets=[SECRET], sendgrid_secrets=[SECRET], publish_timeout_s=5.0
)


class Producer:
    """Records what is sent; each record's acknowledgement is a future the test settles (or ``settle``)."""

    def __init__(self, settle: Callable[[asyncio.Future[None]], None] | None = None) -> None:
        self.sent: list[bytes] = []
        self.acknowledgements: list[asyncio.Future[None]] = []
        self._settle = settle

    async def send(self, topic: str, value: bytes, **_: Any) -> asyncio.Future[None]:
        acknowledgement: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._settle is not None:
            self._settle(acknowledgement)
        self.sent.append(value)
        self.acknowledgements.append(acknowledgement)
        return acknowledgement


class HeldBlobs:
    """A blob store whose writes wait until the test lets them finish."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.failure: OSError | None = None

    async def put(self, data: bytes) -> Any:
        self.started.set()
        await self.release.wait()
        if self.failure is not None:
            raise self.failure
        return blob_ref(data)


def _acknowledged(future: asyncio.Future[None]) -> None:
    future.set_result(None)


@contextlib.asynccontextmanager
async def _client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://ingress") as client:
        yield client


def _widget_hook() -> Webhook:
    body = samples.chat_message(samples.sample_person(7), "chat-pipeline-1", "Is the blue one in stock?")
    return Webhook(
        "/webhooks/chat/widget",
        body,
        {"X-Hub-Signature-256": sign_hex(body, SECRET), "Content-Type": "application/json"},
    )


async def _post(client: httpx.AsyncClient, hook: Webhook) -> httpx.Response:
    return await client.post(hook.path, content=hook.body, headers=hook.headers)


async def _yield_a_while() -> None:
    """Let every ready task run (no timer: nothing here waits for time to pass)."""
    for _ in range(50):
        await asyncio.sleep(0)


async def test_the_evidence_is_written_while_kafka_confirms_and_the_answer_waits_for_both() -> None:
    app = ingress_app.build_app(SETTINGS)
    app.state.producer, app.state.blobs = Producer(), HeldBlobs()
    async with _client(app) as client:
        answer = asyncio.create_task(_post(client, _widget_hook()))
        await asyncio.wait_for(app.state.blobs.started.wait(), 5)
        assert app.state.producer.sent, "the records were not handed to Kafka before the evidence was written"
        assert not app.state.producer.acknowledgements[0].done()  # both under way at once

        app.state.producer.acknowledgements[0].set_result(None)  # Kafka confirmed...
        await _yield_a_while()
        assert not answer.done(), "answered before the evidence was durable"

        app.state.blobs.release.set()  # ...and now the evidence is stored
        response = await asyncio.wait_for(answer, 5)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1


async def test_the_answer_waits_for_kafka_after_the_evidence_is_stored(tmp_path: Path) -> None:
    app = ingress_app.build_app(SETTINGS)
    app.state.producer, app.state.blobs = Producer(), FileBlobStore(tmp_path)
    hook = _widget_hook()
    async with _client(app) as client:
        answer = asyncio.create_task(_post(client, hook))
        while not app.state.producer.acknowledgements:
            await asyncio.sleep(0)
        deadline = asyncio.get_running_loop().time() + 10
        while not await app.state.blobs.exists(blob_ref(hook.body).sha256):  # the evidence is durable
            assert asyncio.get_running_loop().time() < deadline, "the evidence was never stored"
            await asyncio.sleep(0.01)  # a poll interval under the deadline above
        await _yield_a_while()
        assert not answer.done(), "answered before Kafka acknowledged"
        app.state.producer.acknowledgements[0].set_result(None)
        response = await asyncio.wait_for(answer, 5)
    assert response.status_code == 200


async def test_a_failing_evidence_store_is_a_503_even_when_kafka_confirmed() -> None:
    app = ingress_app.build_app(SETTINGS)
    app.state.producer, app.state.blobs = Producer(_acknowledged), HeldBlobs()
    app.state.blobs.failure = OSError(28, "No space left on device")
    app.state.blobs.release.set()
    async with _client(app) as client:
        response = await _post(client, _widget_hook())
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "evidence_store_unavailable"
    assert response.headers["retry-after"] == "5"


async def test_kafka_failing_to_confirm_is_a_503_after_the_evidence_was_kept(tmp_path: Path) -> None:
    def refused(future: asyncio.Future[None]) -> None:
        future.set_exception(ConnectionError("broker gone"))

    app = ingress_app.build_app(SETTINGS)
    app.state.producer, app.state.blobs = Producer(refused), FileBlobStore(tmp_path)
    hook = _widget_hook()
    async with _client(app) as client:
        response = await _post(client, hook)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "kafka_unavailable"
    assert await app.state.blobs.exists(blob_ref(hook.body).sha256)  # the retry finds it stored already


@pytest.mark.parametrize("kind", ["mailgun", "sendgrid"])
async def test_a_posted_form_is_parsed_once_per_delivery(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mailgun's verifier, translator and attachment reader (and SendGrid's translator and attachment
    reader) all need the form: it is read once, not once each."""
    parsed: list[str] = []
    parse = _form.parse_form

    def counting(content_type: str, body: bytes) -> _form.Form:
        parsed.append(content_type)
        return parse(content_type, body)

    monkeypatch.setattr(_form, "parse_form", counting)
    person = samples.sample_person(11)
    secret = SECRET.get_secret_value()
    if kind == "mailgun":
        hook = mail.mailgun_webhook(
            person, "<once-1@x.example.com>", "Sizes", "In M?", secret, attachments=[mail.PHOTO]
        )
    else:
        body, content_type = mail.sendgrid_parsed(
            person, "<once-2@x.example.com>", "Hi", "Hello", attachments=[mail.PHOTO]
        )
        hook = mail.sendgrid_webhook(body, content_type, secret)
    app = ingress_app.build_app(SETTINGS)
    app.state.producer, app.state.blobs = Producer(_acknowledged), FileBlobStore(tmp_path)
    async with _client(app) as client:
        response = await _post(client, hook)
    assert response.status_code == 200, response.text
    assert len(parsed) == 1, f"the form was parsed {len(parsed)} times"
    assert await app.state.blobs.exists(
        blob_ref(mail.PHOTO.data).sha256
    )  # the attachment came from that parse
