"""The form reader of the email webhooks (Mailgun, SendGrid) and the email header memo.

The multipart reader is python-multipart's parser; before it, the standard library's ``email`` parser
read forms (correct, but most of a SendGrid webhook's CPU). The property test keeps that parser as
the reference: for every well-formed form the two read the same fields, files and bytes.
"""

from __future__ import annotations

from email import policy
from email.message import Message
from email.parser import BytesParser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub import samples
from services.ingress.errors import InvalidPayload
from services.ingress.translate import _headers, email_mta
from services.ingress.translate._form import Form, parse_form

pytestmark = pytest.mark.unit

BOUNDARY = "b0undary-7f3c"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def _part(headers: str, data: bytes) -> bytes:
    return f"--{BOUNDARY}\r\n{headers}\r\n\r\n".encode() + data + b"\r\n"


def _form(*parts: bytes, close: bytes = f"--{BOUNDARY}--\r\n".encode()) -> bytes:
    return b"".join(parts) + close


def _field(name: str, data: bytes) -> bytes:
    return _part(f'Content-Disposition: form-data; name="{name}"', data)


def _reference(content_type: str, body: bytes) -> tuple[dict[str, bytes], dict[str, tuple[str, str, bytes]]]:
    """The form as the standard library's MIME parser reads it (the reader used before)."""
    document = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode() + body
    message = BytesParser(policy=policy.HTTP).parsebytes(document)
    assert not message.defects
    fields: dict[str, bytes] = {}
    files: dict[str, tuple[str, str, bytes]] = {}
    for part in message.get_payload():
        assert isinstance(part, Message)
        name = part.get_param("name", header="content-disposition")
        assert isinstance(name, str)
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is None:
            fields[name] = data
        else:
            files[name] = (filename, part.get_content_type(), data)
    return fields, files


def _read(form: Form) -> tuple[dict[str, bytes], dict[str, tuple[str, str, bytes]]]:
    files = {name: (f.filename, f.content_type, f.data) for name, f in form.files.items()}
    return dict(form.fields), files


# Field values may hold any bytes but a line that starts with the boundary (which no sender writes).
_VALUES = st.binary(max_size=300).filter(lambda data: BOUNDARY.encode() not in data)
_NAMES = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=20)
_FILENAMES = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_. ", min_size=1, max_size=30).filter(
    lambda name: name.strip() == name
)
_TYPES = st.sampled_from(["image/png", "text/csv", "application/pdf", "Application/Octet-Stream"])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fields=st.dictionaries(_NAMES, _VALUES, max_size=8),
    files=st.dictionaries(_NAMES, st.tuples(_FILENAMES, _TYPES, _VALUES), max_size=3),
)
def test_a_multipart_form_reads_as_the_standard_librarys_mime_parser_reads_it(
    fields: dict[str, bytes], files: dict[str, tuple[str, str, bytes]]
) -> None:
    files = {f"file-{name}": value for name, value in files.items()}
    parts = [_field(name, data) for name, data in fields.items()]
    parts += [
        _part(
            f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\nContent-Type: {kind}',
            data,
        )
        for name, (filename, kind, data) in files.items()
    ]
    if not parts:
        return  # an empty form is refused (see below)
    body = _form(*parts)

    assert _read(parse_form(CONTENT_TYPE, body)) == _reference(CONTENT_TYPE, body)


def test_a_preamble_before_the_first_boundary_and_an_epilogue_after_the_last_are_ignored() -> None:
    body = b"This is a preamble.\r\n" + _form(_field("a", b"1"), close=f"--{BOUNDARY}--\r\ntrailer".encode())

    assert parse_form(f'multipart/form-data; boundary="{BOUNDARY}"', body).fields == {"a": b"1"}


