"""Sealing by construction, proven on generated people: whatever a provider or a staff member puts where,
no identifier of the person is readable in the stored events.

For each generated person (a name, an email address, a phone number in several formats, Telegram, VK and
Meta ids and handles, a file name) the test makes every kind of event the hub stores, the way the hub
makes it: every provider's delivery through the ingress's real translators (with its evidence), the
timeline writer's real resolution (identity links, merges), the media fetcher's real outcome builders,
and the staff's commands as their contracts take them (titles, notes and reasons that mention the
person). All of it is appended through the real store, so the real sealing code seals it. Then every
stored row (event id, stream, data, metadata) is searched for each identifier, also lower-cased and, for
the phone, as digits only; and no interaction's id may be the unkeyed UUIDv5 an attacker could recompute
from a guessed number. A contract of the registry that the generator does not produce fails the test, so
a new event type cannot be left out.
"""

from __future__ import annotations

import asyncio
import email.message
import json
import re
import string
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime, formataddr
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID, uuid5

import phonenumbers
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql
from psycopg_pool import AsyncConnectionPool
from starlette.datastructures import Headers

from contracts import (
    AttributeCleared,
    AttributeName,
    AttributeSet,
    AttributeSource,
    BlobRef,
    CustomerRestored,
    CustomerUnmerged,
    DealExpectedCloseChanged,
    DealLost,
    DealOpened,
    DealReopened,
    DealStageMoved,
    DealWon,
    DocumentAttached,
    Envelope,
    IdentityKind,
    IdentityUnlinked,
    InteractionEvent,
    Money,
    NoteAdded,
    customer_stream,
    deal_stream,
    normalise_identity,
    note_stream,
)
from contracts.erasure import CustomerForgotten
from contracts.registry import _KNOWN
from contracts.sales import DealAmountChanged, DealOwnerChanged
from contracts.sales_tasks import (
    Routing,
    TaskAssigned,
    TaskCancelled,
    TaskCompleted,
    TaskCreated,
    TaskKind,
    TaskQueued,
    TaskReleased,
    queue_stream,
    task_stream,
)
from hub import samples
from hub import samples_chat_social as social
from hub import samples_email_generic as mail
from hub import samples_pos_voice as pv
from hub.stack import Infra
from plumbing.blobs import blob_ref
from plumbing.eventstore import NewEvent, PostgresEventStore, RecordedEvent
from plumbing.eventstore.postgres import Conn
from services.ingress.delivery import Delivery
from services.ingress.endpoints import ENDPOINTS
from services.ingress.evidence import evidence_of, with_evidence
from services.ingress.providers import square, till, twilio
from services.ingress.settings import IngressSettings
from services.media import recordings
from services.media.messages import media_jobs, media_stored, media_unavailable
from services.timeline.store import record_interactions
from tests.support.infra import with_database

pytestmark = [pytest.mark.security, pytest.mark.integration, pytest.mark.timeout(600)]

NOW = datetime(2025, 6, 10, 12, 0, tzinfo=UTC)
#: The namespace of the unkeyed UUIDv5 event ids of stores before HUB_ID_KEY.
LEGACY_NAMESPACE = UUID("6f0c3c52-6a51-4d0e-9a52-3d2f1c1b7e10")
STAFF = "agent.smith"
REGIONS = ("US", "GB", "DE", "FR", "BR", "IN", "RU", "NG")


