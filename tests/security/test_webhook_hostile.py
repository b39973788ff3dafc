"""Hostile bodies at every webhook endpoint: a 4xx with the JSON error shape, never a 5xx, nothing published.

Every body is signed as the endpoint's provider signs (see :mod:`tests.support.signed_webhooks`), so
it reaches parsing and translation instead of stopping at the signature check; where the scheme
signs the body, the test also proves the answer is not a signature failure. The ingress runs in this
process with its real Kafka producer, publishing to a topic made for this module, and every test
checks that the topic did not grow while it ran.

Errors are JSON for every provider, VK included: VK's plain-text ``ok`` answers only 2xx.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest

from hub.local_secrets import LocalSecrets
from hub.stack import Infra
from services.ingress.endpoints import ENDPOINTS
from services.ingress.settings import IngressSettings
from tests.support.signed_webhooks import (
    URLENCODED,
    Carrier,
    Ingress,
    SignedRequest,
    carriers,
    fresh_topics,
    ingress_settings,
    is_error_shape,
    running_ingress,
)

pytestmark = [pytest.mark.security, pytest.mark.integration]

DEPTH = 100_000
LIMIT: int = IngressSettings.model_fields["max_body_bytes"].default
PROVIDERS = sorted({endpoint.provider for endpoint in ENDPOINTS})
JSON_PROVIDERS = ["generic", "meta_whatsapp", "shopify", "square", "telegram", "till", "vk", "widget"]
FORM_PROVIDERS = ["mailgun", "sendgrid", "twilio"]

#: Carriers with throwaway secrets, to see at collection which cases apply to which endpoint.
_SAMPLE_SECRETS = LocalSecrets.generate()
_SAMPLES = carriers(_SAMPLE_SECRETS)
_SAMPLE_SETTINGS = ingress_settings(_SAMPLE_SECRETS, "unused:9092", fresh_topics(), Path("unused"))


@pytest.fixture(scope="module")
async def ingress(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Ingress]:
    async with running_ingress(infra.kafka_bootstrap, tmp_path_factory.mktemp("blobs")) as running:
        yield running


async def _assert_refused(ingress: Ingress, request: SignedRequest) -> httpx.Response:
    """A 4xx in the hub's error shape, past the signature check when the scheme signs the body."""
    answer = await ingress.send(request)
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:300])
    assert is_error_shape(answer), answer.text[:300]
    if request.verifiable:
        assert answer.status_code != 401, answer.json()
    return answer


@asynccontextmanager
async def _publishing_nothing(ingress: Ingress) -> AsyncIterator[None]:
    """Fails when the topic grew meanwhile (a 2xx is sent only after Kafka acknowledged)."""
    before = await ingress.published()
    yield
    assert await ingress.published() == before, "the requests published to Kafka"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_carrier_signs_its_valid_sample_so_the_current_secret_verifies_it(provider: str) -> None:
    # Without this, a carrier that signs wrongly would turn every hostile case into a mere 401.
    carrier = _SAMPLES[provider]
    request = carrier.sample()
    delivery = request.delivery()
    secrets = carrier.endpoint.secrets(_SAMPLE_SETTINGS)

    assert carrier.endpoint.configured(_SAMPLE_SETTINGS).verify(delivery, secrets) == 0
    assert carrier.endpoint.translator_for(delivery)(
        request.body, received_at=datetime.now(UTC), correlation_id="c", default_region="US"
    )


# --- bodies made from each endpoint's sample -----------------------------------------------------


def _json(document: Any) -> bytes:
    return json.dumps(document).encode()


def _map_leaves(document: Any, change: Callable[[Any], Any]) -> Any:
    """``document`` with every scalar passed through ``change`` (objects and arrays rebuilt)."""
    if isinstance(document, dict):
        return {key: _map_leaves(value, change) for key, value in document.items()}
    if isinstance(document, list):
        return [_map_leaves(value, change) for value in document]
    return change(document)


