"""Forgetting a customer on the real stack leaves no identifier of them in a full dump of the database.

One person emails (with a file), writes on WhatsApp (with a file), buys in the Shopify shop (same email
and phone: the customers merge) and writes to the Telegram bot, sharing their number (the bot chat joins
the same customer): all through the ingress, Kafka, the timeline writer, the projections, the relay and
the media fetcher, each its own process. A DPO looks the customer up by email and forgets them through
the API. Once every projection has handled the forget, the real ``pg_dump`` of the whole database is
searched for each identifier and name of the person: the address, the number as E.164, as digits and as
people write it, the WhatsApp number, the Telegram id and username, the name and the file names.
"""

from __future__ import annotations

import email.message
import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import format_datetime, formataddr
from uuid import UUID

import httpx
import phonenumbers
import psycopg
import pytest

from contracts.personal import ERASED
from hub import samples
from hub import samples_chat_social as social
from hub.demo import Webhook, new_tag, send
from services.ingress.verify import sign_base64, sign_hex
from tests.support.access import issue_key
from tests.support.deployables import RunningHub

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
DEADLINE_S = 60.0
PG_DUMP_CANDIDATES = ("/usr/lib/postgresql/15/bin/pg_dump", "/usr/bin/pg_dump")


@dataclass(frozen=True)
class Person:
    sample: samples.SamplePerson
    chat: social.SocialPerson
    tag: str

    @property
    def letter_file(self) -> str:
        return f"passport-{self.tag}.pdf"

    @property
    def whatsapp_file(self) -> str:
        return f"contract-{self.tag}.pdf"

    @property
    def identifiers(self) -> dict[str, str]:
        """Every identifier and name of the person the hub was given, by what it is."""
        number = phonenumbers.parse(self.sample.phone)
        national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        return {
            "email": self.sample.email,
            "phone (E.164)": self.sample.phone,
            "phone (digits, the WhatsApp number)": self.sample.wa_id,
            "phone (national)": national,
            "phone (national digits)": re.sub(r"\D", "", national),
            "telegram id": str(self.chat.telegram_id),
            "telegram username": self.chat.telegram_username,
            "display name": self.sample.name,
            "first name": self.chat.first_name,
            "last name": self.chat.last_name,
            "letter's file": self.letter_file,
            "whatsapp file": self.whatsapp_file,
        }


def _person() -> Person:
    tag = new_tag()
    first, last = f"Zelda{tag}", f"Quimby{tag}"
    sample = replace(samples.sample_person(f"forget-dump-{tag}"), name=f"{first} {last}")
    chat = replace(social.social_person(f"forget-dump-{tag}"), first_name=first, last_name=last)
    return Person(sample, chat, tag)


def _letter(hub: RunningHub, p: Person) -> Webhook:
    message = email.message.EmailMessage()
    message["From"] = formataddr((p.sample.name, p.sample.email))
    message["To"] = "support@shop.example.com"
    message["Subject"] = f"My order, {p.sample.name}"
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = f"<{p.tag}.{p.sample.email}>"  # some mail clients put the mailbox in it
    message.set_content(f"Please call me back on {p.sample.phone}.")
    message.add_attachment(b"%PDF-1.4 scan", maintype="application", subtype="pdf", filename=p.letter_file)
    body = message.as_bytes()
    headers = {"X-Hub-Signature-256": sign_hex(body, hub.secrets.mta), "Content-Type": "message/rfc822"}
    return Webhook("/webhooks/email/mta", body, headers)


def _whatsapp(hub: RunningHub, p: Person) -> Webhook:
    """A document message: the conversation is the number, the file keeps its name."""
    wa_id = p.sample.wa_id
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": p.sample.name}, "wa_id": wa_id}],
        "messages": [
            {
                "from": wa_id,
                "id": f"wamid.HBgL{wa_id}FQIAEhgU{p.tag}",
                "timestamp": str(int(time.time())),
                "type": "document",
                "document": {"id": "1234567890", "filename": p.whatsapp_file, "mime_type": "application/pdf"},
            }
        ],
    }
    change = {"value": value, "field": "messages"}
    body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [change]}]})
    return social.meta_hook(body.encode(), hub.secrets.meta_app)


def _order(hub: RunningHub, p: Person) -> Webhook:
    body = samples.shopify_order(p.sample, int(p.tag[:8], 16), [("SKU-1", "Teapot", 1, "30.00")])
    headers = {
        "X-Shopify-Hmac-Sha256": sign_base64(body, hub.secrets.shopify),
        "Content-Type": "application/json",
    }
    return Webhook("/webhooks/pos/shopify", body, headers)


