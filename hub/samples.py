"""Realistic sample webhooks for the demo and the end-to-end tests.

One :class:`SamplePerson` writes an email, chats on the website, messages on WhatsApp and buys in
the Shopify shop. The email and the chat share the person's email address, WhatsApp and Shopify
share the phone number (and the order also carries the email, as online checkouts do), so all four
webhooks must resolve to one customer. Every builder returns the exact body bytes a provider would
POST; sign them with :mod:`services.ingress.verify` helpers.
"""

from __future__ import annotations

import hashlib
import html
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from contracts import ChatMessageReceived, IdentityKind, Sender, event_id_for, normalise_identity

_FIRST_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim")
_LAST_NAMES = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman")
# Real North American area codes; the 555 exchange keeps every sample number fictional.
_AREA_CODES = ("415", "650", "212", "312", "617", "206", "303", "512", "404", "702")
_LINES_PER_AREA = 10_000
_BUSINESS_ADDRESS = "support@shop.example.com"
_BUSINESS_WA_NUMBER = "15550783881"


@dataclass(frozen=True)
class SamplePerson:
    """A customer as the providers see them; ``phone`` is E.164 and ``wa_id`` is it without "+"."""

    name: str
    email: str
    phone: str
    visitor_id: str
    wa_id: str
    shopify_customer_id: int


def sample_person(seed: int | str) -> SamplePerson:
    """A person whose every identity is unique to ``seed`` and the same each time it is asked for.

    Non-negative integer seeds below 100,000 never share a phone number; other seeds are hashed.
    """
    digest = hashlib.sha256(f"interaction-hub-sample:{seed}".encode()).hexdigest()
    number = int(digest, 16)
    first = _FIRST_NAMES[number % len(_FIRST_NAMES)]
    last = _LAST_NAMES[(number // len(_FIRST_NAMES)) % len(_LAST_NAMES)]
    phone = _phone(seed if isinstance(seed, int) and seed >= 0 else number)
    return SamplePerson(
        name=f"{first} {last}",
        email=f"{first}.{last}.{digest[:10]}@example.com".lower(),
        phone=phone,
        visitor_id=f"v_{digest[10:26]}",
        wa_id=phone.removeprefix("+"),
        shopify_customer_id=int(digest[26:39], 16) % 10**13 + 10**12,
    )


def _phone(index: int) -> str:
    area = _AREA_CODES[index % len(_AREA_CODES)]
    line = (index // len(_AREA_CODES)) % _LINES_PER_AREA
    return f"+1{area}555{line:04d}"


def email_message(
    person: SamplePerson, message_id: str, subject: str, text: str, *, sent_at: datetime | None = None
) -> bytes:
    """A multipart/mixed message (plain + HTML alternatives, one small CSV attachment) from ``person``.

    ``message_id`` is used as the Message-ID header; angle brackets are added when missing.
    """
    message = EmailMessage()
    message["From"] = formataddr((person.name, person.email))
    message["To"] = _BUSINESS_ADDRESS
    message["Subject"] = subject
    message["Date"] = format_datetime(sent_at or datetime.now(UTC))
    message["Message-ID"] = message_id if message_id.startswith("<") else f"<{message_id}>"
    message.set_content(text)
    message.add_alternative(f"<html><body><p>{html.escape(text)}</p></body></html>", subtype="html")
    message.add_attachment(
        b"sku,quantity\nMUG-BLUE,1\n", maintype="text", subtype="csv", filename="order-question.csv"
    )
    return message.as_bytes()


def chat_message(
    person: SamplePerson, message_id: str, text: str, *, sent_at: datetime | None = None
) -> bytes:
    """The JSON our website chat widget posts for one visitor message."""
    return _json(
        {
            "message_id": message_id,
            "conversation_id": f"conv_{person.visitor_id}",
            "sent_at": (sent_at or datetime.now(UTC)).isoformat(),
            "text": text,
            "visitor": {
                "visitor_id": person.visitor_id,
                "email": person.email,
                "name": person.name,
            },
        }
    )


def whatsapp_message(
    person: SamplePerson, message_id: str, text: str, *, sent_at: datetime | None = None
) -> bytes:
    """A WhatsApp Cloud API ``messages`` webhook carrying one text message from ``person``."""
    timestamp = int((sent_at or datetime.now(UTC)).timestamp())
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": _BUSINESS_WA_NUMBER, "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": person.name}, "wa_id": person.wa_id}],
        "messages": [
            {
                "from": person.wa_id,
                "id": message_id,
                "timestamp": str(timestamp),
                "type": "text",
                "text": {"body": text},
            }
        ],
    }
    return _json(
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}],
        }
    )


def shopify_order(
    person: SamplePerson,
    order_id: int | str,
    lines: list[tuple[str, str, int, str]],
    currency: str = "USD",
    *,
    source_name: str = "web",
    financial_status: str = "paid",
    created_at: datetime | None = None,
) -> bytes:
    """A Shopify ``orders/create`` webhook body; ``lines`` are ``(sku, title, quantity, price)``.

    ``order_id`` must be numeric, as Shopify's are.
    Prices are decimal strings, as Shopify sends them; the totals are computed exactly.
    ``source_name="pos"`` makes it a Shopify POS sale.
    """
    total = sum((Decimal(price) * quantity for _, _, quantity, price in lines), Decimal(0))
    first, _, last = person.name.partition(" ")
    numeric_id = int(order_id)
    return _json(
        {
            "id": numeric_id,
            "admin_graphql_api_id": f"gid://shopify/Order/{numeric_id}",
            "name": f"#{1000 + numeric_id % 9000}",
            "created_at": (created_at or datetime.now(UTC)).isoformat(timespec="seconds"),
            "currency": currency,
            "presentment_currency": currency,
            "subtotal_price": f"{total:.2f}",
            "total_price": f"{total:.2f}",
            "total_tax": "0.00",
            "email": person.email,
            "phone": person.phone,
            "financial_status": financial_status,
            "gateway": "shopify_payments",
            "payment_gateway_names": ["shopify_payments"],
            "source_name": source_name,
            "customer": {
                "id": person.shopify_customer_id,
                "email": person.email,
                "phone": person.phone,
                "first_name": first,
                "last_name": last,
            },
            "line_items": [
                {
                    "id": numeric_id * 100 + index,
                    "sku": sku,
                    "title": title,
                    "quantity": quantity,
                    "price": price,
                }
                for index, (sku, title, quantity, price) in enumerate(lines, start=1)
            ],
        }
    )


def _json(document: object) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def chat_events(count: int, people: int, tag: str) -> list[ChatMessageReceived]:
    """``count`` chat-widget events spread over ``people`` senders, so identities repeat and resolve:
    the traffic the fault tests and the benchmarks push straight into Kafka."""
    now = datetime.now(UTC)
    events = []
    for n in range(count):
        person = sample_person(f"{tag}-{n % people}")
        message_id = f"{tag}-{n}"
        events.append(
            ChatMessageReceived(
                event_id=event_id_for("widget", message_id),
                occurred_at=now,
                received_at=now,
                correlation_id=message_id,
                provider="widget",
                provider_message_id=message_id,
                sender=Sender(
                    identities=(
                        normalise_identity(IdentityKind.EMAIL, person.email),
                        normalise_identity(IdentityKind.HANDLE, person.visitor_id, provider="widget"),
                    ),
                    display_name=person.name,
                ),
                summary=f"message {n}",
                conversation_id=person.visitor_id,
            )
        )
    return events
