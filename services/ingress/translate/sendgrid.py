"""SendGrid Inbound Parse posts -> :class:`EmailReceived`.

SendGrid always posts ``multipart/form-data``, in one of two modes (a setting of the parse host):

* **parsed** (default): ``headers`` (the raw header block), ``text``, ``html``, ``from``, ``to``,
  ``cc``, ``subject``, ``envelope`` (JSON), ``charsets`` (JSON: field -> charset), ``attachments``
  (a count), ``attachment-info`` (JSON: ``attachmentN`` -> ``{filename, name, type}``) and the
  ``attachment1`` ... ``attachmentN`` files. Addresses, subject, Message-ID, In-Reply-To and Date
  are read from ``headers`` with the MTA's header parsing; the summary from ``text`` (else
  ``html``); attachments are stored in the blob store and described by name, type, size and sha256.
* **raw** ("POST the raw, full MIME message"): the field ``email`` holds the whole message, which
  is translated exactly as a message from our own MTA is.

Each field is decoded in the charset ``charsets`` gives for it (UTF-8 otherwise).

The event id is derived from the Message-ID header. A message without one (rare, but legal) gets
``sha256:<hex>`` of the message as its provider message id: of the ``email`` field in raw mode, of
the ``headers`` field in parsed mode. Not of the HTTP body, whose multipart boundary changes when
SendGrid retries, and the header block carries the Received trace lines and Date that tell two
messages apart. SendGrid does not sign its posts: see :mod:`services.ingress.providers.sendgrid`.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime

from contracts import Attachment, EmailReceived
from services.ingress.delivery import Delivery
from services.ingress.errors import InvalidPayload
from services.ingress.translate._form import MULTIPART, Form, FormTranslator, by_content_type, read_form
from services.ingress.translate.email_mta import (
    described_attachment,
    email_event,
    message_attachments,
    parse_headers,
    parse_message,
    text_summary,
)

PROVIDER = "sendgrid"
_MAX_ATTACHMENTS = 100


def translate_form(
    form: Form, *, received_at: datetime, correlation_id: str, default_region: str
) -> list[EmailReceived]:
    """One event per post, in raw or parsed mode (by the presence of the ``email`` field)."""
    raw_message = form.fields.get("email")
    if raw_message is not None:
        message = parse_message(raw_message)
        summary: str | None = None
        attachments: tuple[Attachment, ...] | None = None
        fallback = _digest(raw_message)
    else:
        charsets = _charsets(form)
        message = parse_headers(form.required("headers", charsets.get("headers", "utf-8")))
        summary = text_summary(
            form.text("text", charsets.get("text", "utf-8")), form.text("html", charsets.get("html", "utf-8"))
        )
        attachments = _attachments(form)
        fallback = _digest(form.fields["headers"])
    return [
        email_event(
            message,
            PROVIDER,
            received_at=received_at,
            correlation_id=correlation_id,
            default_region=default_region,
            summary=summary,
            attachments=attachments,
            fallback_message_id=fallback,
        )
    ]


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _charsets(form: Form) -> dict[str, str]:
    text = form.text("charsets")
    if text is None or not text.strip():
        return {}
    try:
        decoded = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested too deep
        raise InvalidPayload("field charsets is not JSON") from None
    if not isinstance(decoded, dict):
        raise InvalidPayload("field charsets must be an object")
    return {name: value for name, value in decoded.items() if isinstance(value, str)}


def _attachments(form: Form) -> tuple[Attachment, ...]:
    info = _attachment_info(form)
    count_text = (form.text("attachments") or "0").strip()
    if not (count_text.isascii() and count_text.isdigit()) or int(count_text) > _MAX_ATTACHMENTS:
        raise InvalidPayload("field attachments must be a small whole number")
    found: list[Attachment] = []
    for number in range(1, int(count_text) + 1):
        name = f"attachment{number}"
        part = form.files.get(name)
        if part is None:
            raise InvalidPayload(f"field {name} is missing")
        described = info.get(name, {})
        filename = described.get("filename") or described.get("name") or part.filename
        found.append(described_attachment(filename, described.get("type") or part.content_type, part.data))
    return tuple(found)


def _attachment_info(form: Form) -> dict[str, dict[str, str]]:
    text = form.text("attachment-info")
    if text is None or not text.strip():
        return {}
    try:
        decoded = json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidPayload("field attachment-info is not JSON") from None
    if not isinstance(decoded, dict) or not all(isinstance(item, dict) for item in decoded.values()):
        raise InvalidPayload("field attachment-info must map attachment names to objects")
    return {
        name: {key: value for key, value in item.items() if isinstance(value, str)}
        for name, item in decoded.items()
    }


#: The endpoint's selector: the Content-Type carries the multipart boundary.
translator_for = by_content_type(translate_form)
#: A body alone cannot name its boundary; only a body whose boundary parses this way is read.
translate = FormTranslator(MULTIPART, translate_form)


def attachment_blobs(delivery: Delivery) -> list[bytes]:
    """The attachments' bytes for the blob store: the posted files, or the raw message's parts."""
    form = read_form(delivery)
    raw_message = form.fields.get("email")
    if raw_message is not None:
        return message_attachments(parse_message(raw_message))
    return [part.data for name, part in form.files.items() if _POSTED_FILE.match(name)]


_POSTED_FILE = re.compile(r"^attachment\d+$")