def _objects_to_strings(document: Any) -> Any:
    """Every nested object and array (below the top level) replaced by a string."""
    if not isinstance(document, dict):
        return document
    return {key: "x" if isinstance(value, dict | list) else value for key, value in document.items()}


def _strings_to_objects(document: Any) -> Any:
    return _map_leaves(document, lambda leaf: {"value": leaf} if isinstance(leaf, str) else leaf)


def _numbers_huge(document: Any) -> Any:
    def huge(leaf: Any) -> Any:
        return 10**400 if isinstance(leaf, int) and not isinstance(leaf, bool) else leaf

    return _map_leaves(document, huge)


def _numbers_to_strings(document: Any) -> Any:
    def text(leaf: Any) -> Any:
        return f"n{leaf}" if isinstance(leaf, int | float) and not isinstance(leaf, bool) else leaf

    return _map_leaves(document, text)


#: Keys whose string names the event type or state, which decide whether the delivery is an
#: interaction at all: an unknown type (or a payment not COMPLETED) is acknowledged and ignored by
#: design, since providers retry anything else. So they keep their value.
TYPE_KEYS = frozenset({"type", "object", "field", "messaging_product", "status"})


def _in_every_string(document: Any, suffix: str) -> Any:
    """Every string value but the event-type names gets ``suffix`` (JSON escapes it as needed)."""
    if isinstance(document, dict):
        return {
            key: value if key in TYPE_KEYS and isinstance(value, str) else _in_every_string(value, suffix)
            for key, value in document.items()
        }
    if isinstance(document, list):
        return [_in_every_string(value, suffix) for value in document]
    return document + suffix if isinstance(document, str) else document


def _encoded(carrier: Carrier, text: str) -> bytes:
    """``text`` as the sample's body writes it (JSON-escaped, form-encoded or as is)."""
    if carrier.sample_json is not None:
        encoded = json.dumps(text)[1:-1].encode()
    elif carrier.content_type == URLENCODED:
        encoded = quote_plus(text).encode()
    else:
        encoded = text.encode()
    assert encoded in carrier.sample_body, f"{carrier.provider}'s sample does not contain {text!r}"
    return encoded


def _inject(carrier: Carrier, raw: bytes, text: str | None = None) -> bytes:
    """The sample with ``raw`` inserted into the middle of ``text`` (the carrier's marker unless
    given) wherever it appears: into content the translator must read and carry into the event."""
    marker = _encoded(carrier, carrier.marker if text is None else text)
    middle = len(marker) // 2
    return carrier.sample_body.replace(marker, marker[:middle] + raw + marker[middle:])


class NotApplicable(Exception):
    """The case makes no sense for this sample (it has no sender name, no numbers...)."""


def _sender_name(carrier: Carrier) -> str:
    if carrier.sender_name is None:
        raise NotApplicable
    return carrier.sender_name


def _deep_inside_sample(carrier: Carrier) -> bytes:
    document = carrier.sample_json if isinstance(carrier.sample_json, dict) else {}
    prefix = _json(document)[:-1] + (b", " if document else b"")
    return prefix + b'"deep": ' + b"[" * DEPTH + b"]" * DEPTH + b"}"


BodyCase = Callable[[Carrier], bytes]

#: Hostile bodies for every endpoint, built from its sample where the case needs one.
BODY_CASES: dict[str, BodyCase] = {
    "trailing comma": lambda c: b'{"update_id": 1, "type": "message_new",}',
    "single quotes": lambda c: b"{'update_id': 1}",
    "NaN literal": lambda c: b'{"amount": NaN, "update_id": 1}',
    "bare garbage": lambda c: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "top-level string": lambda c: b'"message"',
    "top-level number": lambda c: b"42",
    "top-level null": lambda c: b"null",
    "top-level empty array": lambda c: b"[]",
    "deeply nested arrays": lambda c: b"[" * DEPTH + b"]" * DEPTH,
    "deeply nested unclosed arrays": lambda c: b"[" * DEPTH,
    "deeply nested objects": lambda c: b'{"a":' * DEPTH + b"1" + b"}" * DEPTH,
    "invalid UTF-8 in the message text": lambda c: _inject(c, b"\xff\xfe"),
    "overlong UTF-8 and a lone surrogate in the text": lambda c: _inject(c, b"\xc0\xaf\xed\xa0\x80"),
    "only invalid UTF-8": lambda c: b"\xff" * 64,
    "raw NUL byte in the message text": lambda c: _inject(c, b"\x00"),
    "only NUL bytes": lambda c: b"\x00" * 64,
    "empty body": lambda c: b"",
}

