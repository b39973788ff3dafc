"""Mailgun, SendGrid Inbound Parse and generic Standard Webhooks: verification and translation."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from hashlib import sha256

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from starlette.datastructures import Headers

from contracts import (
    Attachment,
    ChatMessageReceived,
    EmailReceived,
    IdentityKind,
    SocialMessageReceived,
    event_id_for,
)
from hub import samples
from hub import samples_email_generic as mail
from hub.demo import Webhook
from services.ingress import app as ingress_app
from services.ingress.delivery import Delivery
from services.ingress.endpoints import ENDPOINTS, Endpoint
from services.ingress.errors import InvalidPayload, InvalidSignature, StaleTimestamp, UnsupportedEventType
from services.ingress.providers import mailgun as mailgun_provider
from services.ingress.settings import IngressSettings
from services.ingress.translate import email_mta, generic, mailgun, sendgrid
from services.ingress.translate._form import parse_form
from services.ingress.verify import check_timestamp, sign_standard_webhook, verify_standard_webhook

pytestmark = pytest.mark.unit

RECEIVED = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
CONTEXT = {"received_at": RECEIVED, "correlation_id": "corr-1", "default_region": "US"}
CURRENT, PREVIOUS = SecretStr("key-current-3ax6"), SecretStr("key-previous-9qz2")
SECRETS = [CURRENT, PREVIOUS]
WH_CURRENT = SecretStr("whsec_" + base64.b64encode(b"current-standard-webhooks-key-32").decode())
WH_PREVIOUS = SecretStr("whsec_" + base64.b64encode(b"previous-standard-webhooks-key-3").decode())
WH_SECRETS = [WH_CURRENT, WH_PREVIOUS]
WINDOW = 300


@pytest.fixture
def person() -> samples.SamplePerson:
    return samples.sample_person(4242)


def _endpoint(path: str) -> Endpoint:
    return next(e for e in ENDPOINTS if e.path == path)


def _delivery(hook: Webhook) -> Delivery:
    path, _, _ = hook.path.partition("?")
    channel = path.rsplit("/", 1)[1] if path.startswith("/webhooks/generic/") else None
    params = {"channel": channel} if channel else {}
    return Delivery(hook.body, Headers(hook.headers), "https://hub.example.com" + hook.path, params)


def _translate(hook: Webhook) -> list[object]:
    path = hook.path.partition("?")[0]
    endpoint = _endpoint(mail.GENERIC_PATH if path.startswith("/webhooks/generic/") else path)
    delivery = _delivery(hook)
    return list(endpoint.translator_for(delivery)(delivery.body, **CONTEXT))


def _accepted(check: Callable[[], None]) -> bool:
    try:
        check()
    except InvalidSignature:
        return False
    return True


# --- the form reader -------------------------------------------------------------------------------


def test_multipart_and_urlencoded_forms_read_back_exactly_including_binary_files() -> None:
    body, content_type = mail.encode_form(
        [("subject", "Grüße\r\nline two"), ("empty", "")], [("attachment-1", mail.PHOTO)]
    )
    form = parse_form(content_type, body)
    urlencoded = parse_form("application/x-www-form-urlencoded", b"a=1&b=%C3%A9+x&c=")

    assert form.text("subject") == "Grüße\r\nline two"
    assert form.text("empty") == ""
    assert form.files["attachment-1"].data == mail.PHOTO.data
    assert form.files["attachment-1"].content_type == "image/png"
    assert (urlencoded.text("a"), urlencoded.text("b"), urlencoded.text("c")) == ("1", "é x", "")


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b"{}"),
        ("multipart/form-data", b"--x\r\n\r\n--x--\r\n"),  # no boundary parameter
        ("application/x-www-form-urlencoded", b"token=a&token=b"),  # a field twice
        ("application/x-www-form-urlencoded", "a=é".encode()),  # not percent-encoded
    ],
)
def test_what_is_not_an_unambiguous_form_is_refused(content_type: str, body: bytes) -> None:
    with pytest.raises(InvalidPayload):
        parse_form(content_type, body)


# --- Mailgun: translation ----------------------------------------------------------------------------


def test_mailgun_forward_with_attachments_and_threading(person: samples.SamplePerson) -> None:
    hook = mail.mailgun_webhook(
        person,
        "<CAF=reply-77@mail.gmail.com>",
        "Re: Your order #1042",
        "Thanks, the invoice is attached.",
        CURRENT.get_secret_value(),
        in_reply_to="<order-1042@shop.example.com>",
        attachments=[mail.INVOICE, mail.PHOTO],
    )
    [event] = _translate(hook)

    assert hook.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert isinstance(event, EmailReceived)
    assert event.provider == "mailgun"
    assert event.provider_message_id == event.message_id == "<CAF=reply-77@mail.gmail.com>"
    assert event.event_id == event_id_for("mailgun", "<CAF=reply-77@mail.gmail.com>")
    assert event.subject == "Re: Your order #1042"
    assert event.in_reply_to == "<order-1042@shop.example.com>"
    assert event.to == ("support@shop.example.com",)
    assert event.cc == ("orders@shop.example.com",)
    assert event.summary == "Thanks, the invoice is attached."  # stripped-text: no quoted reply
    assert event.occurred_at == datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
    assert [(i.kind, i.value) for i in event.sender.identities] == [(IdentityKind.EMAIL, person.email)]
    assert event.sender.display_name == person.name
    assert event.attachments == (
        Attachment(
            filename="invoice-1042.pdf",
            content_type="application/pdf",
            size_bytes=len(mail.INVOICE.data),
            sha256=sha256(mail.INVOICE.data).hexdigest(),
        ),
        Attachment(
            filename="jacket.png",
            content_type="image/png",
            size_bytes=len(mail.PHOTO.data),
            sha256=sha256(mail.PHOTO.data).hexdigest(),
        ),
    )
    assert event.correlation_id == "corr-1"


def test_mailgun_urlencoded_post_without_message_headers_uses_the_header_fields(
    person: samples.SamplePerson,
) -> None:
    fields = [
        (name, value)
        for name, value in mail.mailgun_fields(person, "<m-2@mail.example.com>", "Hello", "Plain question")
        if name != "message-headers"
    ]
    body, content_type = mail.encode_form(fields, [])
    [event] = mailgun.translate(body, **CONTEXT)

    assert content_type == "application/x-www-form-urlencoded"
    assert isinstance(event, EmailReceived)
    assert (event.provider_message_id, event.subject, event.summary) == (
        "<m-2@mail.example.com>",
        "Hello",
        "Plain question",
    )
    assert event.to == ("support@shop.example.com",)
    assert event.attachments == ()


def test_mailgun_store_and_notify_describes_stored_attachments(person: samples.SamplePerson) -> None:
    stored = [
        {
            "url": "https://storage.mailgun.net/v3/x/attachments/0",
            "content-type": "text/csv",
            "name": "q.csv",
            "size": 88,
        }
    ]
    fields = [
        (n, v)
        for n, v in mail.mailgun_fields(person, "<m-3@x.example.com>", "S", "T")
        if n != "attachment-count"
    ]
    body, _ = mail.encode_form([*fields, ("attachments", json.dumps(stored))], [])
    [event] = mailgun.translate(body, **CONTEXT)

    assert isinstance(event, EmailReceived)
    assert event.attachments == (Attachment(filename="q.csv", content_type="text/csv", size_bytes=88),)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda f: [(n, v) for n, v in f if n != "message-headers"] + [("message-headers", "[1, 2]")],
            "message-headers",
        ),
        (lambda f: [(n, "3" if n == "attachment-count" else v) for n, v in f], "attachment-1"),
        (
            lambda f: [
                (n, json.dumps([["From", "a@example.com"]]) if n == "message-headers" else v) for n, v in f
            ],
            "Message-ID",
        ),
    ],
)
def test_mailgun_refuses_posts_it_cannot_read(
    person: samples.SamplePerson,
    change: Callable[[list[tuple[str, str]]], list[tuple[str, str]]],
    message: str,
) -> None:
    body, _content_type = mail.encode_form(
        change(mail.mailgun_fields(person, "<m@x.example.com>", "S", "T")), []
    )
    with pytest.raises(InvalidPayload, match=message):
        mailgun.translate(body, **CONTEXT)


def test_mailgun_retry_with_a_new_token_is_the_same_event(person: samples.SamplePerson) -> None:
    first = mail.mailgun_webhook(person, "<same@x.example.com>", "S", "T", CURRENT.get_secret_value())
    retry = mail.mailgun_webhook(
        person, "<same@x.example.com>", "S", "T", CURRENT.get_secret_value(), timestamp=1
    )
    assert first.body != retry.body
    assert [e.event_id for e in _translate(first)] == [e.event_id for e in _translate(retry)]


# --- Mailgun: verification ---------------------------------------------------------------------------


def test_mailgun_signature_matrix(person: samples.SamplePerson) -> None:
    now = 1_740_820_000
    fields = mail.mailgun_fields(person, "<m@x.example.com>", "S", "T")
    token = "c2f3e0a5b4d19f8e7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e"
    good = mail.mailgun_signature(str(now), token, CURRENT.get_secret_value())

    def form(timestamp: str | None, tok: str | None, signature: str | None) -> bytes:
        extra = [
            (n, v)
            for n, v in (("timestamp", timestamp), ("token", tok), ("signature", signature))
            if v is not None
        ]
        return mail.encode_form([*fields, *extra], [])[0]

    rows: dict[str, tuple[bytes, bool]] = {
        "current key": (form(str(now), token, good), True),
        "previous key (rotation)": (
            form(str(now), token, mail.mailgun_signature(str(now), token, PREVIOUS.get_secret_value())),
            True,
        ),
        "upper-case hex": (form(str(now), token, good.upper()), True),
        "oldest accepted": (
            form(
                str(now - WINDOW),
                token,
                mail.mailgun_signature(str(now - WINDOW), token, CURRENT.get_secret_value()),
            ),
            True,
        ),
        "missing signature": (form(str(now), token, None), False),
        "missing token": (form(str(now), None, good), False),
        "missing timestamp": (form(None, token, good), False),
        "wrong key": (form(str(now), token, mail.mailgun_signature(str(now), token, "not-the-key")), False),
        "token one byte changed": (form(str(now), token[:-1] + "X", good), False),
        "timestamp changed": (form(str(now + 1), token, good), False),
        "signature one char changed": (
            form(str(now), token, good[:-1] + ("0" if good[-1] != "0" else "1")),
            False,
        ),
        "truncated signature": (form(str(now), token, good[:-2]), False),
        "base64 instead of hex": (
            form(str(now), token, base64.b64encode(bytes.fromhex(good)).decode()),
            False,
        ),
        "stale": (
            form(
                str(now - WINDOW - 1),
                token,
                mail.mailgun_signature(str(now - WINDOW - 1), token, CURRENT.get_secret_value()),
            ),
            False,
        ),
        "future": (
            form(
                str(now + WINDOW + 1),
                token,
                mail.mailgun_signature(str(now + WINDOW + 1), token, CURRENT.get_secret_value()),
            ),
            False,
        ),
    }
    results = {
        name: _accepted(
            lambda body=body: mailgun_provider.verify_form(
                parse_form("application/x-www-form-urlencoded", body), SECRETS, window_s=WINDOW, now=now
            )
        )
        for name, (body, _) in rows.items()
    }
    assert results == {name: valid for name, (_, valid) in rows.items()}


def test_mailgun_stale_and_future_timestamps_are_stale_not_just_invalid(person: samples.SamplePerson) -> None:
    verify = _endpoint(mail.MAILGUN_PATH).verify
    key = CURRENT.get_secret_value()
    fresh = mail.mailgun_webhook(person, "<m@x.example.com>", "S", "T", key, attachments=[mail.PHOTO])
    old = mail.mailgun_webhook(person, "<m@x.example.com>", "S", "T", key, timestamp=int(time.time()) - 3600)
    ahead = mail.mailgun_webhook(
        person, "<m@x.example.com>", "S", "T", key, timestamp=int(time.time()) + 3600
    )

    verify(_delivery(fresh), SECRETS)  # multipart, through the endpoint's own verifier
    for hook in (old, ahead):
        with pytest.raises(StaleTimestamp):
            verify(_delivery(hook), SECRETS)
    with pytest.raises(InvalidSignature, match="readable form"):
        verify(Delivery(fresh.body, Headers({"Content-Type": "application/json"})), SECRETS)


# --- SendGrid ---------------------------------------------------------------------------------------


def test_sendgrid_parsed_mode(person: samples.SamplePerson) -> None:
    body, content_type = mail.sendgrid_parsed(
        person,
        "<sg-1@mail.example.com>",
        "Sizes?",
        "Do you have it in M?",
        attachments=[mail.PHOTO, mail.INVOICE],
        in_reply_to="<order-7@shop.example.com>",
    )
    [event] = _translate(mail.sendgrid_webhook(body, content_type, "s"))

    assert isinstance(event, EmailReceived)
    assert (event.provider, event.provider_message_id) == ("sendgrid", "<sg-1@mail.example.com>")
    assert event.event_id == event_id_for("sendgrid", "<sg-1@mail.example.com>")
    assert (event.subject, event.summary, event.in_reply_to) == (
        "Sizes?",
        "Do you have it in M?",
        "<order-7@shop.example.com>",
    )
    assert event.to == ("support@shop.example.com",)
    assert event.cc == ("orders@shop.example.com",)
    assert event.occurred_at == datetime(2025, 3, 1, 9, 45, tzinfo=UTC)
    assert event.sender.identities[0].value == person.email
    assert event.attachments == (
        Attachment(
            filename="jacket.png",
            content_type="image/png",
            size_bytes=len(mail.PHOTO.data),
            sha256=sha256(mail.PHOTO.data).hexdigest(),
        ),
        Attachment(
            filename="invoice-1042.pdf",
            content_type="application/pdf",
            size_bytes=len(mail.INVOICE.data),
            sha256=sha256(mail.INVOICE.data).hexdigest(),
        ),
    )


def test_sendgrid_raw_mode_is_translated_as_the_mta_translates_the_message(
    person: samples.SamplePerson,
) -> None:
    body, content_type = mail.sendgrid_raw(person, "<raw-1@mail.example.com>", "Raw", "Sent as raw MIME")
    [event] = _translate(mail.sendgrid_webhook(body, content_type, "s", how="key"))
    [mta] = email_mta.translate(
        samples.email_message(person, "<raw-1@mail.example.com>", "Raw", "Sent as raw MIME"), **CONTEXT
    )

    assert content_type.startswith("multipart/form-data")
    assert isinstance(event, EmailReceived)
    assert event.event_id == event_id_for("sendgrid", "<raw-1@mail.example.com>")
    assert event.model_dump(exclude={"event_id", "provider"}) == mta.model_dump(
        exclude={"event_id", "provider"}
    )
    assert event.attachments and event.attachments[0].filename == mta.attachments[0].filename


def test_sendgrid_without_message_id_gets_a_digest_id_stable_across_retries(
    person: samples.SamplePerson,
) -> None:
    first = mail.sendgrid_parsed(person, None, "No id", "Hello")
    retry = mail.sendgrid_parsed(person, None, "No id", "Hello")  # a new multipart boundary
    other = mail.sendgrid_parsed(person, None, "Other", "Hello")
    [a], [b], [c] = (_translate(mail.sendgrid_webhook(*post, "s")) for post in (first, retry, other))
    headers = parse_form(first[1], first[0]).fields["headers"]

    assert first[0] != retry[0]
    assert isinstance(a, EmailReceived) and isinstance(b, EmailReceived) and isinstance(c, EmailReceived)
    assert a.provider_message_id == "sha256:" + hashlib.sha256(headers).hexdigest()
    assert a.message_id is None
    assert a.event_id == b.event_id != c.event_id


def test_sendgrid_fields_are_decoded_in_their_declared_charset(person: samples.SamplePerson) -> None:
    body, content_type = mail.encode_form(
        [
            ("headers", f"From: {person.email}\nMessage-ID: <cs@x>\nSubject: x\n"),
            ("text", "Café ouvert?".encode("iso-8859-1")),
            ("charsets", '{"text": "iso-8859-1", "headers": "UTF-8"}'),
        ],
        [],
        multipart=True,
    )
    delivery = Delivery(body, Headers({"content-type": content_type}))
    [event] = sendgrid.translator_for(delivery)(body, **CONTEXT)

    assert event.summary == "Café ouvert?"


def test_sendgrid_credential_matrix(person: samples.SamplePerson) -> None:
    verify = _endpoint(mail.SENDGRID_PATH).verify
    body, content_type = mail.sendgrid_parsed(person, "<a@x>", "S", "T")
    current, previous = CURRENT.get_secret_value(), PREVIOUS.get_secret_value()

    def basic(user: str, password: str) -> str:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    rows: dict[str, tuple[dict[str, str], str, bool]] = {
        "basic password": ({"Authorization": basic("sendgrid", current)}, "", True),
        "basic, previous secret (rotation)": ({"Authorization": basic("any-user", previous)}, "", True),
        "bearer": ({"Authorization": f"Bearer {current}"}, "", True),
        "key parameter": ({}, f"?key={current}", True),
        "nothing": ({}, "", False),
        "wrong password": ({"Authorization": basic("sendgrid", "guess")}, "", False),
        "password one char changed": ({"Authorization": basic("sendgrid", current[:-1] + "X")}, "", False),
        "truncated key": ({}, f"?key={current[:-1]}", False),
        "secret as user name": ({"Authorization": basic(current, "")}, "", False),
        "basic not base64": ({"Authorization": "Basic %%%"}, "", False),
        "other scheme": ({"Authorization": f"Token {current}"}, "", False),
        "key twice": ({}, f"?key={current}&key=guess", False),
        "wrong header beats right key": ({"Authorization": "Bearer guess"}, f"?key={current}", False),
    }
    results = {
        name: _accepted(
            lambda h=headers, q=query: verify(
                Delivery(
                    body,
                    Headers({"Content-Type": content_type, **h}),
                    f"https://hub.example.com/webhooks/email/sendgrid{q}",
                ),
                SECRETS,
            )
        )
        for name, (headers, query, _) in rows.items()
    }
    assert results == {name: valid for name, (_, _, valid) in rows.items()}


# --- Standard Webhooks -------------------------------------------------------------------------------


def test_standard_webhooks_signature_matches_the_specification_example() -> None:
    # The example of the Standard Webhooks specification and its reference libraries.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    assert (
        sign_standard_webhook("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, secret)
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_standard_webhooks_matrix() -> None:
    now = 1_740_820_000
    body = b'{"type":"message.received","data":{}}'
    sig = sign_standard_webhook("msg_1", now, body, WH_CURRENT)
    raw = base64.b64decode(sig[3:])

    def row(
        headers: dict[str, str | None], payload: bytes = body
    ) -> tuple[bytes, str | None, str | None, str | None]:
        merged = {"id": "msg_1", "ts": str(now), "sig": sig} | headers
        return payload, merged["id"], merged["ts"], merged["sig"]

    rows = {
        "current secret": (row({}), True),
        "previous secret (rotation)": (
            row({"sig": sign_standard_webhook("msg_1", now, body, WH_PREVIOUS)}),
            True,
        ),
        "one of several signatures": (row({"sig": f"v1,{base64.b64encode(b'x' * 32).decode()} {sig}"}), True),
        "unknown version ignored": (row({"sig": f"v2,abc {sig}"}), True),
        "missing id": (row({"id": None}), False),
        "missing timestamp": (row({"ts": None}), False),
        "missing signature": (row({"sig": None}), False),
        "wrong secret": (
            row(
                {
                    "sig": sign_standard_webhook(
                        "msg_1", now, body, "whsec_" + base64.b64encode(b"k" * 32).decode()
                    )
                }
            ),
            False,
        ),
        "body one byte changed": (row({}, body.replace(b"received", b"receivee")), False),
        "id changed": (row({"id": "msg_2"}), False),
        "truncated signature": (row({"sig": sig[:-4]}), False),
        "hex instead of base64": (row({"sig": "v1," + raw.hex()}), False),
        "no v1 entry": (row({"sig": "v2," + sig[3:]}), False),
        "stale": (
            row(
                {
                    "ts": str(now - WINDOW - 1),
                    "sig": sign_standard_webhook("msg_1", now - WINDOW - 1, body, WH_CURRENT),
                }
            ),
            False,
        ),
        "future": (
            row(
                {
                    "ts": str(now + WINDOW + 1),
                    "sig": sign_standard_webhook("msg_1", now + WINDOW + 1, body, WH_CURRENT),
                }
            ),
            False,
        ),
    }
    results = {
        name: _accepted(
            lambda args=args: verify_standard_webhook(*args, WH_SECRETS, window_s=WINDOW, now=now)
        )
        for name, (args, _) in rows.items()
    }
    assert results == {name: valid for name, (_, valid) in rows.items()}


def test_timestamp_window_is_inclusive_and_symmetric() -> None:
    assert check_timestamp("1000", 300, now=1300) == 1000
    assert check_timestamp("1300", 300, now=1000) == 1300
    for value in ("999", "1601"):
        with pytest.raises(StaleTimestamp):
            check_timestamp(value, 300, now=1300)
    for value in (None, "", "12.5", "-5", "1e9", "٣٣"):
        with pytest.raises(InvalidSignature) as caught:
            check_timestamp(value, 300, now=1300)
        assert not isinstance(caught.value, StaleTimestamp)


def test_a_malformed_generic_secret_stops_the_app_at_start() -> None:
    with pytest.raises(ValueError, match="whsec_"):
        ingress_app.build_app(IngressSettings(generic_secrets=[SecretStr("whsec_not base64!")]))


# --- generic: translation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "kind"),
    [("chat", ChatMessageReceived), ("social", SocialMessageReceived), ("email", EmailReceived)],
)
def test_generic_message_becomes_the_event_of_its_channel(
    person: samples.SamplePerson, channel: str, kind: type[object]
) -> None:
    body = mail.generic_message(person, "msg-8841", "Is the blue one in stock?", channel=channel)
    [event] = _translate(mail.generic_webhook(body, WH_CURRENT.get_secret_value(), channel=channel))

    assert isinstance(event, kind)
    provider = f"generic:{channel}:acme-helpdesk"
    assert event.provider == provider
    assert event.event_id == event_id_for(provider, "msg-8841")
    assert event.summary == "Is the blue one in stock?"
    assert [(i.kind, i.provider, i.value) for i in event.sender.identities] == [
        (IdentityKind.EMAIL, None, person.email),
        (IdentityKind.HANDLE, "acme-helpdesk", person.visitor_id),
    ]
    if isinstance(event, SocialMessageReceived):
        assert (event.network, event.conversation_id) == ("acme-helpdesk", "conv-msg-8841")
    if isinstance(event, EmailReceived):
        assert (event.subject, event.to, event.in_reply_to) == (
            "Question",
            ("support@shop.example.com",),
            "<prev@shop.example.com>",
        )


def test_generic_event_id_ignores_the_delivery_id_but_not_the_source(person: samples.SamplePerson) -> None:
    secret = WH_CURRENT.get_secret_value()
    body = mail.generic_message(person, "msg-1", "Hi")
    again = _translate(mail.generic_webhook(body, secret))[0]  # another webhook-id
    first = _translate(mail.generic_webhook(body, secret))[0]
    elsewhere = _translate(
        mail.generic_webhook(mail.generic_message(person, "msg-1", "Hi", source="other-desk"), secret)
    )[0]

    assert first.event_id == again.event_id != elsewhere.event_id


def _data_changed(person: samples.SamplePerson, **changes: object) -> bytes:
    payload = json.loads(mail.generic_message(person, "msg-2", "Hi"))
    payload["data"] |= changes
    return json.dumps({k: v for k, v in payload.items() if v is not None}).encode()


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (
            lambda p: mail.generic_message(p, "m", "x", event_type="message.deleted"),
            UnsupportedEventType,
            "event type",
        ),
        (lambda p: _data_changed(p, colour="blue"), InvalidPayload, "data.colour"),
        (
            lambda p: _data_changed(p, conversation_id=None),
            InvalidPayload,
            "conversation_id",
        ),
        (
            lambda p: _data_changed(p, subject="Hello"),
            InvalidPayload,
            "data.subject is only for channel email",
        ),
        (lambda p: _data_changed(p, occurred_at="2025-03-01T10:00:00"), InvalidPayload, "occurred_at"),
        (lambda p: _data_changed(p, source="Not A Slug"), InvalidPayload, "source"),
        (
            lambda p: _data_changed(p, sender={"identities": [{"kind": "email", "value": "not-an-email"}]}),
            InvalidPayload,
            "no usable sender identity",
        ),
        (lambda p: b"[1, 2]", InvalidPayload, "generic webhook"),
    ],
)
def test_generic_refusals_name_the_field(
    person: samples.SamplePerson,
    change: Callable[[samples.SamplePerson], bytes],
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error, match=message):
        generic.translate(change(person), channel="chat", **CONTEXT)


def test_generic_unknown_channel_is_refused_with_the_known_ones() -> None:
    with pytest.raises(InvalidPayload, match="chat, social, email"):
        generic.translator_for(Delivery(b"{}", Headers({}), "", {"channel": "fax"}))


# --- the ingress answers (no Kafka: none of these deliveries publishes) --------------------------------


def test_ingress_routes_answer_401_stale_and_422_unknown_channel(person: samples.SamplePerson) -> None:
    settings = IngressSettings(mailgun_secrets=SECRETS, sendgrid_secrets=SECRETS, generic_secrets=WH_SECRETS)
    client = TestClient(ingress_app.build_app(settings))  # no ``with``: the Kafka lifespan does not run
    secret = WH_CURRENT.get_secret_value()
    body = mail.generic_message(person, "m-9", "Hi")
    stale = mail.generic_webhook(body, secret, timestamp=int(time.time()) - 3600)
    fax = mail.generic_webhook(body, secret, channel="fax")
    forged = mail.mailgun_webhook(person, "<m@x.example.com>", "S", "T", "guess")
    unauthenticated = mail.sendgrid_webhook(*mail.sendgrid_parsed(person, "<a@x>", "S", "T"), "guess")

    answers: Sequence[tuple[int, str]] = [
        (a.status_code, a.json()["error"]["code"])
        for a in (
            client.post(h.path, content=h.body, headers=h.headers)
            for h in (stale, fax, forged, unauthenticated)
        )
    ]
    assert answers == [
        (401, "stale_timestamp"),
        (422, "invalid_payload"),
        (401, "invalid_signature"),
        (401, "invalid_signature"),
    ]
    assert "/webhooks/generic/{channel}" in {getattr(route, "path", "") for route in client.app.routes}