def test_extended_filenames_and_transfer_encodings_are_decoded_as_the_mime_parser_decodes_them() -> None:
    body = _form(
        _part(
            "Content-Disposition: form-data; name=\"doc\"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf\r\n"
            "Content-Type: application/pdf",
            b"%PDF-1.7",
        ),
        _part('Content-Disposition: form-data; name="raw"; filename="résumé.txt"', b"x"),
        _part(
            'Content-Disposition: form-data; name="b64"\r\nContent-Transfer-Encoding: base64', b"aGVs\r\nbG8="
        ),
        _part(
            'Content-Disposition: form-data; name="qp"\r\nContent-Transfer-Encoding: quoted-printable',
            b"caf=C3=A9 =\r\nau lait",
        ),
        _part('Content-Disposition: form-data; name="note"\r\nContent-Type: text/plain; name="n.txt"', b"hi"),
    )
    form = parse_form(CONTENT_TYPE, body)

    assert form.files["doc"].filename == "résumé.pdf"
    assert form.files["raw"].filename == "résumé.txt"  # RFC 7578: UTF-8 in the quoted filename
    assert form.fields["b64"] == b"hello"
    assert form.text("qp") == "café au lait"
    assert form.files["note"].filename == "n.txt"  # a Content-Type name makes a file, as before
    assert _read(form) == _reference(CONTENT_TYPE, body)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_form(_field("a", b"1"), close=b""), id="no closing boundary"),
        pytest.param(_form(_field("a", b"1"))[:-30], id="truncated in a part"),
        pytest.param(_form(close=f"--{BOUNDARY}--\r\n".encode()), id="no part at all"),
        pytest.param(b"", id="empty body"),
        pytest.param(b"garbage without any boundary", id="no boundary"),
        pytest.param(_form(_field("a", b"1")).replace(BOUNDARY.encode(), b"other"), id="another boundary"),
        pytest.param(_form(_part("Content-Disposition: form-data", b"1")), id="a part without a name"),
        pytest.param(_form(_part('Content-Disposition: form-data; name=""', b"1")), id="an empty name"),
        pytest.param(_form(_part("not a header line", b"1")), id="a malformed part header"),
        pytest.param(_form(_field("a", b"1"), _field("a", b"2")), id="a field twice"),
        pytest.param(
            _form(
                _part('Content-Disposition: form-data; name="a"\r\nContent-Transfer-Encoding: base64', b"a")
            ),
            id="broken base64",
        ),
    ],
)
def test_a_malformed_multipart_form_is_invalid_payload(body: bytes) -> None:
    with pytest.raises(InvalidPayload):
        parse_form(CONTENT_TYPE, body)


@pytest.mark.parametrize(
    "content_type",
    ["multipart/form-data", "multipart/form-data; boundary=", "multipart/form-data; boundary=x\r\nX-Evil: 1"],
)
def test_a_multipart_content_type_without_a_usable_boundary_is_invalid_payload(content_type: str) -> None:
    with pytest.raises(InvalidPayload):
        parse_form(content_type, _form(_field("a", b"1")))


_VALID = _form(
    _field("headers", b"From: a@example.com\r\n"),
    _part(
        "Content-Disposition: form-data; name=\"attachment1\"; filename*=UTF-8''%E2%82%AC.txt\r\n"
        'Content-Type: text/plain; name="n.txt"\r\nContent-Transfer-Encoding: base64',
        b"aGk=",
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cut=st.integers(0, len(_VALID)),
    junk=st.binary(max_size=40) | st.sampled_from([b"\r\n", b"--", BOUNDARY.encode(), b'"', b"*", b"\xff"]),
    content_type=st.sampled_from(
        [CONTENT_TYPE, "multipart/form-data; boundary=\u20ac", "multipart/form-data; boundary=" + "x" * 300]
    )
    | st.text(max_size=60),
)
def test_whatever_the_body_a_form_is_read_or_refused_as_invalid_payload(
    cut: int, junk: bytes, content_type: str
) -> None:
    body = _VALID[:cut] + junk + _VALID[cut:]
    try:
        parse_form(content_type, body)
    except InvalidPayload:
        pass  # a 422; anything else would be a 500


# --- the email header memo ---------------------------------------------------------------------------


def test_headers_parsed_through_the_memo_are_those_policy_default_builds() -> None:
    raw = samples.email_message(samples.sample_person(7), "<memo-1@example.com>", "Hi", "Hello")
    memo = BytesParser(policy=_headers.message_policy()).parsebytes(raw)
    plain = BytesParser(policy=policy.default).parsebytes(raw)

    for name in ("From", "To", "Subject", "Date", "Message-ID", "Content-Type"):
        assert str(memo[name]) == str(plain[name])
        assert type(memo[name]).__mro__[1:] == type(plain[name]).__mro__[1:]
    assert memo["From"].addresses == plain["From"].addresses
    assert [p.get_content_type() for p in memo.walk()] == [p.get_content_type() for p in plain.walk()]
    assert email_mta.message_attachments(memo) == email_mta.message_attachments(plain)


def test_short_header_values_are_shared_across_messages_in_a_bounded_memo_and_long_ones_are_not() -> None:
    short = "Shop <support@shop.example.com>"
    long = ", ".join(f"person{n} <person{n}@example.com>" for n in range(5))
    assert len(short) <= _headers.SHARED_MAX_CHARS < len(long)
    first, second = _headers._ParsedOnce(), _headers._ParsedOnce()

    assert first("To", short) is second("To", short)  # parsed once per process
    assert first("To", long) is first("To", long)  # once per message...
    assert first("To", long) is not second("To", long)  # ...and not kept beyond it
    assert first("To", long).addresses == second("To", long).addresses
    assert _headers._shared.cache_info().maxsize == _headers.SHARED_ENTRIES