#: Sample mutations for the endpoints whose body is JSON: right syntax, wrong content.
JSON_CASES: dict[str, BodyCase] = {
    "truncated sample": lambda c: c.sample_body[: len(c.sample_body) // 2],
    "sample inside an array": lambda c: b"[" + c.sample_body + b"]",
    "deep nesting inside the sample": _deep_inside_sample,
    "nested objects replaced by strings": lambda c: _json(_objects_to_strings(c.sample_json)),
    "strings replaced by objects": lambda c: _json(_strings_to_objects(c.sample_json)),
    "numbers replaced by strings": lambda c: _json(_numbers_to_strings(c.sample_json)),
    "every key dropped": lambda c: b"{}",
    "NUL escaped into every string": lambda c: _json(_in_every_string(c.sample_json, "\x00")),
    "lone surrogate escaped into every string": lambda c: _json(_in_every_string(c.sample_json, "\ud800")),
    "NUL escaped into the message text": lambda c: _inject(c, b"\\u0000"),
    "NUL escaped into the sender's name": lambda c: _inject(c, b"\\u0000", _sender_name(c)),
    "lone surrogate escaped into the message text": lambda c: _inject(c, b"\\ud800"),
    "lone surrogate escaped into the sender's name": lambda c: _inject(c, b"\\udfff", _sender_name(c)),
}


#: Email arrives in the wild with bytes its charset cannot decode; refusing it would lose a
#: customer's message, so the email endpoints read such text with replacement characters (tested
#: below) instead of refusing it.
UNDECODABLE_TEXT = ("invalid UTF-8 in the message text", "overlong UTF-8 and a lone surrogate in the text")
EMAIL_PROVIDERS = ("mta", "sendgrid")


def _applies(provider: str, case: BodyCase) -> bool:
    """Whether ``case`` changes ``provider``'s sample at all (a no-op would send a valid delivery)."""
    carrier = _SAMPLES[provider]
    try:
        body = case(carrier)
    except NotApplicable:
        return False
    return body not in (carrier.sample_body, _json(carrier.sample_json))


def _cases(providers: list[str], cases: dict[str, BodyCase]) -> Iterator[Any]:
    for provider in providers:
        for name, case in cases.items():
            tolerated = provider in EMAIL_PROVIDERS and name in UNDECODABLE_TEXT
            if _applies(provider, case) and not tolerated:
                yield pytest.param(provider, name, id=f"{provider}: {name}")


@pytest.mark.parametrize(("provider", "case"), list(_cases(PROVIDERS, BODY_CASES)))
async def test_a_hostile_body_is_refused_with_a_json_4xx_and_never_published(
    ingress: Ingress, provider: str, case: str
) -> None:
    carrier = ingress.carriers[provider]
    async with _publishing_nothing(ingress):
        await _assert_refused(ingress, carrier.signed(BODY_CASES[case](carrier)))


@pytest.mark.parametrize(("provider", "case"), list(_cases(JSON_PROVIDERS, JSON_CASES)))
async def test_well_formed_json_of_the_wrong_shape_is_refused_and_never_published(
    ingress: Ingress, provider: str, case: str
) -> None:
    carrier = ingress.carriers[provider]
    async with _publishing_nothing(ingress):
        await _assert_refused(ingress, carrier.signed(JSON_CASES[case](carrier)))


async def test_huge_numbers_in_json_bodies_never_cause_a_5xx(ingress: Ingress) -> None:
    # Some numbers (Telegram's update_id, VK's group_id) are only ids: a huge one may be accepted,
    # so this asserts only the absence of server errors, not refusal.
    for provider in JSON_PROVIDERS:
        carrier = ingress.carriers[provider]
        answer = await ingress.send(carrier.signed(_json(_numbers_huge(carrier.sample_json))))
        assert answer.status_code < 500, (provider, answer.text[:300])


@pytest.mark.parametrize("provider", EMAIL_PROVIDERS)
@pytest.mark.parametrize("case", UNDECODABLE_TEXT)
async def test_an_email_with_undecodable_text_is_kept_with_replacement_characters(
    ingress: Ingress, provider: str, case: str
) -> None:
    carrier = ingress.carriers[provider]
    request = carrier.signed(BODY_CASES[case](carrier))
    [event] = carrier.endpoint.translator_for(request.delivery())(
        request.body, received_at=datetime.now(UTC), correlation_id="c", default_region="US"
    )

    assert "\ufffd" in event.summary
    assert (await ingress.send(request)).status_code == 200


# --- forms: hostile field values in correctly signed forms ---------------------------------------


def _replace(fields: Any, name: str, value: str | bytes) -> list[tuple[str, str | bytes]]:
    replaced = [(n, value if n == name else v) for n, v in fields]
    assert any(n == name for n, _ in fields), f"the sample form has no field {name}"
    return replaced


def _without(fields: Any, *names: str) -> list[tuple[str, str | bytes]]:
    return [(n, v) for n, v in fields if n not in names]


FormCase = Callable[[Carrier], list[tuple[str, str | bytes]]]
DEEP_JSON = "[" * DEPTH + "]" * DEPTH

FORM_CASES: dict[str, dict[str, FormCase]] = {
    "mailgun": {
        "message-headers malformed JSON": lambda c: _replace(c.sample_form, "message-headers", '[["From", '),
        "message-headers an object": lambda c: _replace(
            c.sample_form, "message-headers", '{"From": "a@b.c"}'
        ),
        "message-headers a string": lambda c: _replace(c.sample_form, "message-headers", '"From: a@b.c"'),
        "message-headers deeply nested": lambda c: _replace(c.sample_form, "message-headers", DEEP_JSON),
        "message-headers with NUL in From": lambda c: _replace(
            c.sample_form, "message-headers", json.dumps([["From", "Ada <ada\x00@example.com>"]])
        ),
        "NUL in the text": lambda c: _replace(c.sample_form, "stripped-text", "Hello\x00there"),
        "attachment-count not a number": lambda c: _replace(c.sample_form, "attachment-count", "two"),
        "attachment-count a superscript digit": lambda c: _replace(
            c.sample_form, "attachment-count", "\u00b2"
        ),
        "attachment-count without files": lambda c: _replace(c.sample_form, "attachment-count", "3"),
        "attachments deeply nested": lambda c: [*c.sample_form, ("attachments", DEEP_JSON)],
        "attachments of the wrong type": lambda c: [*c.sample_form, ("attachments", '[{"size": "big"}]')],
        "no headers at all": lambda c: _without(
            c.sample_form, "message-headers", "from", "From", "sender", "Message-Id"
        ),
    },
    "sendgrid": {
        "charsets malformed JSON": lambda c: _replace(c.sample_form, "charsets", '{"text": '),
        "charsets an array": lambda c: _replace(c.sample_form, "charsets", '["utf-8"]'),
        "charsets deeply nested": lambda c: _replace(c.sample_form, "charsets", DEEP_JSON),
        "attachment-info deeply nested": lambda c: _replace(c.sample_form, "attachment-info", DEEP_JSON),
        "attachment-info of the wrong type": lambda c: _replace(c.sample_form, "attachment-info", '{"a": 1}'),
        "attachments not a number": lambda c: _replace(c.sample_form, "attachments", "several"),
        "attachments a superscript digit": lambda c: _replace(c.sample_form, "attachments", "\u00b2"),
        "NUL in the From header": lambda c: _replace(
            c.sample_form, "headers", "From: Ada <ada\x00@example.com>\nMessage-ID: <n@x>\n"
        ),
        "NUL in the text": lambda c: _replace(c.sample_form, "text", b"Hello\x00there"),
        "no headers": lambda c: _without(c.sample_form, "headers"),
        "raw mode with garbage": lambda c: [("email", b"\xff\xfe\x00 not a message")],
    },
    "twilio": {
        "CallDuration not a number": lambda c: _replace(c.sample_form, "CallDuration", "ninety"),
        "CallDuration negative": lambda c: _replace(c.sample_form, "CallDuration", "-5"),
        "CallDuration with 5000 digits": lambda c: _replace(c.sample_form, "CallDuration", "9" * 5000),
        "Direction unknown": lambda c: _replace(c.sample_form, "Direction", "sideways"),
        "CallDuration a superscript digit": lambda c: _replace(c.sample_form, "CallDuration", "\u00b2"),
        "NUL in CallSid": lambda c: _replace(c.sample_form, "CallSid", "CA\x00123"),
        "no CallSid": lambda c: _without(c.sample_form, "CallSid"),
        "no parameters": lambda c: [],
    },
}


def _form_cases() -> Iterator[Any]:
    for provider, cases in FORM_CASES.items():
        for name in cases:
            yield pytest.param(provider, name, id=f"{provider}: {name}")


@pytest.mark.parametrize(("provider", "case"), list(_form_cases()))
async def test_a_signed_form_with_hostile_fields_is_refused_and_never_published(
    ingress: Ingress, provider: str, case: str
) -> None:
    carrier = ingress.carriers[provider]
    async with _publishing_nothing(ingress):
        await _assert_refused(ingress, carrier.signed_form(FORM_CASES[provider][case](carrier)))


def test_every_form_endpoint_has_hostile_form_cases() -> None:
    assert sorted(FORM_CASES) == FORM_PROVIDERS
    assert sorted(JSON_PROVIDERS + FORM_PROVIDERS + ["mta"]) == PROVIDERS


# --- size ----------------------------------------------------------------------------------------


def _padded(carrier: Carrier, size: int) -> SignedRequest:
    """A signed request whose body is exactly ``size`` bytes once signed (JSON whitespace padding)."""
    request = carrier.signed(b"{" + b" " * (size - 2) + b"}")
    excess = len(request.body) - size  # VK's secret and Mailgun's signature fields take room
    if excess:
        request = carrier.signed(b"{" + b" " * (size - 2 - excess) + b"}")
    assert len(request.body) == size, (carrier.provider, len(request.body))
    return request


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_body_of_one_mib_and_one_byte_is_refused_with_413_and_never_published(
    ingress: Ingress, provider: str
) -> None:
    async with _publishing_nothing(ingress):
        answer = await _assert_refused(ingress, _padded(ingress.carriers[provider], LIMIT + 1))
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "body_too_large"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_an_oversized_body_without_content_length_is_refused_while_streaming(
    ingress: Ingress, provider: str
) -> None:
    request = _padded(ingress.carriers[provider], LIMIT + 1)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(request.body), 64 * 1024):
            yield request.body[start : start + 64 * 1024]

    async with _publishing_nothing(ingress):
        answer = await ingress.client.post(request.path, content=chunks(), headers=dict(request.headers))

    assert "content-length" not in answer.request.headers
    assert answer.status_code == 413
    assert is_error_shape(answer)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_body_of_exactly_one_mib_is_not_refused_for_its_size(ingress: Ingress, provider: str) -> None:
    async with _publishing_nothing(ingress):
        answer = await _assert_refused(ingress, _padded(ingress.carriers[provider], LIMIT))
    assert answer.status_code != 413
