"""HTML form bodies (``multipart/form-data`` or ``application/x-www-form-urlencoded``), read once.

Mailgun and SendGrid post forms. A multipart form is split by python-multipart's streaming parser
(the one Starlette uses; no hand-written multipart parser), which finds each boundary with
``bytes.find``: the standard library's ``email`` parser, used before, read a form line by line,
parsed every part's headers with its full RFC 5322 header grammar and compiled a regular expression
per boundary, which made it most of a SendGrid webhook's cost. A urlencoded form is read with
:func:`urllib.parse.parse_qsl`. Mailgun's signature is three fields of the form, so its verifier
reads the form too: the verifier, the translator and the attachment reader all use
:func:`read_form`, which parses a delivery's form once.

A field that appears twice is refused rather than guessed: the signed fields must be unambiguous.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from email.utils import collapse_rfc2231_value
from typing import Protocol
from urllib.parse import parse_qsl

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header

from contracts import InteractionEvent
from services.ingress.delivery import Delivery
from services.ingress.errors import InvalidPayload

MULTIPART = "multipart/form-data"
URLENCODED = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class FilePart:
    """An uploaded file of a multipart form: its declared name and type and its bytes."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Form:
    """The plain fields (raw bytes, decoded on demand in the field's charset) and the files."""

    fields: Mapping[str, bytes]
    files: Mapping[str, FilePart]

    def text(self, name: str, charset: str = "utf-8") -> str | None:
        """Field ``name`` decoded (undecodable bytes replaced), or ``None`` when absent."""
        raw = self.fields.get(name)
        if raw is None:
            return None
        try:
            return raw.decode(charset, errors="replace")
        except LookupError:  # a charset Python does not know: read it as UTF-8
            return raw.decode("utf-8", errors="replace")

    def required(self, name: str, charset: str = "utf-8") -> str:
        """Field ``name``, which must be present and not blank."""
        value = self.text(name, charset)
        if value is None or not value.strip():
            raise InvalidPayload(f"field {name} is missing")
        return value


class FormTranslate(Protocol):
    def __call__(
        self, form: Form, *, received_at: datetime, correlation_id: str, default_region: str
    ) -> Sequence[InteractionEvent]: ...


class FormTranslator:
    """A body translator for one delivery: the body is read as the form its Content-Type says."""

    def __init__(self, content_type: str, translate_form: FormTranslate) -> None:
        self._content_type = content_type
        self._translate_form = translate_form

    def __call__(
        self, raw: bytes, *, received_at: datetime, correlation_id: str, default_region: str
    ) -> Sequence[InteractionEvent]:
        return self._translate_form(
            parse_form(self._content_type, raw),
            received_at=received_at,
            correlation_id=correlation_id,
            default_region=default_region,
        )


class DeliveryFormTranslator:
    """The translator of one delivery: its body is read as the form its Content-Type says, once (the
    verifier and the attachment reader get the same :class:`Form`)."""

    def __init__(self, delivery: Delivery, translate_form: FormTranslate) -> None:
        self._delivery = delivery
        self._translate_form = translate_form

    def __call__(
        self, raw: bytes, *, received_at: datetime, correlation_id: str, default_region: str
    ) -> Sequence[InteractionEvent]:
        delivery = self._delivery
        form = read_form(delivery) if raw is delivery.body else parse_form(_content_type(delivery), raw)
        return self._translate_form(
            form, received_at=received_at, correlation_id=correlation_id, default_region=default_region
        )


def by_content_type(translate_form: FormTranslate) -> Callable[[Delivery], DeliveryFormTranslator]:
    """An endpoint's ``select``: each delivery's body is read as the form its Content-Type says."""

    def select(delivery: Delivery) -> DeliveryFormTranslator:
        return DeliveryFormTranslator(delivery, translate_form)

    return select


def read_form(delivery: Delivery) -> Form:
    """The form of ``delivery``, by its Content-Type, parsed on the first call only; raises
    :class:`InvalidPayload` when the body is not the form its Content-Type says."""
    return delivery.once(_parsed_form)


def _parsed_form(delivery: Delivery) -> Form:
    return parse_form(_content_type(delivery), delivery.body)


def _content_type(delivery: Delivery) -> str:
    return delivery.headers.get("content-type", "")