# --- the person ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """One generated person and every identifier providers and staff may write of them."""

    first: str
    last: str
    email: str
    phone: phonenumbers.PhoneNumber
    telegram_id: int
    telegram_username: str
    vk_id: int
    psid: str
    igsid: str
    instagram_username: str
    facebook_id: str
    visitor_id: str
    shopify_customer_id: int
    file_name: str

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"

    @property
    def e164(self) -> str:
        return phonenumbers.format_number(self.phone, phonenumbers.PhoneNumberFormat.E164)

    @property
    def phone_formats(self) -> list[str]:
        """How people and providers write the number: E.164, international, national, digits only."""
        formats = phonenumbers.PhoneNumberFormat
        return [
            self.e164,
            phonenumbers.format_number(self.phone, formats.INTERNATIONAL),
            phonenumbers.format_number(self.phone, formats.NATIONAL),
            self.e164.removeprefix("+"),
        ]

    def sample(self) -> samples.SamplePerson:
        return samples.SamplePerson(
            name=self.name,
            email=self.email,
            phone=self.e164,
            visitor_id=self.visitor_id,
            wa_id=self.e164.removeprefix("+"),
            shopify_customer_id=self.shopify_customer_id,
        )

    def social(self) -> social.SocialPerson:
        return social.SocialPerson(
            first_name=self.first,
            last_name=self.last,
            telegram_id=self.telegram_id,
            telegram_username=self.telegram_username,
            vk_id=self.vk_id,
            psid=self.psid,
            igsid=self.igsid,
            instagram_username=self.instagram_username,
            facebook_id=self.facebook_id,
        )

    def needles(self) -> set[str]:
        """Every identifier, as written and lower-cased (the phone's digits are searched apart)."""
        found = {
            self.first,
            self.last,
            self.email,
            self.email.partition("@")[0],
            *self.phone_formats,
            str(self.phone.national_number),
            str(self.telegram_id),
            self.telegram_username,
            str(self.vk_id),
            self.psid,
            self.igsid,
            self.instagram_username,
            self.facebook_id,
            self.visitor_id,
            str(self.shopify_customer_id),
            self.file_name,
            self.file_name.rsplit(".", 1)[0],
        }
        return found | {needle.lower() for needle in found}


def _word(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    return st.text(string.ascii_lowercase, min_size=min_size, max_size=max_size)


def _name() -> st.SearchStrategy[str]:
    """A name with a letter no field name or fixed text of the hub has (Hypothesis also tries words from
    the code, "endpoint", "summary"...), long enough that no ciphertext holds it by chance."""
    return st.builds(
        lambda head, letter, tail: (head + letter + tail).capitalize(),
        _word(3, 7),
        st.sampled_from("äöüøåéñçł"),
        _word(3, 7),
    )


@st.composite
def people(draw: st.DrawFn) -> Person:
    region = draw(st.sampled_from(REGIONS))
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    assert example is not None
    national = str(example.national_number)
    tail = draw(st.text(string.digits, min_size=4, max_size=4))
    phone = phonenumbers.parse(f"+{example.country_code}{national[:-4]}{tail}")
    first, last = draw(_name()), draw(_name())
    mailbox = draw(_word(5, 10)) + draw(st.sampled_from(["", ".", "_", "+crm."])) + draw(_word(0, 6))
    local = f"{mailbox}{draw(st.integers(100, 99_999))}"  # digits: no word of the code is a mailbox
    domain = draw(_word(6, 12)) + "." + draw(st.sampled_from(["com", "org", "de", "co.uk", "ru"]))
    handle = f"{draw(_word(5, 12))}{draw(st.integers(100, 9_999))}"
    return Person(
        first=first,
        last=last,
        email=f"{local}@{domain}",
        phone=phone,
        telegram_id=draw(st.integers(1_000_000_000, 7_999_999_999)),
        telegram_username=f"{handle}_{draw(st.integers(10, 99))}",
        vk_id=draw(st.integers(100_000_000, 899_999_999)),
        psid=str(draw(st.integers(2 * 10**16, 3 * 10**16 - 1))),
        igsid=str(draw(st.integers(3 * 10**16, 4 * 10**16 - 1))),
        instagram_username=f"{handle}.{draw(_word(2, 6))}",
        facebook_id=str(draw(st.integers(10**15, 2 * 10**15 - 1))),
        visitor_id=f"v_{draw(st.text('0123456789abcdef', min_size=16, max_size=16))}",
        shopify_customer_id=draw(st.integers(10**12, 2 * 10**12 - 1)),
        file_name=f"{draw(st.sampled_from(['passport', 'contract', 'scan']))}-{last.lower()}"
        f"-{draw(st.integers(100, 9999))}.{draw(st.sampled_from(['pdf', 'jpg', 'png']))}",
    )


# --- every provider's deliveries of the person -------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """A delivery as it reaches an endpoint (``route``: the endpoint's path pattern)."""

    route: str
    body: bytes
    headers: dict[str, str]
    params: dict[str, str] | None = None


def _json(document: object) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def _mta_email(p: Person, tag: str) -> bytes:
    """A letter whose ids embed the sender's mailbox, as some mail clients make them, with their file."""
    local, _, domain = p.email.partition("@")
    message = email.message.EmailMessage()
    message["From"] = formataddr((p.name, p.email))
    message["To"] = "support@shop.example.com"
    message["Cc"] = formataddr((p.name, p.email))
    message["Subject"] = f"Order for {p.name}"
    message["Date"] = format_datetime(NOW)
    message["Message-ID"] = f"<{tag}.{local}@{domain}>"
    message["In-Reply-To"] = f"<previous.{local}@{domain}>"
    message.set_content(f"Hello, this is {p.first}; call me on {p.phone_formats[1]}.")
    message.add_attachment(b"%PDF-1.4 scan", maintype="application", subtype="pdf", filename=p.file_name)
    return message.as_bytes()


def _whatsapp_document(p: Person, wamid: str, media_id: str) -> bytes:
    wa_id = p.e164.removeprefix("+")
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": p.name}, "wa_id": wa_id}],
        "messages": [
            {
                "from": wa_id,
                "id": wamid,
                "timestamp": str(int(NOW.timestamp())),
                "type": "document",
                "document": {"id": media_id, "filename": p.file_name, "mime_type": "application/pdf"},
            }
        ],
    }
    change = {"value": value, "field": "messages"}
    return _json({"object": "whatsapp_business_account", "entry": [{"id": "1022", "changes": [change]}]})