def _telegram(hub: RunningHub, p: Person) -> Webhook:
    """The person presses "share my number": the bot chat joins the customer of that number."""
    message = social.telegram_message_object(p.chat, 7, None)
    message["contact"] = {
        "phone_number": p.sample.wa_id,  # Telegram sends it without the "+"
        "first_name": p.chat.first_name,
        "user_id": p.chat.telegram_id,
    }
    return social.telegram_hook(
        social.telegram_update(int(p.tag[:6], 16), "message", message), hub.secrets.telegram
    )


def _deliver(client: httpx.Client, hub: RunningHub, hook: Webhook) -> list[UUID]:
    answer = send(client, hub.ports.ingress_url, hook)
    assert answer.status_code == 200, answer.text
    return [UUID(event_id) for event_id in answer.json()["event_ids"]]


def _wait(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise TimeoutError(f"not within {DEADLINE_S:.0f} s: {what}")


def _stored(dsn: str, event_ids: list[UUID]) -> bool:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM events WHERE event_id = ANY(%s)", (event_ids,)).fetchone()
    return row is not None and row[0] == len(event_ids)


def _every_follower_reached(dsn: str, position: int) -> bool:
    """Every projection, the relay, the pipeline's rules and the media fetcher have handled ``position``."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT name, position FROM projection_checkpoints").fetchall()
    return len(rows) >= 4 and all(at >= position for _, at in rows)


def _pg_dump(dsn: str) -> str:
    """The whole database as SQL text, schemas and data, as an operator backs it up."""
    binary = next((path for path in PG_DUMP_CANDIDATES if shutil.which(path)), shutil.which("pg_dump"))
    assert binary is not None, "pg_dump is not installed"
    done = subprocess.run(
        [binary, "--no-owner", "--no-privileges", "--dbname", dsn],
        capture_output=True,
        check=True,
        text=True,
        timeout=120,
    )
    return done.stdout


def _found(dump: str, p: Person) -> dict[str, list[str]]:
    """Each identifier found in ``dump`` (case-insensitively), with the lines it is on."""
    lowered = dump.lower()
    lines = dump.splitlines()
    return {
        what: [line[:300] for line in lines if value.lower() in line.lower()][:5]
        for what, value in p.identifiers.items()
        if value.lower() in lowered
    }


def test_a_forgotten_customer_leaves_no_identifier_in_a_full_dump_of_the_database(
    hub: RunningHub, superuser_dsn: str
) -> None:
    p = _person()
    admin = {"Authorization": f"Bearer {issue_key(hub.dsn, 'dpo', roles=['admin'])}"}
    with httpx.Client(timeout=30.0) as client:
        for hook in (_letter(hub, p), _whatsapp(hub, p), _order(hub, p), _telegram(hub, p)):
            stored = _deliver(client, hub, hook)
            _wait(lambda ids=stored: _stored(hub.dsn, ids), f"{hook.path} stored")  # keeps their order

        def card() -> dict[str, object] | None:
            found = client.get(
                f"{hub.ports.api_url}/v1/customers", params={"email": p.sample.email}, headers=admin
            )
            assert found.status_code == 200, found.text
            items = found.json()["items"]
            return items[0] if len(items) == 1 and items[0]["interaction_count"] == 4 else None

        _wait(lambda: card() is not None, "one card with all four interactions")
        customer = card()
        assert customer is not None
        visible = {"email", "phone (E.164)", "telegram id", "display name", "letter's file"}  # on the card
        assert _found(_pg_dump(superuser_dsn), p).keys() >= visible  # the search sees what is readable

        forgotten = client.post(
            f"{hub.ports.api_url}/v1/customers/{customer['customer_id']}/forget",
            json={"reason": "DSR-1"},
            headers=admin,
        )
        assert forgotten.status_code == 201, forgotten.text
        position = forgotten.json()["position"]
        _wait(lambda: _every_follower_reached(hub.dsn, position), "every follower handled the forget")
        after = client.get(
            f"{hub.ports.api_url}/v1/customers/{customer['customer_id']}", headers=admin
        ).json()

    assert after["display_name"] == ERASED and after["interaction_count"] == 4
    leaked = _found(_pg_dump(superuser_dsn), p)
    assert not leaked, "readable after the forget:\n" + "\n".join(
        f"{what}: {at}" for what, at in leaked.items()
    )
