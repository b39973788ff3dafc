"""Correctly signed deliveries of any body, for every ingress endpoint.

The hostile-input and fuzz tests send bodies no provider would send, and they must get past
verification wherever the scheme allows, or the test only proves that forgeries are refused. A
:class:`Carrier` knows one endpoint's scheme and signs whatever it is given as that provider would:

* schemes over the body (HMAC hex or base64, Square's URL + body, Standard Webhooks) sign any bytes;
* shared secrets outside the body (Telegram's header, SendGrid's bearer token) accompany any bytes;
* VK's secret is a field of the JSON body: it is spliced into anything that starts like an object;
* Mailgun signs only its ``timestamp`` and ``token`` fields: they are appended to the body;
* Twilio signs the URL and the form parameters: any body that parses as a form is signed.

Each carrier also has a valid sample, so a test can prove its signing is right.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import SecretStr
from starlette.datastructures import Headers

from hub import samples
from hub import samples_chat_social as social
from hub import samples_email_generic as mail
from hub import samples_pos_voice as pv
from hub.local_secrets import LocalSecrets
from plumbing.kafka import TopicSpec, ensure_topics
from plumbing.settings import Topics
from services.ingress.app import build_app
from services.ingress.delivery import Delivery
from services.ingress.endpoints import ENDPOINTS, Endpoint
from services.ingress.errors import InvalidPayload
from services.ingress.providers import square, telegram, till, twilio
from services.ingress.settings import IngressSettings
from services.ingress.translate import twilio_voice
from services.ingress.translate._form import parse_form
from services.ingress.verify import sign_base64, sign_hex, sign_square, sign_twilio

PUBLIC_BASE = "https://hub.example.com"
GENERIC_CHANNEL = "chat"
JSON = "application/json"
URLENCODED = "application/x-www-form-urlencoded"

FormFields = Sequence[tuple[str, str | bytes]]


@dataclass(frozen=True)
class SignedRequest:
    """One POST: path (with query), body and headers.

    ``verifiable`` says whether the endpoint's verifier must accept it: ``True`` when the scheme
    signs what was sent, ``False`` when the scheme cannot carry this body (Twilio's signature over a
    body that is not a form, VK's secret in a body that is not an object), ``None`` when it depends
    on the bytes (VK's spliced secret, Mailgun's appended signature fields).
    """

    path: str
    body: bytes
    headers: Mapping[str, str]
    verifiable: bool | None

    @property
    def url(self) -> str:
        return PUBLIC_BASE + self.path

    def delivery(self) -> Delivery:
        """The delivery the route builds from this request (for the pure verifiers)."""
        route = self.path.partition("?")[0]
        params = {"channel": GENERIC_CHANNEL} if route.startswith("/webhooks/generic/") else {}
        return Delivery(self.body, Headers(dict(self.headers)), self.url, params)


@dataclass(frozen=True)
class Carrier:
    """How one endpoint's deliveries are signed, with a valid sample of each kind it takes.

    ``sample_json`` is the sample as a JSON document for endpoints whose body is JSON; ``sample_form``
    the sample's fields for endpoints whose body is a form (signed with :meth:`signed_form`).
    """

    endpoint: Endpoint
    path: str
    content_type: str
    sample_body: bytes
    sign_body: Callable[[SignedRequest], SignedRequest]
    marker: str
    """A string of the sample that the translator carries into the event (its text, or an identity)."""
    sender_name: str | None = None
    """The sender's name as the sample writes it, when it has one the event carries."""
    sample_json: Any = None
    sample_form: FormFields = ()
    sign_form: Callable[[FormFields], SignedRequest] | None = None

    @property
    def provider(self) -> str:
        return self.endpoint.provider

    def signed(self, body: bytes, content_type: str | None = None) -> SignedRequest:
        """``body`` as this endpoint's provider would sign it (as far as its scheme signs bodies)."""
        headers = {"Content-Type": self.content_type if content_type is None else content_type}
        return self.sign_body(SignedRequest(self.path, body, headers, True))

    def signed_form(self, fields: FormFields) -> SignedRequest:
        """A form of ``fields`` (plus the scheme's own signature fields), signed; form endpoints only."""
        assert self.sign_form is not None, f"{self.provider} does not take forms"
        return self.sign_form(fields)

    def sample(self) -> SignedRequest:
        """The valid sample delivery, signed."""
        if self.sign_form is not None:
            return self.signed_form(self.sample_form)
        return self.signed(self.sample_body)


# --- the carriers --------------------------------------------------------------------------------


def _endpoint(path: str) -> Endpoint:
    return next(e for e in ENDPOINTS if e.path == path)


def _with(
    request: SignedRequest, headers: Mapping[str, str], *, verifiable: bool | None = True
) -> SignedRequest:
    return SignedRequest(request.path, request.body, {**request.headers, **headers}, verifiable)


def _header_signed(name: str, sign: Callable[[str, bytes], str]) -> Callable[[SignedRequest], SignedRequest]:
    def apply(request: SignedRequest) -> SignedRequest:
        return _with(request, {name: sign(request.url, request.body)})

    return apply


def _splice_vk_secret(secret: str) -> Callable[[SignedRequest], SignedRequest]:
    """VK's secret is a body field: put it first in anything that starts like a JSON object."""
    field_text = json.dumps({"secret": secret})[1:-1].encode()

    def apply(request: SignedRequest) -> SignedRequest:
        stripped = request.body.lstrip()
        if not stripped.startswith(b"{"):
            return _with(request, {}, verifiable=False)
        rest = stripped[1:]
        separator = b"" if rest.lstrip().startswith(b"}") else b","
        return SignedRequest(
            request.path, b"{" + field_text + separator + rest, request.headers, verifiable=None
        )

    return apply


def _mailgun_signature_fields(key: str) -> list[tuple[str, str]]:
    stamp, token = str(int(time.time())), uuid.uuid4().hex + "ab"
    return [("timestamp", stamp), ("token", token), ("signature", mail.mailgun_signature(stamp, token, key))]


def _append_mailgun_signature(key: str) -> Callable[[SignedRequest], SignedRequest]:
    """Mailgun signs ``timestamp + token``, not the body: a captured triple fits any body."""

    def apply(request: SignedRequest) -> SignedRequest:
        tail = urlencode(_mailgun_signature_fields(key)).encode()
        body = request.body + b"&" + tail if request.body else tail
        return SignedRequest(request.path, body, {"Content-Type": URLENCODED}, verifiable=None)

    return apply


def _mailgun_form(key: str) -> Callable[[FormFields], SignedRequest]:
    def apply(fields: FormFields) -> SignedRequest:
        body, content_type = mail.encode_form([*fields, *_mailgun_signature_fields(key)], [], multipart=True)
        return SignedRequest(mail.MAILGUN_PATH, body, {"Content-Type": content_type}, True)

    return apply


def _twilio_signed(token: str) -> Callable[[SignedRequest], SignedRequest]:
    """Twilio signs the URL and the parsed parameters: any body that parses as a form is signable."""

    def apply(request: SignedRequest) -> SignedRequest:
        try:
            params = twilio_voice.parse_form(request.body)
        except InvalidPayload:
            signature = sign_twilio(request.url, [], token)
            return _with(request, {"X-Twilio-Signature": signature}, verifiable=False)
        return _with(request, {"X-Twilio-Signature": sign_twilio(request.url, params, token)})

    return apply


def _twilio_form(token: str) -> Callable[[FormFields], SignedRequest]:
    def apply(fields: FormFields) -> SignedRequest:
        body = urlencode(fields).encode("ascii")
        signature = sign_twilio(PUBLIC_BASE + twilio.PATH, twilio_voice.parse_form(body), token)
        return SignedRequest(
            twilio.PATH, body, {"Content-Type": URLENCODED, "X-Twilio-Signature": signature}, True
        )

    return apply


def _sendgrid_form(secret: str) -> Callable[[FormFields], SignedRequest]:
    def apply(fields: FormFields) -> SignedRequest:
        body, content_type = mail.encode_form(fields, [], multipart=True)
        headers = {"Content-Type": content_type, "Authorization": f"Bearer {secret}"}
        return SignedRequest(mail.SENDGRID_PATH, body, headers, True)

    return apply


def _standard_webhook(secret: str) -> Callable[[SignedRequest], SignedRequest]:
    def apply(request: SignedRequest) -> SignedRequest:
        return _with(request, mail.standard_webhook_headers(request.body, secret))

    return apply


#: The message text of every sample that has one; translators carry it into the event's summary.
TEXT = "Do you have the blue mug in stock?"
#: The item of every sample purchase; translators carry it into the purchase lines and summary.
MUG = "Blue mug"


def carriers(secrets: LocalSecrets) -> dict[str, Carrier]:
    """Every endpoint's carrier, by provider; fails when an endpoint has none."""
    person = samples.sample_person("hostile-input")
    friend = social.social_person("hostile-input")
    mug = [("MUG-BLUE", MUG, 1, "12.50")]
    email = samples.email_message(person, "<hostile-1@mail.example.com>", "Question", TEXT)
    chat = samples.chat_message(person, "hostile-chat-1", TEXT)
    whatsapp = samples.whatsapp_message(person, "wamid.hostile-1", TEXT)
    order = samples.shopify_order(person, 424242, mug)
    update = social.telegram_message(friend, 9001, 7, TEXT)
    vk_document = json.loads(social.vk_message_new(friend, "-", 11, TEXT, event_id="hostile-vk-1"))
    vk_body = json.dumps({k: v for k, v in vk_document.items() if k != "secret"}).encode()
    payment_id = "hostile-pay-1"
    payment = pv.square_payment(person, payment_id, 1250)
    item = pv.TillItem("MUG-BLUE", MUG, 1, "12.50")
    receipt = pv.till_receipt(person, "R-hostile-1", [item], with_email=True)
    sid = pv.call_sid("hostile-1")
    call = pv.twilio_call(person, sid)
    mailgun_fields = mail.mailgun_fields(person, "<hostile-mg@mail.example.com>", "Question", TEXT)
    sendgrid_body, sendgrid_type = mail.sendgrid_parsed(person, "<hostile-sg@mail.example.com>", "Q", TEXT)
    generic = mail.generic_message(person, "hostile-generic-1", TEXT)

    def hex_carrier(
        path: str, body: bytes, secret: str, marker: str, name: str | None, content_type: str = JSON
    ) -> Carrier:
        return Carrier(
            _endpoint(path),
            path,
            content_type,
            body,
            _header_signed("X-Hub-Signature-256", lambda _url, raw: sign_hex(raw, secret)),
            marker,
            sender_name=name,
            sample_json=_json_or_none(body),
        )

    built = [
        hex_carrier("/webhooks/email/mta", email, secrets.mta, TEXT, person.name, "message/rfc822"),
        hex_carrier("/webhooks/chat/widget", chat, secrets.widget, TEXT, person.name),
        hex_carrier("/webhooks/social/meta", whatsapp, secrets.meta_app, TEXT, person.name),
        hex_carrier(till.PATH, receipt, secrets.till, MUG, None),
        Carrier(
            _endpoint("/webhooks/pos/shopify"),
            "/webhooks/pos/shopify",
            JSON,
            order,
            lambda request: _with(
                request,
                {
                    "X-Shopify-Topic": "orders/create",
                    "X-Shopify-Webhook-Id": str(uuid.uuid4()),
                    "X-Shopify-Hmac-Sha256": sign_base64(request.body, secrets.shopify),
                },
            ),
            MUG,
            sender_name=person.name.partition(" ")[0],
            sample_json=json.loads(order),
        ),
        Carrier(
            _endpoint(square.PATH),
            square.PATH,
            JSON,
            payment,
            _header_signed(square.SIGNATURE_HEADER, lambda url, raw: sign_square(url, raw, secrets.square)),
            payment_id,
            sample_json=json.loads(payment),
        ),
        Carrier(
            _endpoint(social.TELEGRAM_PATH),
            social.TELEGRAM_PATH,
            JSON,
            update,
            lambda request: _with(request, {telegram.SECRET_HEADER: secrets.telegram}),
            TEXT,
            sender_name=friend.first_name,
            sample_json=json.loads(update),
        ),
        Carrier(
            _endpoint(social.VK_PATH),
            social.VK_PATH,
            JSON,
            vk_body,
            _splice_vk_secret(secrets.vk),
            TEXT,
            sample_json=json.loads(vk_body),
        ),
        Carrier(
            _endpoint(mail.GENERIC_PATH),
            mail.GENERIC_PATH.format(channel=GENERIC_CHANNEL),
            JSON,
            generic,
            _standard_webhook(secrets.generic),
            TEXT,
            sender_name=person.name,
            sample_json=json.loads(generic),
        ),
        Carrier(
            _endpoint(twilio.PATH),
            twilio.PATH,
            URLENCODED,
            pv.form_body(call),
            _twilio_signed(secrets.twilio),
            sid,
            sample_form=call,
            sign_form=_twilio_form(secrets.twilio),
        ),
        Carrier(
            _endpoint(mail.MAILGUN_PATH),
            mail.MAILGUN_PATH,
            URLENCODED,
            urlencode(mailgun_fields).encode(),
            _append_mailgun_signature(secrets.mailgun),
            TEXT,
            sample_form=mailgun_fields,
            sign_form=_mailgun_form(secrets.mailgun),
        ),
        Carrier(
            _endpoint(mail.SENDGRID_PATH),
            mail.SENDGRID_PATH,
            sendgrid_type,
            sendgrid_body,
            lambda request: _with(request, {"Authorization": f"Bearer {secrets.sendgrid}"}),
            TEXT,
            sample_form=list(parse_form(sendgrid_type, sendgrid_body).fields.items()),
            sign_form=_sendgrid_form(secrets.sendgrid),
        ),
    ]
    by_provider = {carrier.provider: carrier for carrier in built}
    missing = {e.provider for e in ENDPOINTS} - set(by_provider)
    assert not missing, f"no carrier for the endpoints of {sorted(missing)}: add one here"
    return by_provider


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


# --- the in-process ingress on a fresh topic -------------------------------------------------------


def ingress_settings(
    secrets: LocalSecrets, bootstrap: str, topics: Topics, blob_dir: Path
) -> IngressSettings:
    """One current secret per channel; signed URLs are seen as :data:`PUBLIC_BASE` + path."""
    return IngressSettings.model_validate(
        {
            "kafka_bootstrap": bootstrap,
            "topics": topics,
            "public_base_url": PUBLIC_BASE,
            "publish_timeout_s": 10.0,
            "blob_dir": blob_dir,
            **{f"{name}_secrets": [SecretStr(value)] for name, value in _channel_secrets(secrets).items()},
        }
    )


def _channel_secrets(secrets: LocalSecrets) -> dict[str, str]:
    names = ("mta", "widget", "meta_app", "shopify", "telegram", "vk", "mailgun", "sendgrid", "square")
    return {name: getattr(secrets, name) for name in (*names, "twilio", "till", "generic")}


def fresh_topics() -> Topics:
    tag = uuid.uuid4().hex[:10]
    return Topics(
        interactions=f"test.{tag}.interactions",
        dead_letter=f"test.{tag}.dlq",
        timeline=f"test.{tag}.timeline",
    )


@dataclass
class Ingress:
    """The ingress app in this process, its client, and a look at the topic it publishes to."""

    client: httpx.AsyncClient
    settings: IngressSettings
    carriers: dict[str, Carrier]
    _consumer: AIOKafkaConsumer = field(repr=False)

    async def send(self, request: SignedRequest) -> httpx.Response:
        return await self.client.post(request.path, content=request.body, headers=dict(request.headers))

    async def published(self) -> int:
        """How many records the interactions topic holds (its end offsets summed)."""
        topic = self.settings.topics.interactions
        partitions = self._consumer.partitions_for_topic(topic) or set()
        assert partitions, f"topic {topic} does not exist"
        ends = await self._consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
        return sum(ends.values())


SettingsFor = Callable[[LocalSecrets, str, Topics, Path], IngressSettings]


@asynccontextmanager
async def running_ingress(
    bootstrap: str,
    blob_dir: Path,
    secrets: LocalSecrets | None = None,
    settings_for: SettingsFor = ingress_settings,
) -> AsyncIterator[Ingress]:
    """The ingress with its Kafka lifespan running, publishing to a topic made for it; its carriers sign
    with ``secrets`` (fresh ones by default), which ``settings_for`` gives the ingress."""
    secrets = secrets or LocalSecrets.generate()
    topics = fresh_topics()
    await ensure_topics(bootstrap, [TopicSpec(topics.interactions)])
    settings = settings_for(secrets, bootstrap, topics, blob_dir)
    app = build_app(settings)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await _wait_for_metadata(consumer, topics.interactions)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # a 500, as a server answers
            async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_BASE, timeout=30) as client:
                yield Ingress(client, settings, carriers(secrets), consumer)
    finally:
        await consumer.stop()


async def _wait_for_metadata(consumer: AIOKafkaConsumer, topic: str, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not consumer.partitions_for_topic(topic):
        assert time.monotonic() < deadline, f"topic {topic} did not appear within {timeout_s} s"
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.05)  # a poll interval under the deadline above, not a wait for an outcome


def is_error_shape(response: httpx.Response) -> bool:
    """Whether the answer is the hub's ``{"error": {"code": str, "message": str}}``."""
    if not response.headers.get("content-type", "").startswith("application/json"):
        return False
    try:
        document = response.json()
    except ValueError:
        return False
    error = document.get("error") if isinstance(document, dict) else None
    return (
        isinstance(error, dict)
        and isinstance(error.get("code"), str)
        and bool(error["code"])
        and isinstance(error.get("message"), str)
    )