def _telegram_with(p: Person, update_id: int, message_id: int, **content: Any) -> bytes:
    message = social.telegram_message_object(p.social(), message_id, None, sent_at=NOW)
    return social.telegram_update(update_id, "message", {**message, **content})


def deliveries(p: Person, n: int) -> list[Sent]:
    """What every provider sends of ``p`` (``n`` keeps ids apart between examples)."""
    sp, so, tag = p.sample(), p.social(), f"x{n}"
    text = f"Hi, {p.first} here, my number is {p.phone_formats[2]} and my mail {p.email}"
    wa_id = p.e164.removeprefix("+")
    json_type = {"Content-Type": "application/json"}
    mug = [("MUG-BLUE", "Blue mug", 1, "12.50")]
    order_id = 10_000_000 + n
    telegram, vk, meta = social.TELEGRAM_PATH, social.VK_PATH, social.META_PATH
    pdf = mail.SampleFile(p.file_name, "application/pdf", b"%PDF-1.4\n scan")
    mailgun = mail.mailgun_webhook(sp, f"<{tag}.mg.{p.email}>", f"For {p.name}", text, "k", attachments=[pdf])
    sendgrid_body, sendgrid_type = mail.sendgrid_parsed(
        sp, f"<{tag}.sg.{p.email}>", f"For {p.name}", text, attachments=[pdf]
    )
    refund = pv.shopify_refund(order_id, order_id + 1, mug, note=f"{p.first} returned it")
    shopify_refund = {"X-Shopify-Topic": "refunds/create", "X-Shopify-Webhook-Id": str(uuid.uuid4())}
    return [
        Sent("/webhooks/email/mta", _mta_email(p, tag), {"Content-Type": "message/rfc822"}),
        Sent(mail.MAILGUN_PATH, mailgun.body, mailgun.headers),
        Sent(mail.SENDGRID_PATH, sendgrid_body, {"Content-Type": sendgrid_type}),
        Sent(
            "/webhooks/chat/widget", samples.chat_message(sp, f"{tag}-widget", text, sent_at=NOW), json_type
        ),
        Sent(
            mail.GENERIC_PATH,
            mail.generic_message(sp, f"{tag}-{p.visitor_id}", text),
            json_type,
            {"channel": "chat"},
        ),
        Sent(
            meta,
            samples.whatsapp_message(sp, f"wamid.HBgL{wa_id}FQIAEhgU{tag}", text, sent_at=NOW),
            json_type,
        ),
        Sent(meta, _whatsapp_document(p, f"wamid.HBgL{wa_id}FQIAEhgU{tag}d", str(900 + n)), json_type),
        Sent(meta, social.messenger_message(so, f"m_{tag}", text, sent_at=NOW), json_type),
        Sent(meta, social.instagram_message(so, f"ig_{tag}", text, sent_at=NOW), json_type),
        Sent(meta, social.instagram_comment(so, f"{tag}1", f"{tag}2", text, sent_at=NOW), json_type),
        Sent(telegram, social.telegram_message(so, 3 * n, 7, text, sent_at=NOW), json_type),
        Sent(
            telegram,
            _telegram_with(
                p,
                3 * n + 1,
                8,
                caption=f"my {p.file_name}",
                document={
                    "file_id": f"BQACAgIAAx{tag}",
                    "file_name": p.file_name,
                    "mime_type": "application/pdf",
                },
            ),
            json_type,
        ),
        Sent(
            telegram,
            _telegram_with(
                p,
                3 * n + 2,
                9,
                contact={
                    "phone_number": p.e164.removeprefix("+"),
                    "first_name": p.first,
                    "user_id": p.telegram_id,
                },
            ),
            json_type,
        ),
        Sent(telegram, social.telegram_business_message(so, 10**6 + n, 10, text, sent_at=NOW), json_type),
        Sent(
            telegram,
            social.telegram_callback_query(
                so, 2 * 10**6 + n, f"q{tag}", "call_me", message_id=11, sent_at=NOW
            ),
            json_type,
        ),
        Sent(vk, social.vk_message_new(so, "s", 12, text, event_id=f"{tag}vk1", sent_at=NOW), json_type),
        Sent(
            vk, social.vk_wall_reply_new(so, "s", 13, 14, text, event_id=f"{tag}vk2", sent_at=NOW), json_type
        ),
        Sent(
            "/webhooks/pos/shopify",
            samples.shopify_order(sp, order_id, mug, created_at=NOW),
            {**json_type, "X-Shopify-Topic": "orders/create", "X-Shopify-Webhook-Id": str(uuid.uuid4())},
        ),
        Sent("/webhooks/pos/shopify", refund, {**json_type, **shopify_refund}),
        Sent(square.PATH, pv.square_payment(sp, f"pay{tag}", 1250, created_at=NOW), json_type),
        Sent(
            square.PATH,
            pv.square_refund(f"pay{tag}", f"ref{tag}", 500, reason=f"{p.first} changed her mind"),
            json_type,
        ),
        Sent(
            till.PATH,
            pv.till_receipt(sp, f"R-{tag}", [pv.TillItem("MUG", "Mug", 1, "12.50")], with_email=True),
            json_type,
        ),
        Sent(
            twilio.PATH,
            pv.form_body(pv.twilio_call(sp, pv.call_sid(f"{tag}a"), at=NOW)),
            {"Content-Type": "application/x-www-form-urlencoded"},
        ),
        Sent(
            twilio.PATH,
            pv.form_body(pv.twilio_call(sp, pv.call_sid(f"{tag}b"), direction="outbound-api", at=NOW)),
            {"Content-Type": "application/x-www-form-urlencoded"},
        ),
    ]