def parse_form(content_type: str, body: bytes) -> Form:
    """Parse ``body`` as the form its ``content_type`` header says it is."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == URLENCODED:
        return _urlencoded(body)
    if media_type == MULTIPART:
        return _multipart(content_type, body)
    raise InvalidPayload(f"body must be {MULTIPART} or {URLENCODED}")


def _urlencoded(body: bytes) -> Form:
    try:
        pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True, strict_parsing=False, errors="strict")
    except (UnicodeError, ValueError):
        raise InvalidPayload("body is not a urlencoded form") from None
    fields: dict[str, bytes] = {}
    for name, value in pairs:
        _add(fields, name, value.encode("utf-8"))
    return Form(fields, {})


def _multipart(content_type: str, body: bytes) -> Form:
    if "\r" in content_type or "\n" in content_type:
        raise InvalidPayload("header Content-Type is malformed")
    try:  # header bytes, as the request carried them (Starlette decodes header values as latin-1)
        boundary = parse_options_header(content_type.encode("latin-1"))[1].get(b"boundary")
    except UnicodeEncodeError:
        raise InvalidPayload("header Content-Type is malformed") from None
    if not boundary:
        raise InvalidPayload("body is not a multipart form")
    parts = _split(boundary, body)
    if not parts:
        raise InvalidPayload("body is not a well-formed multipart form")
    fields: dict[str, bytes] = {}
    files: dict[str, FilePart] = {}
    for part in parts:
        _read_part(part, fields, files)
    return Form(fields, files)


@dataclass
class _Part:
    """One part as the parser hands it over: its headers (lower-case names, in order) and its bytes."""

    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)

    def header(self, name: bytes) -> bytes | None:
        """The first header ``name`` (lower case)."""
        return next((value for key, value in self.headers if key == name), None)


def _split(boundary: bytes, body: bytes) -> list[_Part]:
    """The parts between the first boundary and the closing one; a preamble before the first boundary
    is skipped (RFC 2046). Refuses a body that never closes (truncated) or breaks the syntax."""
    opening = b"--" + boundary
    if not body.startswith(opening):
        start = body.find(b"\r\n" + opening)
        if start < 0:
            raise InvalidPayload("body is not a well-formed multipart form")
        body = body[start + 2 :]
    parts: list[_Part] = []
    name: list[bytes] = []
    value: list[bytes] = []

    def header_end() -> None:
        parts[-1].headers.append((b"".join(name).lower(), b"".join(value)))
        name.clear()
        value.clear()

    try:
        parser = MultipartParser(
            boundary,
            {
                "on_part_begin": lambda: parts.append(_Part()),
                "on_header_field": lambda data, start, end: name.append(data[start:end]),
                "on_header_value": lambda data, start, end: value.append(data[start:end]),
                "on_header_end": header_end,
                "on_part_data": lambda data, start, end: parts[-1].chunks.append(data[start:end]),
            },
        )
        parser.write(body)
    except FormParserError:
        raise InvalidPayload("body is not a well-formed multipart form") from None
    if parser.state != MultipartState.END:
        raise InvalidPayload("body is not a well-formed multipart form: no closing boundary")
    return parts


def _read_part(part: _Part, fields: dict[str, bytes], files: dict[str, FilePart]) -> None:
    name, filename = _names(part.header(b"content-disposition") or b"")
    if not name:
        raise InvalidPayload("a form part has no name")
    kind, parameters = parse_options_header(part.header(b"content-type"))
    if filename is None and b"name" in parameters:  # as email.message.Message.get_filename reads it
        filename = parameters[b"name"].decode("utf-8", "replace").strip()
    data = _decoded(b"".join(part.chunks), (part.header(b"content-transfer-encoding") or b"").strip().lower())
    if filename is None:
        _add(fields, name, data)
        return
    if name in files or name in fields:
        raise InvalidPayload(f"field {name} appears more than once")
    content_type = kind.decode("latin-1") if kind.count(b"/") == 1 else "text/plain"
    files[name] = FilePart(filename=filename, content_type=content_type, data=data)


def _names(disposition: bytes) -> tuple[str | None, str | None]:
    """The ``name`` and ``filename`` parameters of a part's Content-Disposition (RFC 7578 allows UTF-8).

    RFC 7578 forbids RFC 2231's extended parameters (``filename*=UTF-8''...``) in forms, but some
    senders still use them: such a header is read by the standard library, which decodes them."""
    if b"*" in disposition:
        legacy = Message()
        legacy["Content-Disposition"] = disposition.decode("utf-8", "replace")
        try:
            name = legacy.get_param("name", header="content-disposition")
            return (collapse_rfc2231_value(name) if name else None), legacy.get_filename()
        except (LookupError, UnicodeError, ValueError, TypeError, IndexError):
            raise InvalidPayload("header Content-Disposition of a form part is malformed") from None
    parameters = parse_options_header(disposition)[1]
    name_bytes, filename_bytes = parameters.get(b"name"), parameters.get(b"filename")
    return (
        None if name_bytes is None else name_bytes.decode("utf-8", "replace"),
        None if filename_bytes is None else filename_bytes.decode("utf-8", "replace").strip(),
    )


def _decoded(data: bytes, transfer_encoding: bytes) -> bytes:
    """A part's bytes after its Content-Transfer-Encoding (RFC 7578 deprecates it; rare senders use it)."""
    if transfer_encoding == b"base64":
        try:
            return binascii.a2b_base64(b"".join(data.split()))
        except binascii.Error:
            raise InvalidPayload("a form part is not valid base64") from None
    if transfer_encoding == b"quoted-printable":
        return binascii.a2b_qp(data)
    return data


def _add(fields: dict[str, bytes], name: str, value: bytes) -> None:
    if name in fields:
        raise InvalidPayload(f"field {name} appears more than once")
    fields[name] = value
