"""Mailgun inbound routes (``forward()`` or ``store(notify=...)``) -> :class:`EmailReceived`.

Mailgun posts the message already parsed, as ``application/x-www-form-urlencoded`` or, when the
message has attachments, ``multipart/form-data``. Fields kept:

* ``message-headers`` (a JSON list of ``[name, value]`` pairs, in order): From, To, Cc, Subject,
  Message-Id, In-Reply-To and Date are read from it with the MTA's header parsing; without it, the
  ``from``, ``subject``, ``To``, ``Cc``, ``Message-Id``, ``In-Reply-To`` and ``Date`` fields are used;
* ``stripped-text`` (the reply without its quoted part), else ``body-plain``, else ``body-html``,
  for the 200-character summary;
* ``attachment-count`` and the ``attachment-1`` ... ``attachment-N`` files (``forward()``), or the
  ``attachments`` JSON list of ``{name, content-type, size, url}`` (``store(notify=...)``). Posted
  files are stored in the blob store (events carry their sha256); stored-mode attachments stay with
  Mailgun, described by name, type and size.

The event id is derived from the Message-Id, so a retried post (Mailgun retries for 8 hours on
anything but 200 and 406) or the same mail routed twice is one event. ``timestamp``, ``token`` and
``signature`` are checked by :mod:`services.ingress.providers.mailgun` before this runs.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from contracts import Attachment, EmailReceived
from services.ingress.delivery import Delivery
from services.ingress.errors import InvalidPayload
from services.ingress.translate._common import clip
from services.ingress.translate._form import URLENCODED, Form, FormTranslator, by_content_type, read_form
from services.ingress.translate.email_mta import (
    described_attachment,
    email_event,
    parse_headers,
    text_summary,
)

PROVIDER = "mailgun"

#: Header -> form field, for a post without ``message-headers``.
_HEADER_FIELDS = (
    ("From", "from"),
    ("To", "To"),
    ("Cc", "Cc"),
    ("Subject", "subject"),
    ("Message-Id", "Message-Id"),
    ("In-Reply-To", "In-Reply-To"),
    ("Date", "Date"),
)
_HEADER_NAME = re.compile(r"^[!-9;-~]{1,100}$")  # RFC 5322 field name: printable ASCII but ':'
_MAX_ATTACHMENTS = 100


def translate_form(
    form: Form, *, received_at: datetime, correlation_id: str, default_region: str
) -> list[EmailReceived]:
    """One event per post; raises :class:`InvalidPayload` without a Message-Id or a From address."""
    message = parse_headers(_header_block(form))
    summary = text_summary(form.text("stripped-text") or form.text("body-plain"), form.text("body-html"))
    return [
        email_event(
            message,
            PROVIDER,
            received_at=received_at,
            correlation_id=correlation_id,
            default_region=default_region,
            summary=summary,
            attachments=_attachments(form),
        )
    ]


def _header_block(form: Form) -> str:
    pairs: list[tuple[str, str]]
    listed = form.text("message-headers")
    if listed is not None:
        try:
            decoded = json.loads(listed)
        except (ValueError, RecursionError):  # RecursionError: nested too deep
            raise InvalidPayload("field message-headers is not JSON") from None
        if not isinstance(decoded, list) or not all(_is_pair(item) for item in decoded):
            raise InvalidPayload("field message-headers must be a list of [name, value] pairs")
        pairs = [(name, value) for name, value in decoded]
    else:
        pairs = [(header, value) for header, field in _HEADER_FIELDS if (value := form.text(field))]
    lines = [
        f"{name}: {' '.join(value.split())}\r\n" for name, value in pairs if _HEADER_NAME.match(name)
    ]  # folding whitespace (and any CR/LF an attacker put in a value) collapses to one space
    return "".join(lines) + "\r\n"


def _is_pair(item: Any) -> bool:
    return isinstance(item, list) and len(item) == 2 and all(isinstance(part, str) for part in item)


def _attachments(form: Form) -> tuple[Attachment, ...]:
    stored = form.text("attachments")
    if stored is not None and stored.strip():
        return _stored_attachments(stored)
    count_text = (form.text("attachment-count") or "0").strip()
    if not (count_text.isascii() and count_text.isdigit()) or int(count_text) > _MAX_ATTACHMENTS:
        raise InvalidPayload("field attachment-count must be a small whole number")
    found: list[Attachment] = []
    for number in range(1, int(count_text) + 1):
        part = form.files.get(f"attachment-{number}")
        if part is None:
            raise InvalidPayload(f"field attachment-{number} is missing")
        found.append(described_attachment(part.filename, part.content_type, part.data))
    return tuple(found)


def _stored_attachments(stored: str) -> tuple[Attachment, ...]:
    """``store(notify=...)`` lists the stored attachments: ``[{"name", "content-type", "size", "url"}]``."""
    try:
        items = json.loads(stored)
    except (ValueError, RecursionError):
        raise InvalidPayload("field attachments is not JSON") from None
    if not isinstance(items, list) or len(items) > _MAX_ATTACHMENTS:
        raise InvalidPayload("field attachments must be a list")
    found: list[Attachment] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise InvalidPayload(f"field attachments[{index}] must be an object")
        name, kind, size = item.get("name"), item.get("content-type"), item.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidPayload(f"field attachments[{index}].size must be a whole number")
        found.append(
            Attachment(
                filename=clip(name if isinstance(name, str) else "", 300) or "",
                content_type=(kind if isinstance(kind, str) else "application/octet-stream")[:200],
                size_bytes=size,
            )
        )
    return tuple(found)


#: The endpoint's selector: urlencoded or multipart, by the delivery's Content-Type.
translator_for = by_content_type(translate_form)
#: A body alone, read as urlencoded (Mailgun's form for a message without attachments).
translate = FormTranslator(URLENCODED, translate_form)


def attachment_blobs(delivery: Delivery) -> list[bytes]:
    """The posted files (``forward()`` mode), for the blob store; stored mode posts none."""
    return [part.data for name, part in read_form(delivery).files.items() if _POSTED_FILE.match(name)]


_POSTED_FILE = re.compile(r"^attachment-\d+$")
