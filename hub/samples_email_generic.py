"""Sample Mailgun, SendGrid and generic (Standard Webhooks) deliveries, signed as the senders sign.

Each builder returns a :class:`~hub.demo.Webhook`: the exact body bytes, with the headers the
provider sends (the multipart boundary in Content-Type, the signature headers). Field names and
shapes follow the providers' documentation: Mailgun's route ``forward()`` post, SendGrid's Inbound
Parse post (parsed and raw modes) and the generic JSON of :mod:`services.ingress.translate.generic`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, formataddr
from urllib.parse import urlencode

from hub.demo import Webhook
from hub.local_secrets import LocalSecrets
from hub.samples import SamplePerson, email_message
from services.ingress.verify import sign_standard_webhook

BUSINESS_ADDRESS = "support@shop.example.com"
MAILGUN_PATH = "/webhooks/email/mailgun"
SENDGRID_PATH = "/webhooks/email/sendgrid"
GENERIC_PATH = "/webhooks/generic/{channel}"


@dataclass(frozen=True)
class SampleFile:
    filename: str
    content_type: str
    data: bytes


INVOICE = SampleFile("invoice-1042.pdf", "application/pdf", b"%PDF-1.4\n" + bytes(range(256)) * 4)
PHOTO = SampleFile("jacket.png", "image/png", b"\x89PNG\r\n\x1a\n" + b"\x00\r\n\xff" * 300)


def encode_form(
    fields: Sequence[tuple[str, str | bytes]],
    files: Sequence[tuple[str, SampleFile]],
    *,
    multipart: bool | None = None,
) -> tuple[bytes, str]:
    """Body and Content-Type of a form: multipart with files (or when asked), urlencoded otherwise.

    A ``bytes`` value is sent as is (SendGrid posts each field in the message's own charset).
    """
    if not (bool(files) if multipart is None else multipart):
        return urlencode(fields).encode("ascii"), "application/x-www-form-urlencoded"
    boundary = secrets.token_hex(16)
    chunks = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        + (value if isinstance(value, bytes) else value.encode())
        + b"\r\n"
        for name, value in fields
    ]
    chunks += [
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{file.filename}"\r\n'
            f"Content-Type: {file.content_type}\r\n\r\n"
        ).encode()
        + file.data
        + b"\r\n"
        for name, file in files
    ]
    return b"".join(chunks) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


# --- Mailgun -------------------------------------------------------------------------------------


def mailgun_signature(timestamp: str, token: str, signing_key: str) -> str:
    """Mailgun's ``signature``: hex HMAC-SHA256 of ``timestamp + token`` with the signing key."""
    return hmac.new(signing_key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()


def mailgun_fields(
    person: SamplePerson,
    message_id: str,
    subject: str,
    text: str,
    *,
    in_reply_to: str | None = None,
    attachments: Sequence[SampleFile] = (),
    sent_at: datetime | None = None,
) -> list[tuple[str, str]]:
    """The parsed-message fields of a route ``forward()`` post (without the three signature fields)."""
    when = format_datetime(sent_at or datetime(2025, 3, 1, 9, 30, tzinfo=UTC))
    sender = formataddr((person.name, person.email))
    headers = [
        ["Received", f"from mail.example.com by mxa.mailgun.org with ESMTP; {when}"],
        ["Mime-Version", "1.0"],
        ["From", sender],
        ["Date", when],
        ["Message-Id", message_id],
        ["Subject", subject],
        ["To", f"Shop Support <{BUSINESS_ADDRESS}>"],
        ["Cc", "orders@shop.example.com"],
        ["Content-Type", 'multipart/mixed; boundary="000000000000a1b2c3"'],
    ]
    if in_reply_to is not None:
        headers.insert(5, ["In-Reply-To", in_reply_to])
        headers.insert(6, ["References", in_reply_to])
    quoted = f"{text}\n\nOn Fri, Feb 28, 2025 Shop Support wrote:\n> Thanks for your order!\n"
    fields = [
        ("recipient", BUSINESS_ADDRESS),
        ("sender", person.email),
        ("from", sender),
        ("subject", subject),
        ("From", sender),
        ("To", f"Shop Support <{BUSINESS_ADDRESS}>"),
        ("Message-Id", message_id),
        ("Date", when),
        ("body-plain", quoted if in_reply_to else text),
        ("stripped-text", text),
        ("body-html", f"<html><body><p>{text}</p></body></html>"),
        ("stripped-signature", ""),
        ("message-headers", json.dumps(headers)),
        ("attachment-count", str(len(attachments))),
        ("content-id-map", "{}"),
    ]
    if in_reply_to is not None:
        fields.append(("In-Reply-To", in_reply_to))
    return fields


def mailgun_webhook(
    person: SamplePerson,
    message_id: str,
    subject: str,
    text: str,
    signing_key: str,
    *,
    in_reply_to: str | None = None,
    attachments: Sequence[SampleFile] = (),
    timestamp: int | None = None,
) -> Webhook:
    """A signed Mailgun post: multipart when there are attachments, urlencoded otherwise."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    token = secrets.token_hex(25)  # Mailgun's tokens are 50 characters
    fields = mailgun_fields(
        person, message_id, subject, text, in_reply_to=in_reply_to, attachments=attachments
    )
    fields += [
        ("timestamp", stamp),
        ("token", token),
        ("signature", mailgun_signature(stamp, token, signing_key)),
    ]
    body, content_type = encode_form(
        fields, [(f"attachment-{number}", f) for number, f in enumerate(attachments, start=1)]
    )
    return Webhook(MAILGUN_PATH, body, {"Content-Type": content_type})


# --- SendGrid ------------------------------------------------------------------------------------


def sendgrid_parsed(
    person: SamplePerson,
    message_id: str | None,
    subject: str,
    text: str,
    *,
    attachments: Sequence[SampleFile] = (),
    in_reply_to: str | None = None,
) -> tuple[bytes, str]:
    """Body and Content-Type of a default-mode Inbound Parse post; ``message_id=None`` omits the header."""
    when = format_datetime(datetime(2025, 3, 1, 9, 45, tzinfo=UTC))
    sender = formataddr((person.name, person.email))
    header_lines = [
        f"Received: by mx0047p1mdw1.sendgrid.net with SMTP id 6WCVv7KAWn; {when}",
        f"From: {sender}",
        f"Date: {when}",
        f"Subject: {subject}",
        f"To: {BUSINESS_ADDRESS}",
        "Cc: Orders <orders@shop.example.com>",
        "MIME-Version: 1.0",
        "Content-Type: multipart/mixed; boundary=001a113df448cad2d00556c6b2d9",
    ]
    if message_id is not None:
        header_lines.insert(3, f"Message-ID: {message_id}")
    if in_reply_to is not None:
        header_lines.insert(3, f"In-Reply-To: {in_reply_to}")
    info = {
        f"attachment{number}": {"filename": f.filename, "name": f.filename, "type": f.content_type}
        for number, f in enumerate(attachments, start=1)
    }
    fields = [
        ("headers", "\n".join(header_lines) + "\n"),
        ("dkim", "{@example.com : pass}"),
        ("content-ids", "{}"),
        ("to", BUSINESS_ADDRESS),
        ("cc", "Orders <orders@shop.example.com>"),
        ("html", f'<div dir="ltr">{text}</div>\n'),
        ("from", sender),
        ("text", text + "\n"),
        ("sender_ip", "209.85.223.180"),
        ("spam_report", "Spam detection software has NOT identified this incoming email as spam."),
        ("envelope", json.dumps({"to": [BUSINESS_ADDRESS], "from": person.email})),
        ("attachments", str(len(attachments))),
        ("subject", subject),
        ("attachment-info", json.dumps(info)),
        ("charsets", json.dumps({n: "UTF-8" for n in ("to", "cc", "html", "subject", "from", "text")})),
        ("SPF", "pass"),
        ("spam_score", "0.1"),
    ]
    files = [(f"attachment{number}", f) for number, f in enumerate(attachments, start=1)]
    return encode_form(fields, files, multipart=True)


def sendgrid_raw(person: SamplePerson, message_id: str, subject: str, text: str) -> tuple[bytes, str]:
    """Body and Content-Type of a raw-mode post: the whole MIME message in the ``email`` field."""
    message = email_message(person, message_id, subject, text)
    fields = [
        ("dkim", "{@example.com : pass}"),
        ("email", message.decode("utf-8")),
        ("to", BUSINESS_ADDRESS),
        ("from", formataddr((person.name, person.email))),
        ("sender_ip", "209.85.223.180"),
        ("envelope", json.dumps({"to": [BUSINESS_ADDRESS], "from": person.email})),
        ("subject", subject),
        ("charsets", json.dumps({"to": "UTF-8", "subject": "UTF-8", "from": "UTF-8"})),
        ("SPF", "pass"),
    ]
    return encode_form(fields, [], multipart=True)


def sendgrid_webhook(body: bytes, content_type: str, secret: str, *, how: str = "basic") -> Webhook:
    """A SendGrid post carrying ``secret`` as basic-auth password, bearer token or ``?key=``."""
    headers = {"Content-Type": content_type}
    if how == "basic":
        headers["Authorization"] = "Basic " + base64.b64encode(f"sendgrid:{secret}".encode()).decode()
        return Webhook(SENDGRID_PATH, body, headers)
    if how == "bearer":
        headers["Authorization"] = f"Bearer {secret}"
        return Webhook(SENDGRID_PATH, body, headers)
    return Webhook(f"{SENDGRID_PATH}?key={secret}", body, headers)


# --- Generic (Standard Webhooks) -----------------------------------------------------------------


def generic_message(
    person: SamplePerson,
    message_id: str,
    text: str,
    *,
    channel: str = "chat",
    source: str = "acme-helpdesk",
    event_type: str = "message.received",
    sent_at: datetime | None = None,
) -> bytes:
    """The body of a generic ``message.received`` webhook from ``person`` on ``channel``."""
    when = (sent_at or datetime(2025, 3, 1, 10, 0, tzinfo=UTC)).isoformat()
    data: dict[str, object] = {
        "message_id": message_id,
        "source": source,
        "occurred_at": when,
        "sender": {
            "identities": [
                {"kind": "email", "value": person.email},
                {"kind": "handle", "value": person.visitor_id},
            ],
            "display_name": person.name,
        },
        "summary": text,
    }
    if channel == "email":
        data |= {"subject": "Question", "to": [BUSINESS_ADDRESS], "in_reply_to": "<prev@shop.example.com>"}
    else:
        data["conversation_id"] = f"conv-{message_id}"
    return json.dumps({"type": event_type, "timestamp": when, "data": data}).encode()


def standard_webhook_headers(
    body: bytes, secret: str, *, webhook_id: str | None = None, timestamp: int | None = None
) -> dict[str, str]:
    """``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` for ``body``, signed now."""
    message_id = webhook_id or "msg_" + secrets.token_urlsafe(18)
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "Content-Type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": stamp,
        "webhook-signature": sign_standard_webhook(message_id, stamp, body, secret),
    }


def generic_webhook(
    body: bytes, secret: str, *, channel: str = "chat", timestamp: int | None = None
) -> Webhook:
    return Webhook(
        GENERIC_PATH.format(channel=channel),
        body,
        standard_webhook_headers(body, secret, timestamp=timestamp),
    )


def email_and_generic_conversation(person: SamplePerson, secrets_: LocalSecrets, tag: str) -> list[Webhook]:
    """A Mailgun email (with an attachment), a SendGrid email and a generic chat message by ``person``."""
    sendgrid_body, sendgrid_type = sendgrid_parsed(
        person, f"<{tag}-sg@mail.example.com>", "Sizes?", "Do you have it in M?", attachments=[PHOTO]
    )
    return [
        mailgun_webhook(
            person,
            f"<{tag}-mg@mail.example.com>",
            "Re: Your order",
            "Thanks, the invoice is attached.",
            secrets_.mailgun,
            in_reply_to=f"<{tag}-order@shop.example.com>",
            attachments=[INVOICE],
        ),
        sendgrid_webhook(sendgrid_body, sendgrid_type, secrets_.sendgrid),
        generic_webhook(
            generic_message(person, f"{tag}-chat", "Is the blue one in stock?"), secrets_.generic
        ),
    ]