def translated(sent: Sequence[Sent]) -> list[InteractionEvent]:
    """The events the ingress makes of ``sent``, with the evidence it records."""
    settings = IngressSettings()
    events: list[InteractionEvent] = []
    for delivery in sent:
        (endpoint,) = [e.configured(settings) for e in ENDPOINTS if e.path == delivery.route]
        path = delivery.route.format(**(delivery.params or {}))
        raw = Delivery(
            delivery.body, Headers(delivery.headers), f"https://hub.example.com{path}", delivery.params or {}
        )
        made = endpoint.translator_for(raw)(
            raw.body, received_at=NOW, correlation_id=str(uuid.uuid4()), default_region="US"
        )
        evidence = evidence_of(raw, delivery.route, endpoint.scheme, 0, blob_ref(raw.body), NOW)
        events.extend(with_evidence(made, evidence))
    return events


# --- what the hub and its staff record afterwards --------------------------------------------------


def _envelope() -> dict[str, Any]:
    return {
        "event_id": uuid.uuid4(),
        "occurred_at": NOW,
        "received_at": NOW,
        "correlation_id": str(uuid.uuid4()),
    }


def media_outcomes(stored: Sequence[RecordedEvent]) -> list[tuple[str, Envelope]]:
    """The media fetcher's outcomes for the files and calls of ``stored``: one stored, one not, of each."""
    jobs = [job for recorded in stored for job in media_jobs(recorded, {"telegram", "meta_whatsapp"})]
    calls = [call for recorded in stored if (call := recordings.call_to_fetch(recorded)) is not None]
    assert len(jobs) >= 2 and len(calls) >= 2, "the deliveries carry two files and two calls"
    blob = BlobRef(sha256="ab" * 32, size_bytes=10)
    (stored_call, call), (missed_call, missed) = calls[:2]
    return [
        (jobs[0].stream_id, media_stored(jobs[0], blob, "application/pdf", NOW)),
        (jobs[1].stream_id, media_unavailable(jobs[1], "gone", 410, NOW)),
        (
            customer_stream(stored_call),
            recordings.recording_stored(call, stored_call, blob, "audio/mpeg", NOW),
        ),
        (
            customer_stream(missed_call),
            recordings.recording_unavailable(missed, missed_call, "not_found", 404, NOW),
        ),
    ]


