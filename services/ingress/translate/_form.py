"""HTML form bodies (``multipart/form-data`` or ``application/x-www-form-urlencoded``), read once.

Mailgun and SendGrid post forms. A multipart form is a MIME document once its Content-Type header is
put in front of it, so the standard library's ``email`` parser reads it (no hand-written multipart
parser); a urlencoded form is read with :func:`urllib.parse.parse_qsl`. Mailgun's signature is
three fields of the form, so its verifier reads the form too: the verifier, the translator and the
attachment reader all use :func:`read_form`, which parses a delivery's form once.

A field that appears twice is refused rather than guessed: the signed fields must be unambiguous.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.errors import MessageError
from email.message import Message
from email.parser import BytesParser
from typing import Protocol
from urllib.parse import parse_qsl

from contracts import InteractionEvent
from services.ingress.delivery import Delivery
from services.ingress.errors import InvalidPayload
from services.ingress.translate._headers import form_policy

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
    document = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1") + body
    try:
        message = BytesParser(policy=form_policy()).parsebytes(document)
        if not message.is_multipart() or not message.get_boundary():
            raise InvalidPayload("body is not a multipart form")
        parts = message.get_payload()
        if not isinstance(parts, list) or not parts or message.defects:
            raise InvalidPayload("body is not a well-formed multipart form")
        fields: dict[str, bytes] = {}
        files: dict[str, FilePart] = {}
        for part in parts:
            if not isinstance(part, Message):
                raise InvalidPayload("body is not a well-formed multipart form")
            _read_part(part, fields, files)
    except (MessageError, UnicodeError, ValueError, TypeError, IndexError, AttributeError) as exc:
        if isinstance(exc, InvalidPayload):
            raise
        raise InvalidPayload("body is not a well-formed multipart form") from None
    return Form(fields, files)


def _read_part(part: Message, fields: dict[str, bytes], files: dict[str, FilePart]) -> None:
    name = part.get_param("name", header="content-disposition")
    if not isinstance(name, str) or not name:
        raise InvalidPayload("a form part has no name")
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    filename = part.get_filename()
    if filename is None:
        _add(fields, name, data)
        return
    if name in files or name in fields:
        raise InvalidPayload(f"field {name} appears more than once")
    files[name] = FilePart(filename=filename, content_type=part.get_content_type(), data=data)


def _add(fields: dict[str, bytes], name: str, value: bytes) -> None:
    if name in fields:
        raise InvalidPayload(f"field {name} appears more than once")
    fields[name] = value
