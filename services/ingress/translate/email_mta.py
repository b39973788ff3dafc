"""Raw RFC 5322 messages posted by our own MTA -> :class:`EmailReceived`.

The MTA relays the message bytes unchanged, so the Message-ID header is the provider message id:
a message delivered twice (MTA retry, or the same mail relayed again) becomes the same event.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from datetime import datetime
from email import policy
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.parser import BytesParser, Parser
from email.utils import parsedate_to_datetime

from contracts import Attachment, EmailReceived, IdentityKind, InvalidIdentity, Sender, normalise_identity
from services.ingress.errors import InvalidPayload
from services.ingress.translate._common import (
    IdentityCandidate,
    clip,
    contract_errors,
    event_id,
    sender_identities,
    summarise,
)

PROVIDER = "mta"

# Header parsing in the standard library raises a handful of unrelated types on hostile input.
_HEADER_ERRORS = (MessageError, ValueError, TypeError, IndexError, AttributeError)
_SCRIPT_OR_STYLE = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")


def translate(
    raw: bytes, *, received_at: datetime, correlation_id: str, default_region: str
) -> list[EmailReceived]:
    """One event per message; raises :class:`InvalidPayload` without a Message-ID or a From address."""
    message = parse_message(raw)
    return [
        email_event(
            message,
            PROVIDER,
            received_at=received_at,
            correlation_id=correlation_id,
            default_region=default_region,
        )
    ]


def email_event(
    message: EmailMessage,
    provider: str,
    *,
    received_at: datetime,
    correlation_id: str,
    default_region: str,
    summary: str | None = None,
    attachments: Sequence[Attachment] | None = None,
    fallback_message_id: str | None = None,
) -> EmailReceived:
    """The event of one message, for every provider that hands us email.

    ``message`` is a whole MIME message, or only its header block when the provider posts the body
    and the attachments already split (Mailgun, SendGrid's parsed mode): then pass ``summary`` and
    ``attachments``. ``fallback_message_id`` is the provider message id when there is no
    Message-ID header; without either the message is refused.
    """
    message_id = _header_text(message, "Message-ID")
    provider_message_id = message_id or fallback_message_id
    if provider_message_id is None:
        raise InvalidPayload("header Message-ID is missing")
    sender_address = _from_address(message)
    identities = sender_identities(
        [IdentityCandidate(IdentityKind.EMAIL, sender_address.addr_spec, "header From")], default_region
    )
    with contract_errors("email"):
        event = EmailReceived(
            event_id=event_id(provider, provider_message_id),
            occurred_at=_sent_at(message, fallback=received_at),
            received_at=received_at,
            correlation_id=correlation_id,
            provider=provider,
            provider_message_id=provider_message_id,
            sender=Sender(identities=identities, display_name=clip(sender_address.display_name or None, 200)),
            summary=_summary(message) if summary is None else summary,
            subject=clip(_header_text(message, "Subject"), 1000) or "",
            message_id=clip(message_id, 1000),
            in_reply_to=clip(_header_text(message, "In-Reply-To"), 1000),
            to=_recipients(message, "To"),
            cc=_recipients(message, "Cc"),
            attachments=tuple(
                [_attachment(part) for part in message.iter_attachments()]
                if attachments is None
                else attachments
            ),
        )
    return event


def parse_headers(text: str) -> EmailMessage:
    """A header-only message from a header block (``Name: value`` lines), parsed as MTA mail is."""
    message = Parser(policy=policy.default).parsestr(text, headersonly=True)
    if not isinstance(message, EmailMessage):  # policy.default always builds EmailMessage
        raise InvalidPayload("headers are not an email header block")
    return message


def text_summary(text: str | None, markup: str | None = None) -> str:
    """The preview of a body a provider already split into a text and an HTML version."""
    if text is not None and text.strip():
        return summarise(text)
    return summarise(_strip_html(markup)) if markup else ""


def parse_message(raw: bytes) -> EmailMessage:
    """A whole RFC 5322 message from its bytes."""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    if not isinstance(message, EmailMessage):  # policy.default always builds EmailMessage
        raise InvalidPayload("body is not an email message")
    return message


def _header_text(message: EmailMessage, name: str) -> str | None:
    try:
        value = message[name]
    except _HEADER_ERRORS:
        raise InvalidPayload(f"header {name} cannot be parsed") from None
    text = " ".join(str(value).split()) if value is not None else ""
    return text or None


def _addresses(message: EmailMessage, name: str) -> tuple[Address, ...]:
    try:
        header = message[name]
        return tuple(header.addresses) if header is not None else ()
    except _HEADER_ERRORS:
        raise InvalidPayload(f"header {name} cannot be parsed") from None


def _from_address(message: EmailMessage) -> Address:
    addresses = [address for address in _addresses(message, "From") if address.addr_spec]
    if not addresses:
        raise InvalidPayload("header From is missing")
    return addresses[0]


def _recipients(message: EmailMessage, name: str) -> tuple[str, ...]:
    """Normalised addresses; an unparseable one (``undisclosed-recipients:;``) is skipped."""
    found: list[str] = []
    for address in _addresses(message, name):
        try:
            normal = normalise_identity(IdentityKind.EMAIL, address.addr_spec).value
        except InvalidIdentity:
            continue
        if normal not in found:
            found.append(normal)
    return tuple(found)


def _sent_at(message: EmailMessage, *, fallback: datetime) -> datetime:
    """The Date header when it is parseable and carries an offset, else when we received it."""
    text = _header_text(message, "Date")
    if text is None:
        return fallback
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return fallback
    return moment if moment.utcoffset() is not None else fallback


def _summary(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain", "html"))
    if not isinstance(body, EmailMessage):
        return ""
    try:
        content = body.get_content()
    except (LookupError, UnicodeError, ValueError):
        return ""  # an unknown charset loses the preview, not the message
    if not isinstance(content, str):
        return ""
    if body.get_content_subtype() == "html":
        content = _strip_html(content)
    return summarise(content)


def _strip_html(markup: str) -> str:
    """Crude text of an HTML body: enough for a 200-character preview, not a renderer."""
    return html.unescape(_TAG.sub(" ", _SCRIPT_OR_STYLE.sub(" ", markup)))


def _attachment(part: EmailMessage) -> Attachment:
    return Attachment(
        filename=clip(part.get_filename(), 300) or "",
        content_type=part.get_content_type()[:200],
        size_bytes=_decoded_size(part),
    )


def _decoded_size(part: Message) -> int:
    """Bytes after transfer decoding; an attached message (``message/rfc822``) counts as its text."""
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return len(payload)
    inner = part.get_payload()
    if isinstance(inner, list):
        return sum(len(item.as_bytes()) for item in inner if isinstance(item, Message))
    return 0