def staff_events(p: Person, customer: UUID, other: UUID) -> list[tuple[str, Envelope, dict[str, Any]]]:
    """Every staff command's event, with the person in every field a staff member types into."""
    phone = normalise_identity(IdentityKind.PHONE, p.e164)
    mailbox = normalise_identity(IdentityKind.EMAIL, p.email)
    says = f"{p.name} <{p.email}>, {p.phone_formats[1]}"
    mine = {"customer_id": str(customer), "actor": STAFF}
    because = {**mine, "reason": f"same person: {says}"}
    deal, note, task, team = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), "support"
    usd = Money(amount=100, currency="USD")
    on_deal = {"actor": STAFF, "deal_id": deal}
    on_task = {"actor": STAFF, "task_id": task}
    stream, deals, tasks = customer_stream(customer), deal_stream(deal), task_stream(task)
    attribute = {
        "customer_id": customer,
        "source": AttributeSource.STAFF,
        "actor": STAFF,
        "source_event_id": uuid.uuid4(),
    }
    return [
        (
            stream,
            IdentityUnlinked(
                **_envelope(), customer_id=customer, identity=phone, actor=STAFF, reason=f"not {says}"
            ),
            mine,
        ),
        (
            stream,
            CustomerUnmerged(
                **_envelope(),
                customer_id=customer,
                restored_id=other,
                merge_event_id=uuid.uuid4(),
                returned_identities=(mailbox, phone),
                actor=STAFF,
                reason=says,
            ),
            because,
        ),
        (
            customer_stream(other),
            CustomerRestored(
                **_envelope(),
                customer_id=other,
                survivor_id=customer,
                merge_event_id=uuid.uuid4(),
                unmerge_event_id=uuid.uuid4(),
                returned_identities=(mailbox,),
                actor=STAFF,
                reason=says,
            ),
            because,
        ),
        (stream, AttributeSet(**_envelope(), **attribute, attribute=AttributeName.NAME, value=p.name), mine),
        (
            stream,
            AttributeSet(
                **_envelope(),
                **attribute,
                attribute=AttributeName.CHILDREN,
                value=[{"name": f"{p.first} Junior", "birth_date": date(2015, 1, 2)}],
            ),
            mine,
        ),
        (
            stream,
            AttributeSet(**_envelope(), **attribute, attribute=AttributeName.PREFERENCES, value=[p.email]),
            mine,
        ),
        (
            stream,
            AttributeSet(**_envelope(), **attribute, attribute=AttributeName.CONSENT_SMS, value=True),
            mine,
        ),
        (
            stream,
            AttributeCleared(**_envelope(), **attribute, attribute=AttributeName.CAR, reason=says),
            mine,
        ),
        (
            stream,
            DocumentAttached(
                **_envelope(),
                customer_id=customer,
                document=BlobRef(sha256="cd" * 32, size_bytes=3),
                content_type="application/pdf",
                filename=p.file_name,
                title=f"ID of {p.name}",
                actor=STAFF,
            ),
            mine,
        ),
        (
            deals,
            DealOpened(
                **_envelope(),
                **on_deal,
                customer_id=customer,
                title=f"Kitchen for {p.name}",
                amount=usd,
                pipeline_id="sales",
                stage_id="lead",
                owner_id=STAFF,
            ),
            mine,
        ),
        (deals, DealStageMoved(**_envelope(), **on_deal, from_stage="lead", to_stage="offer"), mine),
        (deals, DealAmountChanged(**_envelope(), **on_deal, previous=usd, amount=usd), mine),
        (
            deals,
            DealOwnerChanged(**_envelope(), **on_deal, previous_owner=STAFF, owner_id="agent.jones"),
            mine,
        ),
        (
            deals,
            DealExpectedCloseChanged(
                **_envelope(), **on_deal, previous=None, expected_close=date(2025, 7, 1)
            ),
            mine,
        ),
        (
            deals,
            DealLost(
                **_envelope(),
                **on_deal,
                from_stage="offer",
                stage_id="lost",
                reason="price",
                comment=f"{p.first} called from {p.phone_formats[2]}",
            ),
            mine,
        ),
        (deals, DealReopened(**_envelope(), **on_deal, from_stage="lost", stage_id="offer"), mine),
        (
            deals,
            DealWon(
                **_envelope(), **on_deal, from_stage="offer", stage_id="won", amount=usd, order_id="1001"
            ),
            mine,
        ),
        (
            note_stream(note),
            NoteAdded(**_envelope(), actor=STAFF, note_id=note, customer_id=customer, text=says),
            mine,
        ),
        (
            tasks,
            TaskCreated(
                **_envelope(),
                **on_task,
                kind=TaskKind.CALL_BACK,
                title=f"Call {says}",
                customer_id=customer,
                due_at=NOW + timedelta(days=1),
            ),
            mine,
        ),
        (
            tasks,
            TaskAssigned(**_envelope(), **on_task, assignee=STAFF, team=team, routing=Routing.ROUND_ROBIN),
            mine,
        ),
        (tasks, TaskCompleted(**_envelope(), **on_task, outcome=f"reached {says}"), mine),
        (tasks, TaskCancelled(**_envelope(), **on_task, reason=f"{p.first} moved away"), mine),
        (
            queue_stream(team),
            TaskQueued(
                **_envelope(),
                actor=STAFF,
                team=team,
                task_id=task,
                assignee=STAFF,
                routing=Routing.ROUND_ROBIN,
            ),
            {"actor": STAFF},
        ),
        (
            queue_stream(team),
            TaskReleased(
                **_envelope(), actor=STAFF, team=team, task_id=task, assignee=STAFF, why="completed"
            ),
            {"actor": STAFF},
        ),
        (
            stream,
            CustomerForgotten(
                **_envelope(), customer_id=customer, forgotten_ids=(customer,), actor="dpo", reason="DSR-1234"
            ),
            mine,
        ),
    ]


