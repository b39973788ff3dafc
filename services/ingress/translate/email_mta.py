"""Raw RFC 5322 messages posted by our own MTA -> :class:`EmailReceived`.

The MTA relays the message bytes unchanged, so the Message-ID header is the provider message id:
a message delivered twice (MTA retry, or the same mail relayed again) becomes the same event.

The MTA relays the business's outgoing mail too (or a BCC of it). A message whose From address is
in one of the business's own domains (``HUB_BUSINESS_EMAIL_DOMAINS``) is **outbound**: the customer
is its first To (else Cc) recipient outside those domains, and only that one address identifies
them. A letter to several customers is thus recorded for the first one and never glues the others
to them; one whose every recipient is in-house is internal mail and is ignored.
"""

from __future__ import annotations

import functools
import hashlib
import html
import re
from collections.abc import Collection, Sequence
from datetime import datetime
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.parser import BytesParser, Parser
from email.utils import parsedate_to_datetime

from contracts import (
    Attachment,
    Direction,
    EmailReceived,
    IdentityKind,
    InvalidIdentity,
    Sender,
    normalise_identity,
)
from services.ingress.errors import IgnoredDelivery, InvalidPayload
from services.ingress.translate._common import (
    IdentityCandidate,
    clip,
    contract_errors,
    event_id,
    sender_identities,
    summarise,
)
from services.ingress.translate._headers import message_policy

PROVIDER = "mta"

# Header parsing in the standard library raises a handful of unrelated types on hostile input.
_HEADER_ERRORS = (MessageError, ValueError, TypeError, IndexError, AttributeError)
_SCRIPT_OR_STYLE = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")


def translate(
    raw: bytes,
    *,
    received_at: datetime,
    correlation_id: str,
    default_region: str,
    business_domains: Collection[str] = (),
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
            business_domains=business_domains,
        )
    ]


class BusinessMailTranslator:
    """:func:`translate` that knows the business's own domains, so sent mail is outbound."""

    def __init__(self, business_domains: Collection[str]) -> None:
        self._domains = frozenset(domain.lower().strip() for domain in business_domains)

    def __call__(
        self, raw: bytes, *, received_at: datetime, correlation_id: str, default_region: str
    ) -> list[EmailReceived]:
        return translate(
            raw,
            received_at=received_at,
            correlation_id=correlation_id,
            default_region=default_region,
            business_domains=self._domains,
        )


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
    business_domains: Collection[str] = (),
) -> EmailReceived:
    """The event of one message, for every provider that hands us email.

    ``message`` is a whole MIME message, or only its header block when the provider posts the body
    and the attachments already split (Mailgun, SendGrid's parsed mode): then pass ``summary`` and
    ``attachments``. ``fallback_message_id`` is the provider message id when there is no
    Message-ID header; without either the message is refused. With ``business_domains``, mail
    from the business is outbound (see the module's docstring).
    """
    message_id = _header_text(message, "Message-ID")
    provider_message_id = message_id or fallback_message_id
    if provider_message_id is None:
        raise InvalidPayload("header Message-ID is missing")
    sender_address = _from_address(message)
    outbound = _domain_of(sender_address.addr_spec) in business_domains
    customer = _first_customer(message, business_domains) if outbound else sender_address
    identities = sender_identities(
        [
            IdentityCandidate(
                IdentityKind.EMAIL, customer.addr_spec, "header To" if outbound else "header From"
            )
        ],
        default_region,
    )
    with contract_errors("email"):
        event = EmailReceived(
            event_id=event_id(provider, provider_message_id),
            occurred_at=_sent_at(message, fallback=received_at),
            received_at=received_at,
            correlation_id=correlation_id,
            provider=provider,
            provider_message_id=provider_message_id,
            sender=Sender(identities=identities, display_name=clip(customer.display_name or None, 200)),
            direction=Direction.OUTBOUND if outbound else Direction.INBOUND,
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
    message = Parser(policy=message_policy()).parsestr(text, headersonly=True)
    if not isinstance(message, EmailMessage):  # policy.default always builds EmailMessage
        raise InvalidPayload("headers are not an email header block")
    return message


def text_summary(text: str | None, markup: str | None = None) -> str:
    """The preview of a body a provider already split into a text and an HTML version."""
    if text is not None and text.strip():
        return summarise(text)
    return summarise(_strip_html(markup)) if markup else ""


@functools.lru_cache(maxsize=1)
def parse_message(raw: bytes) -> EmailMessage:
    """A whole RFC 5322 message from its bytes; never to be changed by the caller (it may be shared).

    One delivery is asked for twice, back to back: for its events, then for its attachments' bytes.
    Parsing MIME is the costliest step of an email webhook, so the last message parsed is kept and
    handed out again for the same bytes.
    """
    message = BytesParser(policy=message_policy()).parsebytes(raw)
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


def _domain_of(addr_spec: str) -> str:
    return addr_spec.rpartition("@")[2].lower()


def _first_customer(message: EmailMessage, business_domains: Collection[str]) -> Address:
    """The first To (else Cc) recipient outside the business's domains: who sent mail is for."""
    for name in ("To", "Cc"):
        for address in _addresses(message, name):
            if address.addr_spec and _domain_of(address.addr_spec) not in business_domains:
                return address
    raise IgnoredDelivery("internal mail: every recipient is in the business's own domains")


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


def described_attachment(filename: str | None, content_type: str, data: bytes) -> Attachment:
    """An attachment as events describe it; ``sha256`` is its address in the blob store."""
    return Attachment(
        filename=clip(filename, 300) or "",
        content_type=content_type[:200],
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def message_attachments(message: EmailMessage) -> list[bytes]:
    """The bytes of every attachment of ``message``, in order (what the blob store keeps)."""
    return [attachment_bytes(part) for part in message.iter_attachments()]


def attachment_bytes(part: Message) -> bytes:
    """Bytes after transfer decoding; an attached message (``message/rfc822``) is its text."""
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload
    inner = part.get_payload()
    if isinstance(inner, list):
        return b"".join(item.as_bytes() for item in inner if isinstance(item, Message))
    return b""


def _attachment(part: EmailMessage) -> Attachment:
    return described_attachment(part.get_filename(), part.get_content_type(), attachment_bytes(part))
