"""Property: whatever correctly signed body an endpoint receives, it never answers 5xx.

For every endpoint, Hypothesis draws random bytes, random JSON (``st.recursive``) and mutations of the
endpoint's valid sample (keys dropped, values swapped for other types, huge numbers, Unicode edge
cases; form fields dropped, duplicated or replaced), signs each as the provider would
(:mod:`tests.support.signed_webhooks`) and sends it to the in-process ingress, whose producer
publishes to a topic made for this module. A 4xx must carry the hub's JSON error shape; a 2xx is
allowed (a mutation can leave a valid delivery). Runs are derandomized and keep no example database,
so CI sees the same examples every time.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from hub.local_secrets import LocalSecrets
from hub.stack import Infra
from services.ingress.endpoints import ENDPOINTS
from tests.support.signed_webhooks import (
    Carrier,
    FormFields,
    Ingress,
    carriers,
    is_error_shape,
    running_ingress,
)

pytestmark = [pytest.mark.security, pytest.mark.integration]

PROVIDERS = sorted({endpoint.provider for endpoint in ENDPOINTS})
#: The samples (secrets do not change them), to build each endpoint's strategies at collection.
SAMPLES = carriers(LocalSecrets.generate())

FUZZ = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
async def ingress(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Ingress]:
    async with running_ingress(infra.kafka_bootstrap, tmp_path_factory.mktemp("blobs")) as running:
        yield running


# --- what gets drawn ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Body:
    """A raw body, sent with the carrier's content type unless one is given."""

    data: bytes
    content_type: str | None = None


@dataclass(frozen=True)
class Form:
    """Form fields, encoded and signed the way the endpoint's provider does."""

    fields: FormFields


EDGE_TEXT = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "a\x00b",
        "\ud800",  # a lone surrogate: valid as a JSON escape, not encodable as UTF-8
        "\udfff\ud800",
        "\ufeff",
        "\uffff",
        "\U0010ffff",
        "\u202egnp.exe",
        "🙂" * 50,
        "²",
        "١٢٣",
        "\U0001d7d7\U0001d7d7",  # mathematical bold nines: digits to str.isdigit(), not to int()
        "\r\n\r\n",
        "x" * 5000,
        "9" * 5000,
        "NaN",
        "-1",
        "null",
    ]
)
HUGE_NUMBERS = st.sampled_from(
    [10**400, -(10**400), 2**63, -(2**63) - 1, 1e308, -1e308, 5e-324, float("inf")]
)
SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30) | EDGE_TEXT | HUGE_NUMBERS
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "multipart/form-data; boundary=xyz",
        "message/rfc822",
        "text/plain; charset=utf-7",
        "",
    ]
)


def _encode(document: Any, ascii_only: bool) -> bytes:
    # surrogatepass: a lone surrogate becomes the (invalid) UTF-8 bytes a sloppy sender would write
    return json.dumps(document, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def _paths(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into ``document`` (keys and indexes), the root included."""
    found = [prefix]
    if isinstance(document, dict):
        for key, value in document.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += _paths(value, (*prefix, index))
    return found


def _mutated(document: Any, path: tuple[Any, ...], value: Any, *, drop: bool) -> Any:
    """A copy of ``document`` with the value at ``path`` replaced by ``value`` (or removed)."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(document, dict):
        copy = dict(document)
        if drop and not rest:
            copy.pop(head, None)
        else:
            copy[head] = _mutated(document[head], rest, value, drop=drop)
        return copy
    items = list(document)
    if drop and not rest:
        del items[head]
    else:
        items[head] = _mutated(items[head], rest, value, drop=drop)
    return items


@st.composite
def json_mutations(draw: st.DrawFn, sample: Any) -> Body:
    """The sample with one to three values dropped or swapped for other types and edge cases."""
    document = sample
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(document)
        path = draw(st.sampled_from(paths[1:] or paths))
        drop = bool(path) and draw(st.booleans())
        document = _mutated(document, path, None if drop else draw(JSON_VALUES), drop=drop)
    return Body(_encode(document, draw(st.booleans())))


def _as_bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")


@st.composite
def form_mutations(draw: st.DrawFn, sample: FormFields) -> Form:
    """The sample's fields with one to three dropped, duplicated, replaced or added."""
    fields = list(sample)
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["drop", "duplicate", "replace", "add"]))
        index = draw(st.integers(0, max(len(fields) - 1, 0)))
        if action == "add" or not fields:
            fields.append((draw(st.text(min_size=1, max_size=12)), draw(EDGE_TEXT | st.text(max_size=40))))
        elif action == "drop":
            del fields[index]
        elif action == "duplicate":
            fields.append(fields[index])
        else:
            value = draw(
                EDGE_TEXT | st.text(max_size=40) | JSON_VALUES.map(lambda v: _encode(v, False).decode())
            )
            fields[index] = (fields[index][0], value)
    return Form(
        [(name.encode("utf-8", "surrogatepass").decode("latin-1"), _as_bytes(v)) for name, v in fields]
    )


@st.composite
def byte_splices(draw: st.DrawFn, sample: bytes) -> Body:
    """The sample with a random slice replaced by random bytes."""
    start = draw(st.integers(0, len(sample)))
    length = draw(st.integers(0, 64))
    return Body(sample[:start] + draw(st.binary(max_size=64)) + sample[start + length :])


def bodies(carrier: Carrier) -> st.SearchStrategy[Body | Form]:
    """What the fuzzer sends to ``carrier``'s endpoint."""
    options: list[st.SearchStrategy[Body | Form]] = [
        st.builds(Body, st.binary(max_size=2048), st.none() | CONTENT_TYPES),
        st.builds(lambda doc, ascii_only: Body(_encode(doc, ascii_only)), JSON_VALUES, st.booleans()),
        byte_splices(carrier.sample_body),
    ]
    if carrier.sample_json is not None:
        options.append(json_mutations(carrier.sample_json))
    if carrier.sign_form is not None:
        options.append(form_mutations(carrier.sample_form))
    return st.one_of(options)


# --- the property -----------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
@FUZZ
@given(data=st.data())
async def test_no_signed_body_makes_an_endpoint_answer_5xx_and_every_4xx_is_a_json_error(
    ingress: Ingress, provider: str, data: st.DataObject
) -> None:
    carrier = ingress.carriers[provider]
    drawn = data.draw(bodies(SAMPLES[provider]), label="body")
    request = (
        carrier.signed_form(drawn.fields)
        if isinstance(drawn, Form)
        else carrier.signed(drawn.data, drawn.content_type)
    )

    answer = await ingress.send(request)
    event(f"{answer.status_code} {answer.json()['error']['code'] if answer.status_code >= 400 else ''}")

    assert answer.status_code < 500, answer.text[:300]
    if answer.status_code >= 400:
        assert is_error_shape(answer), answer.text[:300]