async def store_everything(dsn: str, p: Person, sent: Sequence[Sent]) -> None:
    """Append all of the person's events through the real writer and the real store."""
    async with AsyncConnectionPool[Conn](dsn, min_size=1, max_size=2) as pool:
        store = PostgresEventStore(pool)
        recorded = await record_interactions(pool, translated(sent))
        customers = sorted({r.customer_id for r in recorded if r.customer_id is not None}, key=str)
        stored = [e for e in await store.read_all(0, 10_000) if e.stream_id.startswith("customer-")]
        for stream_id, event in media_outcomes(stored):
            await store.append(
                stream_id, [NewEvent(event, {"customer_id": stream_id.removeprefix("customer-")})]
            )
        other = customers[1] if len(customers) > 1 else uuid.uuid4()
        for stream_id, event, metadata in staff_events(p, customers[0], other):
            await store.append(stream_id, [NewEvent(event, metadata)])


# --- the search ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    event_id: UUID
    stream_id: str
    event_type: str
    text: str  # data and metadata as stored (JSON)


def stored_rows(dsn: str) -> list[Row]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT event_id, stream_id, event_type, data::text || metadata::text"
            " FROM events ORDER BY position"
        ).fetchall()
    return [Row(*row) for row in rows]


def leaks(rows: Sequence[Row], p: Person) -> list[str]:
    """Where an identifier of ``p`` is readable: ``event type: needle``."""
    digits = re.sub(r"\D", "", p.e164)
    found = []
    for row in rows:
        haystack = f"{row.event_id} {row.stream_id} {row.text}"
        folded = haystack.lower()
        found += [
            f"{row.event_type}: {needle!r}" for needle in sorted(p.needles()) if needle.lower() in folded
        ]
        # The number however it is punctuated: the digits of every run of digits, spaces and signs.
        runs = re.findall(r"[\d\s().+-]{8,}", haystack)
        if any(digits in re.sub(r"\D", "", run) for run in runs):
            found.append(f"{row.event_type}: the phone's digits")
    return found


