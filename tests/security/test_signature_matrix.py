"""The signature acceptance matrix of every provider: exactly the valid rows are accepted.

One table per scheme, run against each endpoint's own verifier (as the app configures it). A row
expects either the index of the secret that proves the delivery (0 = current, 1 = previous, so a
rotation is visible) or the code of the refusal (``invalid_signature``, ``stale_timestamp``). The
rows the issue asks for are there wherever the scheme has them: missing header, wrong secret, one
byte of the body changed, truncated signature, hex and base64 swapped, stale and future timestamps,
and the previous secret still accepted while a rotation runs (and refused once it ended).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import SecretStr
from starlette.datastructures import Headers

from hub import samples
from hub import samples_chat_social as social
from hub import samples_email_generic as mail
from hub import samples_pos_voice as pv
from services.ingress.delivery import Delivery
from services.ingress.endpoints import ENDPOINTS, Endpoint
from services.ingress.errors import InvalidSignature, StaleTimestamp
from services.ingress.settings import IngressSettings
from services.ingress.verify import sign_base64, sign_hex, sign_square, sign_standard_webhook, sign_twilio

pytestmark = [pytest.mark.security, pytest.mark.unit]

CURRENT, PREVIOUS, WRONG = "current-secret-7f3a9c", "previous-secret-2b9c41", "someone-elses-secret"
SECRETS = [SecretStr(CURRENT), SecretStr(PREVIOUS)]
AFTER_ROTATION = [SecretStr(CURRENT)]
WINDOW_S = 300
SETTINGS = IngressSettings(signature_window_s=WINDOW_S)
HOUR = 3600
INVALID, STALE = InvalidSignature.code, StaleTimestamp.code

Outcome = int | str
"""The index of the secret that proved the delivery, or the code of the refusal."""


@dataclass(frozen=True)
class Row:
    """One line of a matrix: a delivery (built when the test runs, so timestamps are fresh)."""

    build: Callable[[], Delivery]
    expected: Outcome
    secrets: Sequence[SecretStr] = tuple(SECRETS)


def _endpoint(provider: str) -> Endpoint:
    return next(e for e in ENDPOINTS if e.provider == provider).configured(SETTINGS)


def _outcome(endpoint: Endpoint, row: Row) -> Outcome:
    try:
        return endpoint.verify(row.build(), row.secrets)
    except InvalidSignature as exc:
        return exc.code


def _delivery(body: bytes, headers: dict[str, str], url: str = "") -> Delivery:
    return Delivery(body, Headers(headers), url)


def _changed(data: bytes) -> bytes:
    """``data`` with one byte changed (the middle one)."""
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1 :]


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


PERSON = samples.sample_person("signature-matrix")
FRIEND = social.social_person("signature-matrix")


# --- HMAC-SHA256 of the body, hex, in X-Hub-Signature-256 (Meta, our MTA, widget and tills) -------

HEX_BODIES = {
    "meta_whatsapp": samples.whatsapp_message(PERSON, "wamid.matrix-1", "Hi"),
    "mta": samples.email_message(PERSON, "<matrix-1@mail.example.com>", "Question", "Hello"),
    "widget": samples.chat_message(PERSON, "matrix-chat-1", "Hello"),
    "till": pv.till_receipt(PERSON, "R-matrix-1", [pv.TillItem("MUG", "Mug", 1, "9.50")]),
}


def _hex_rows(body: bytes) -> dict[str, Row]:
    good = sign_hex(body, CURRENT)
    digest = bytes.fromhex(good.removeprefix("sha256="))

    def refused(value: str | None, data: bytes = body, header: str = "X-Hub-Signature-256") -> Row:
        return Row(lambda: _delivery(data, {header: value} if value is not None else {}), INVALID)

    def signed(value: str, expected: Outcome, secrets: Sequence[SecretStr] = SECRETS) -> Row:
        return Row(lambda: _delivery(body, {"X-Hub-Signature-256": value}), expected, secrets)

    return {
        "current secret": signed(good, 0),
        "previous secret during rotation": signed(sign_hex(body, PREVIOUS), 1),
        "upper-case hex": signed("sha256=" + digest.hex().upper(), 0),
        "previous secret once rotation ended": signed(sign_hex(body, PREVIOUS), INVALID, AFTER_ROTATION),
        "missing header": refused(None),
        "empty header": refused(""),
        "wrong secret": refused(sign_hex(body, WRONG)),
        "one byte of the body changed": refused(good, _changed(body)),
        "body with a trailing newline": refused(good, body + b"\n"),
        "truncated signature": refused(good[:-2]),
        "base64 instead of hex": refused("sha256=" + _b64(digest)),
        "no sha256= prefix": refused(good.removeprefix("sha256=")),
        "sha1 scheme (Meta's legacy header)": refused(
            "sha1=" + hmac.new(CURRENT.encode(), body, hashlib.sha1).hexdigest()
        ),
        "signature in the legacy header": refused(good, header="X-Hub-Signature"),
        "signature of the empty body": refused(sign_hex(b"", CURRENT)),
    }


@pytest.mark.parametrize("provider", sorted(HEX_BODIES))
@pytest.mark.parametrize("name", list(_hex_rows(b"{}")))
def test_hex_body_signatures_accept_exactly_the_valid_rows(provider: str, name: str) -> None:
    row = _hex_rows(HEX_BODIES[provider])[name]
    assert _outcome(_endpoint(provider), row) == row.expected


# --- Shopify: HMAC-SHA256 of the body, base64, in X-Shopify-Hmac-Sha256 ---------------------------

SHOPIFY_BODY = samples.shopify_order(PERSON, 987654, [("MUG", "Mug", 1, "9.50")])


def _shopify_rows() -> dict[str, Row]:
    body = SHOPIFY_BODY
    good = sign_base64(body, CURRENT)

    def row(value: str | None, expected: Outcome, data: bytes = body, **extra: Any) -> Row:
        headers = {"X-Shopify-Topic": "orders/create"} | ({"X-Shopify-Hmac-Sha256": value} if value else {})
        return Row(lambda: _delivery(data, headers), expected, **extra)

    return {
        "current secret": row(good, 0),
        "previous secret during rotation": row(sign_base64(body, PREVIOUS), 1),
        "previous secret once rotation ended": row(
            sign_base64(body, PREVIOUS), INVALID, secrets=AFTER_ROTATION
        ),
        "missing header": row(None, INVALID),
        "wrong secret": row(sign_base64(body, WRONG), INVALID),
        "one byte of the body changed": row(good, INVALID, _changed(body)),
        "truncated signature": row(good[:-4], INVALID),
        "padding dropped": row(good.rstrip("="), INVALID),
        "hex instead of base64": row(base64.b64decode(good).hex(), INVALID),
        "hex with the sha256= prefix": row(sign_hex(body, CURRENT), INVALID),
    }


@pytest.mark.parametrize("name", list(_shopify_rows()))
def test_shopify_signatures_accept_exactly_the_valid_rows(name: str) -> None:
    row = _shopify_rows()[name]
    assert _outcome(_endpoint("shopify"), row) == row.expected


# --- Square: HMAC-SHA256 of notification URL + body, base64 --------------------------------------

SQUARE_URL = "https://hub.example.com/webhooks/pos/square"
SQUARE_BODY = pv.square_payment(PERSON, "matrix-pay-1", 1000)


def _square_rows() -> dict[str, Row]:
    body, url = SQUARE_BODY, SQUARE_URL
    good = sign_square(url, body, CURRENT)

    def row(value: str | None, expected: Outcome, data: bytes = body, at: str = url, **extra: Any) -> Row:
        headers = {"x-square-hmacsha256-signature": value} if value else {}
        return Row(lambda: _delivery(data, headers, at), expected, **extra)

    return {
        "current key": row(good, 0),
        "previous key during rotation": row(sign_square(url, body, PREVIOUS), 1),
        "previous key once rotation ended": row(
            sign_square(url, body, PREVIOUS), INVALID, secrets=AFTER_ROTATION
        ),
        "missing header": row(None, INVALID),
        "wrong key": row(sign_square(url, body, WRONG), INVALID),
        "one byte of the body changed": row(good, INVALID, _changed(body)),
        "delivered to another path": row(good, INVALID, at=url.replace("/pos/", "/pos2/")),
        "delivered over plain http": row(good, INVALID, at=url.replace("https:", "http:")),
        "signed over the body only": row(sign_base64(body, CURRENT), INVALID),
        "truncated signature": row(good[:-4], INVALID),
        "hex instead of base64": row(base64.b64decode(good).hex(), INVALID),
    }


@pytest.mark.parametrize("name", list(_square_rows()))
def test_square_signatures_accept_exactly_the_valid_rows(name: str) -> None:
    row = _square_rows()[name]
    assert _outcome(_endpoint("square"), row) == row.expected


# --- Twilio: HMAC-SHA1 of URL + sorted form parameters, base64 ----------------------------------

TWILIO_URL = "https://hub.example.com/webhooks/voice/twilio?tenant=eu"
TWILIO_PARAMS = pv.twilio_call(PERSON, pv.call_sid("matrix-1"))


def _twilio_rows() -> dict[str, Row]:
    params, url = TWILIO_PARAMS, TWILIO_URL
    body = pv.form_body(params)
    good = sign_twilio(url, params, CURRENT)
    digest = base64.b64decode(good)

    def row(value: str | None, expected: Outcome, data: bytes = body, at: str = url, **extra: Any) -> Row:
        headers = {"X-Twilio-Signature": value} if value else {}
        return Row(lambda: _delivery(data, headers, at), expected, **extra)

    return {
        "current token": row(good, 0),
        "previous token during rotation": row(sign_twilio(url, params, PREVIOUS), 1),
        "previous token once rotation ended": row(
            sign_twilio(url, params, PREVIOUS), INVALID, secrets=AFTER_ROTATION
        ),
        "parameters in another order": row(good, 0, pv.form_body(list(reversed(params)))),
        "explicit default port": row(good, 0, at=url.replace(".com/", ".com:443/")),
        "missing header": row(None, INVALID),
        "wrong token": row(sign_twilio(url, params, WRONG), INVALID),
        "one parameter value changed": row(
            good, INVALID, body.replace(b"CallDuration=95", b"CallDuration=96")
        ),
        "parameter added": row(good, INVALID, body + b"&Extra=1"),
        "query changed": row(good, INVALID, at=url.replace("eu", "us")),
        "other port": row(good, INVALID, at=url.replace(".com/", ".com:8443/")),
        "truncated signature": row(good[:-4], INVALID),
        "hex instead of base64": row(digest.hex(), INVALID),
        "sha256 instead of sha1": row(sign_base64(body, CURRENT), INVALID),
    }


@pytest.mark.parametrize("name", list(_twilio_rows()))
def test_twilio_signatures_accept_exactly_the_valid_rows(name: str) -> None:
    row = _twilio_rows()[name]
    assert _outcome(_endpoint("twilio"), row) == row.expected


# --- Mailgun: HMAC-SHA256 of timestamp + token, hex, in form fields; a timestamp window ---------

MAILGUN_FIELDS = mail.mailgun_fields(PERSON, "<matrix-mg@mail.example.com>", "Question", "Hello")
TOKEN = "c2f3e0a5b4d19f8e7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e"


def _mailgun(
    *,
    age_s: int = 0,
    stamp: str | None = None,
    key: str = CURRENT,
    signature: Callable[[str], str] = str,
    sent_token: str = TOKEN,
    omit: str | None = None,
    subject: str = "Question",
) -> Delivery:
    """A Mailgun post signed now (minus ``age_s``) with ``key``, then changed as the row says."""
    timestamp = str(int(time.time()) - age_s) if stamp is None else stamp
    signed = {
        "timestamp": timestamp,
        "token": sent_token,
        "signature": signature(mail.mailgun_signature(timestamp, TOKEN, key)),
    }
    fields = [(name, subject if name == "subject" else value) for name, value in MAILGUN_FIELDS]
    fields += [(name, value) for name, value in signed.items() if name != omit]
    body, content_type = mail.encode_form(fields, [])
    return _delivery(body, {"Content-Type": content_type})


def _mailgun_rows() -> dict[str, Row]:
    def row(expected: Outcome, secrets: Sequence[SecretStr] = SECRETS, **change: Any) -> Row:
        return Row(lambda: _mailgun(**change), expected, secrets)

    return {
        "current key": row(0),
        "previous key during rotation": row(1, key=PREVIOUS),
        "previous key once rotation ended": row(INVALID, AFTER_ROTATION, key=PREVIOUS),
        "upper-case hex": row(0, signature=str.upper),
        "timestamp a minute inside the window": row(0, age_s=WINDOW_S - 60),
        # Mailgun signs timestamp + token, not the message: a changed message still verifies.
        "message changed (Mailgun does not sign it)": row(0, subject="Changed"),
        "missing signature field": row(INVALID, omit="signature"),
        "missing token field": row(INVALID, omit="token"),
        "missing timestamp field": row(INVALID, omit="timestamp"),
        "wrong key": row(INVALID, key=WRONG),
        "token one byte changed": row(INVALID, sent_token=_changed(TOKEN.encode()).decode()),
        "truncated signature": row(INVALID, signature=lambda s: s[:-2]),
        "base64 instead of hex": row(INVALID, signature=lambda s: _b64(bytes.fromhex(s))),
        "timestamp not whole seconds": row(INVALID, stamp=f"{int(time.time())}.5"),
        "stale timestamp (an hour old)": row(STALE, age_s=HOUR),
        "future timestamp (an hour ahead)": row(STALE, age_s=-HOUR),
    }


@pytest.mark.parametrize("name", list(_mailgun_rows()))
def test_mailgun_signatures_accept_exactly_the_valid_rows(name: str) -> None:
    row = _mailgun_rows()[name]
    assert _outcome(_endpoint("mailgun"), row) == row.expected


# --- Standard Webhooks (our generic endpoint): id.timestamp.body, v1 base64; a timestamp window ---

WH_CURRENT = "whsec_" + _b64(b"current-standard-webhooks-key-32")
WH_PREVIOUS = "whsec_" + _b64(b"previous-standard-webhooks-key-3")
WH_WRONG = "whsec_" + _b64(b"someone-elses-standard-webhooks!")
WH_SECRETS = (SecretStr(WH_CURRENT), SecretStr(WH_PREVIOUS))
GENERIC_BODY = mail.generic_message(PERSON, "matrix-generic-1", "Hello")


def _standard(
    *,
    age_s: int = 0,
    key: str = WH_CURRENT,
    signature: Callable[[str], str] = str,
    body: bytes = GENERIC_BODY,
    sent_id: str = "msg_matrix_1",
    omit: str | None = None,
) -> Delivery:
    stamp = int(time.time()) - age_s
    headers = {
        "webhook-id": sent_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": signature(sign_standard_webhook("msg_matrix_1", stamp, GENERIC_BODY, key)),
    }
    return Delivery(
        body,
        Headers({name: value for name, value in headers.items() if name != omit}),
        "https://hub.example.com/webhooks/generic/chat",
        {"channel": "chat"},
    )


def _standard_rows() -> dict[str, Row]:
    def row(expected: Outcome, secrets: Sequence[SecretStr] = WH_SECRETS, **change: Any) -> Row:
        return Row(lambda: _standard(**change), expected, secrets)

    other = "v1," + _b64(b"x" * 32)
    return {
        "current secret": row(0),
        "previous secret during rotation": row(1, key=WH_PREVIOUS),
        "previous secret once rotation ended": row(INVALID, WH_SECRETS[:1], key=WH_PREVIOUS),
        "one of several signatures": row(0, signature=lambda s: f"{other} {s}"),
        "an unknown version beside v1": row(0, signature=lambda s: f"v2,abc {s}"),
        "timestamp a minute inside the window": row(0, age_s=WINDOW_S - 60),
        "missing webhook-id": row(INVALID, omit="webhook-id"),
        "missing webhook-timestamp": row(INVALID, omit="webhook-timestamp"),
        "missing webhook-signature": row(INVALID, omit="webhook-signature"),
        "wrong secret": row(INVALID, key=WH_WRONG),
        "one byte of the body changed": row(INVALID, body=_changed(GENERIC_BODY)),
        "webhook-id changed": row(INVALID, sent_id="msg_matrix_2"),
        "truncated signature": row(INVALID, signature=lambda s: s[:-4]),
        "hex instead of base64": row(INVALID, signature=lambda s: "v1," + base64.b64decode(s[3:]).hex()),
        "no v1 entry": row(INVALID, signature=lambda s: "v2," + s[3:]),
        "stale timestamp (an hour old)": row(STALE, age_s=HOUR),
        "future timestamp (an hour ahead)": row(STALE, age_s=-HOUR),
    }


@pytest.mark.parametrize("name", list(_standard_rows()))
def test_standard_webhooks_signatures_accept_exactly_the_valid_rows(name: str) -> None:
    row = _standard_rows()[name]
    assert _outcome(_endpoint("generic"), row) == row.expected


# --- Telegram: the setWebhook secret_token echoed in a header -------------------------------------

TELEGRAM_BODY = social.telegram_message(FRIEND, 1, 1, "Hello")
TELEGRAM_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def _telegram_rows() -> dict[str, Row]:
    def row(headers: dict[str, str], expected: Outcome, secrets: Sequence[SecretStr] = SECRETS) -> Row:
        return Row(lambda: _delivery(TELEGRAM_BODY, headers), expected, secrets)

    return {
        "current secret": row({TELEGRAM_HEADER: CURRENT}, 0),
        "previous secret during rotation": row({TELEGRAM_HEADER.lower(): PREVIOUS}, 1),
        "previous secret once rotation ended": row({TELEGRAM_HEADER: PREVIOUS}, INVALID, AFTER_ROTATION),
        "missing header": row({}, INVALID),
        "empty header": row({TELEGRAM_HEADER: ""}, INVALID),
        "wrong secret": row({TELEGRAM_HEADER: WRONG}, INVALID),
        "one byte of the secret changed": row(
            {TELEGRAM_HEADER: _changed(CURRENT.encode()).decode()}, INVALID
        ),
        "truncated secret": row({TELEGRAM_HEADER: CURRENT[:-1]}, INVALID),
        "secret with something appended": row({TELEGRAM_HEADER: CURRENT + "x"}, INVALID),
        "secret in another header": row({"X-Hub-Signature-256": CURRENT}, INVALID),
        "an HMAC of the body instead": row({TELEGRAM_HEADER: sign_hex(TELEGRAM_BODY, CURRENT)}, INVALID),
    }


@pytest.mark.parametrize("name", list(_telegram_rows()))
def test_telegram_secret_tokens_accept_exactly_the_valid_rows(name: str) -> None:
    row = _telegram_rows()[name]
    assert _outcome(_endpoint("telegram"), row) == row.expected


# --- VK: the Callback API secret key in the body's "secret" field ---------------------------------


def _vk_body(secret: object = CURRENT, *, drop: bool = False) -> bytes:
    document = json.loads(social.vk_message_new(FRIEND, CURRENT, 1, "Hello", event_id="matrix-vk-1"))
    document.pop("secret")
    if not drop:
        document["secret"] = secret
    return json.dumps(document).encode()


def _vk_rows() -> dict[str, Row]:
    def row(body: bytes, expected: Outcome, secrets: Sequence[SecretStr] = SECRETS) -> Row:
        return Row(lambda: _delivery(body, {"Content-Type": "application/json"}), expected, secrets)

    forged_first = _vk_body(CURRENT).replace(b"{", b'{"secret": "forged", ', 1)
    return {
        "current secret": row(_vk_body(CURRENT), 0),
        "previous secret during rotation": row(_vk_body(PREVIOUS), 1),
        "previous secret once rotation ended": row(_vk_body(PREVIOUS), INVALID, AFTER_ROTATION),
        "missing secret field": row(_vk_body(drop=True), INVALID),
        "null secret": row(_vk_body(None), INVALID),
        "numeric secret": row(_vk_body(12345), INVALID),
        "wrong secret": row(_vk_body(WRONG), INVALID),
        "one byte of the secret changed": row(_vk_body(_changed(CURRENT.encode()).decode()), INVALID),
        "truncated secret": row(_vk_body(CURRENT[:-1]), INVALID),
        "two secret fields, the real one last": row(forged_first, INVALID),
        "body not JSON": row(_vk_body(CURRENT)[:-1], INVALID),
        "notification inside an array": row(b"[" + _vk_body(CURRENT) + b"]", INVALID),
    }


@pytest.mark.parametrize("name", list(_vk_rows()))
def test_vk_secrets_accept_exactly_the_valid_rows(name: str) -> None:
    row = _vk_rows()[name]
    assert _outcome(_endpoint("vk"), row) == row.expected


# --- SendGrid: a shared secret as basic-auth password, bearer token or ?key= -----------------------

SENDGRID_BODY, SENDGRID_TYPE = mail.sendgrid_parsed(PERSON, "<matrix-sg@mail.example.com>", "Q", "Hello")
SENDGRID_URL = "https://hub.example.com/webhooks/email/sendgrid"


def _basic(user: str, password: str) -> str:
    return "Basic " + _b64(f"{user}:{password}".encode())


def _sendgrid_rows() -> dict[str, Row]:
    def row(
        headers: dict[str, str], query: str, expected: Outcome, secrets: Sequence[SecretStr] = SECRETS
    ) -> Row:
        all_headers = {"Content-Type": SENDGRID_TYPE, **headers}
        return Row(lambda: _delivery(SENDGRID_BODY, all_headers, SENDGRID_URL + query), expected, secrets)

    return {
        "basic-auth password, current secret": row({"Authorization": _basic("sendgrid", CURRENT)}, "", 0),
        "basic-auth password, previous secret": row({"Authorization": _basic("any", PREVIOUS)}, "", 1),
        "bearer, current secret": row({"Authorization": f"Bearer {CURRENT}"}, "", 0),
        "bearer, previous secret": row({"Authorization": f"Bearer {PREVIOUS}"}, "", 1),
        "key parameter, current secret": row({}, f"?key={CURRENT}", 0),
        "previous secret once rotation ended": row(
            {"Authorization": f"Bearer {PREVIOUS}"}, "", INVALID, AFTER_ROTATION
        ),
        "no credentials": row({}, "", INVALID),
        "wrong password": row({"Authorization": _basic("sendgrid", WRONG)}, "", INVALID),
        "one byte of the secret changed": row(
            {"Authorization": f"Bearer {_changed(CURRENT.encode()).decode()}"}, "", INVALID
        ),
        "truncated key parameter": row({}, f"?key={CURRENT[:-1]}", INVALID),
        "secret as the user name": row({"Authorization": _basic(CURRENT, "")}, "", INVALID),
        "basic credentials not base64": row({"Authorization": "Basic %%%"}, "", INVALID),
        "an unknown scheme": row({"Authorization": f"Token {CURRENT}"}, "", INVALID),
        "key parameter twice": row({}, f"?key={CURRENT}&key={WRONG}", INVALID),
        "a wrong header beats a right key": row(
            {"Authorization": f"Bearer {WRONG}"}, f"?key={CURRENT}", INVALID
        ),
    }


@pytest.mark.parametrize("name", list(_sendgrid_rows()))
def test_sendgrid_credentials_accept_exactly_the_valid_rows(name: str) -> None:
    row = _sendgrid_rows()[name]
    assert _outcome(_endpoint("sendgrid"), row) == row.expected


# --- every endpoint has a matrix ------------------------------------------------------------------

COVERED = {*HEX_BODIES, "shopify", "square", "twilio", "mailgun", "generic", "telegram", "vk", "sendgrid"}


def test_every_endpoint_has_a_signature_matrix() -> None:
    assert {endpoint.provider for endpoint in ENDPOINTS} == COVERED


def test_every_matrix_accepts_the_previous_secret_with_index_1_and_refuses_it_after_rotation() -> None:
    tables = [
        *(_hex_rows(body) for body in HEX_BODIES.values()),
        _shopify_rows(),
        _square_rows(),
        _twilio_rows(),
        _mailgun_rows(),
        _standard_rows(),
        _telegram_rows(),
        _vk_rows(),
        _sendgrid_rows(),
    ]
    for rows in tables:
        assert 1 in {row.expected for row in rows.values()}
        assert any("rotation ended" in name and row.expected == INVALID for name, row in rows.items())