async def recomputable_ids(dsn: str) -> list[str]:
    """Interactions whose id is the unkeyed UUIDv5 of provider and message id: an attacker holding a dump
    finds the number behind it by trying every candidate (read opened: the message id itself is sealed)."""
    async with AsyncConnectionPool[Conn](dsn, min_size=1, max_size=1) as pool:
        events = await PostgresEventStore(pool).read_all(0, 10_000)
    return [
        str(event.event_id)
        for event in events
        if event.event_type.startswith("interaction.")
        and event.event_id
        == uuid5(LEGACY_NAMESPACE, f"{event.data['provider']}\x1f{event.data['provider_message_id']}")
    ]


# --- the test --------------------------------------------------------------------------------------

_examples = iter(range(1, 10**6))


class Server:
    """Where examples make their databases: the server's URL and a migrated database to copy."""

    def __init__(self, dsn: str, template: str) -> None:
        self.dsn, self.template = dsn, template

    def __repr__(self) -> str:
        return "Server(...)"  # a failing example is printed with its arguments: no credentials in it


@pytest.fixture(scope="module")
def server(infra: Infra, module_database: str) -> Server:
    return Server(infra.pg_dsn, module_database)


@contextmanager
def own_database(server: Server) -> Iterator[str]:
    """A copy of the migrated template for one example: examples (and Hypothesis' repeats of one person
    while it shrinks) must not meet each other's customers."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    template_name = urlsplit(server.template).path.lstrip("/")
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template_name)
            )
        )
    try:
        yield with_database(server.dsn, name)
    finally:
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(person=people())
def test_no_identifier_of_a_generated_person_is_readable_anywhere_in_the_stored_events(
    server: Server, person: Person
) -> None:
    sent = deliveries(person, next(_examples))
    with own_database(server) as dsn:
        asyncio.run(store_everything(dsn, person, sent))
        rows = stored_rows(dsn)
        recomputable = asyncio.run(recomputable_ids(dsn))

    assert {s.route for s in sent} == {e.path for e in ENDPOINTS}, "an ingress endpoint is not exercised"
    assert {row.event_type for row in rows} == {cls.EVENT_TYPE for cls in _KNOWN}, "a contract is not made"
    assert leaks(rows, person) == []
    assert recomputable == []
