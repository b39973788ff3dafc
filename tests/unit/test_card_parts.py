"""The card's parts beyond contacts and counts, each a pure fold of events: profile attributes with their
history (staff and channel sources), interaction details, documents, purchase details; and search terms."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from pydantic import ValidationError

from contracts import (
    Attachment,
    AttributeCleared,
    AttributeName,
    AttributeSet,
    AttributeSource,
    BlobRef,
    CallRecorded,
    ChatMessageReceived,
    Direction,
    DocumentAttached,
    EmailReceived,
    Envelope,
    IdentityKind,
    IdentityLinked,
    InvalidAttribute,
    Money,
    Payment,
    PurchaseLine,
    PurchaseRecorded,
    RecordingStored,
    RefundRecorded,
    Sender,
    normalise_identity,
)
from contracts.attributes import attribute_json
from contracts.read.card_parts import ATTRIBUTE_HISTORY_CAP, Profile, ProfileHistory
from contracts.read.card_search import query_term, search_terms
from contracts.read.customer_card import CustomerCard
from projections.customer_card.evolve import Fact, evolve

pytestmark = pytest.mark.unit

T0 = datetime(2025, 6, 10, 9, 0, tzinfo=UTC)
CUSTOMER = UUID("00000000-0000-4000-8000-000000000001")
EMAIL = normalise_identity(IdentityKind.EMAIL, "ada@example.com")
PHONE = normalise_identity(IdentityKind.PHONE, "+14155550123")
SHA = "a" * 64


def _envelope(minutes: int) -> dict[str, Any]:
    at = T0 + timedelta(minutes=minutes)
    return {"event_id": uuid4(), "occurred_at": at, "received_at": at, "correlation_id": "c"}


def _fold(events: Sequence[Envelope]) -> CustomerCard:
    card: CustomerCard | None = None
    for position, event in enumerate(events, start=1):
        card = evolve(card, Fact(position, CUSTOMER, event))
    assert card is not None
    return card


def _set(name: AttributeName, value: Any, minutes: int, actor: str = "alice") -> AttributeSet:
    envelope = _envelope(minutes)
    return AttributeSet(
        **envelope,
        customer_id=CUSTOMER,
        attribute=name,
        value=value,
        source=AttributeSource.STAFF,
        actor=actor,
        source_event_id=envelope["event_id"],
    )


def _clear(name: AttributeName, minutes: int) -> AttributeCleared:
    envelope = _envelope(minutes)
    return AttributeCleared(
        **envelope,
        customer_id=CUSTOMER,
        attribute=name,
        source=AttributeSource.STAFF,
        actor="bob",
        source_event_id=envelope["event_id"],
    )


def _chat(minutes: int, **sender: Any) -> ChatMessageReceived:
    return ChatMessageReceived(
        **_envelope(minutes),
        provider="telegram",
        provider_message_id=f"m-{uuid4()}",
        sender=Sender(identities=(PHONE,), **sender),
        summary="hello",
        conversation_id="chat-1",
    )


# --- profile attributes ------------------------------------------------------------------------------


def test_a_staff_correction_keeps_the_earlier_value_in_the_fields_history() -> None:
    first = _set(AttributeName.BIRTHDAY, "1990-04-01", 1)
    fixed = _set(AttributeName.BIRTHDAY, date(1990, 4, 10), 2, actor="bob")

    card = _fold([first, fixed])

    assert card.profile.birthday == date(1990, 4, 10)
    history = card.attribute_history.birthday
    assert [(c.value, c.actor, c.source, c.event_id) for c in history] == [
        ("1990-04-01", "alice", AttributeSource.STAFF, first.event_id),
        ("1990-04-10", "bob", AttributeSource.STAFF, fixed.event_id),
    ]
    assert [c.position for c in history] == [1, 2]
    assert history[1].at == T0 + timedelta(minutes=2)


def test_clearing_an_attribute_removes_the_value_and_records_who_removed_it() -> None:
    volvo = {"brand": "Volvo", "model": "XC60"}
    card = _fold([_set(AttributeName.CAR, volvo, 1), _clear(AttributeName.CAR, 2)])

    assert card.profile.car is None
    assert [(c.value, c.cleared, c.actor) for c in card.attribute_history.car] == [
        ({"brand": "Volvo", "model": "XC60"}, False, "alice"),
        (None, True, "bob"),
    ]


def test_every_attribute_holds_its_typed_value() -> None:
    card = _fold(
        [
            _set(AttributeName.NAME, "  Ada Lovelace ", 1),
            _set(AttributeName.CHILDREN, [{"name": "Byron"}, {"birth_date": "2016-02-29"}], 2),
            _set(AttributeName.CAR, {"brand": "Volvo"}, 3),
            _set(AttributeName.PREFERENCES, ["decaf", "window seat"], 4),
            _set(AttributeName.LANGUAGE, "pt_br", 5),
            _set(AttributeName.CONSENT_SMS, False, 6),
            _set(AttributeName.CONSENT_EMAIL, True, 7),
        ]
    )

    dumped = card.profile.model_dump(mode="json")
    assert dumped == {
        "name": "Ada Lovelace",
        "birthday": None,
        "children": [{"name": "Byron", "birth_date": None}, {"name": None, "birth_date": "2016-02-29"}],
        "car": {"brand": "Volvo", "model": None},
        "preferences": ["decaf", "window seat"],
        "language": "pt-BR",
        "consent_email": True,
        "consent_sms": False,
        "consent_phone": None,
        "consent_messaging": None,
    }
    assert card.display_name == "Ada Lovelace"
    assert CustomerCard.model_validate(card.model_dump(mode="json")) == card  # survives the jsonb round trip


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (AttributeName.BIRTHDAY, "31/12/1990", "birthday"),
        (AttributeName.BIRTHDAY, "1850-01-01", "before 1900-01-01"),
        (AttributeName.CHILDREN, [{}], "a child needs a name or a birth_date"),
        (AttributeName.CHILDREN, {"name": "Tom"}, "children"),
        (AttributeName.CAR, {"model": "XC60"}, "car.brand"),
        (AttributeName.CAR, {"brand": "Volvo", "colour": "red"}, "car.colour"),
        (AttributeName.CONSENT_EMAIL, "yes", "consent_email"),
        (AttributeName.CONSENT_PHONE, 1, "consent_phone"),
        (AttributeName.LANGUAGE, "klingon", "not a valid BCP 47 language tag"),
        (AttributeName.LANGUAGE, "zz-QQ", "not a valid BCP 47 language tag"),
        (AttributeName.NAME, "   ", "name"),
        (AttributeName.PREFERENCES, "decaf", "preferences"),
    ],
)
def test_a_value_its_attribute_does_not_take_is_refused_with_a_message_naming_it(
    name: AttributeName, value: Any, message: str
) -> None:
    with pytest.raises(InvalidAttribute, match=message):
        attribute_json(name, value)
    with pytest.raises(ValidationError, match=message):
        _set(name, value, 0)


def test_a_staff_change_must_name_its_actor() -> None:
    envelope = _envelope(0)
    with pytest.raises(ValidationError, match="names its actor"):
        AttributeSet(
            **envelope,
            customer_id=CUSTOMER,
            attribute=AttributeName.NAME,
            value="Ada",
            source=AttributeSource.STAFF,
            source_event_id=envelope["event_id"],
        )


def test_channel_data_fills_the_profile_and_records_only_changes() -> None:
    first = _chat(1, display_name="Ada L", language="en-gb", email_marketing=True)
    again = _chat(2, display_name="Ada L", language="en-GB", email_marketing=True)
    moved = _chat(3, display_name="Ada L", language="de", sms_marketing=False)

    card = _fold([first, again, moved])

    assert card.profile.name == "Ada L"
    assert card.profile.language == "de"
    assert card.profile.consent_email is True
    assert card.profile.consent_sms is False
    assert [(c.value, c.source_event_id, c.provider) for c in card.attribute_history.language] == [
        ("en-GB", first.event_id, "telegram"),
        ("de", moved.event_id, "telegram"),
    ]
    assert all(c.source is AttributeSource.CHANNEL and c.actor is None for c in card.attribute_history.name)
    assert len(card.attribute_history.name) == 1


def test_a_staff_value_is_not_overwritten_by_channel_data_until_staff_remove_it() -> None:
    card = _fold(
        [
            _chat(1, display_name="ada_99"),
            _set(AttributeName.NAME, "Ada Lovelace", 2),
            _chat(3, display_name="ada_100", language="fr"),
        ]
    )
    assert card.profile.name == "Ada Lovelace"
    assert card.display_name == "Ada Lovelace"
    assert card.profile.language == "fr"  # staff never set the language
    assert [c.value for c in card.attribute_history.name] == ["ada_99", "Ada Lovelace"]

    cleared = _fold(
        [_set(AttributeName.NAME, "Ada", 1), _clear(AttributeName.NAME, 2), _chat(3, display_name="A")]
    )
    assert cleared.profile.name == "A"
    assert [c.source for c in cleared.attribute_history.name] == [
        AttributeSource.STAFF,
        AttributeSource.STAFF,
        AttributeSource.CHANNEL,
    ]


def test_channel_data_that_is_no_valid_value_and_outbound_messages_set_nothing() -> None:
    outbound = ChatMessageReceived(
        **_envelope(2),
        provider="telegram",
        provider_message_id="out-1",
        sender=Sender(identities=(PHONE,), display_name="Dear customer", language="en"),
        direction=Direction.OUTBOUND,
        conversation_id="chat-1",
    )
    card = _fold([_chat(1, language="no such language"), outbound])

    assert card.profile == Profile()
    assert card.attribute_history == ProfileHistory()


def test_an_attributes_history_keeps_the_newest_changes_up_to_the_cap() -> None:
    events = [_set(AttributeName.PREFERENCES, [f"p{n}"], n) for n in range(ATTRIBUTE_HISTORY_CAP + 5)]
    history = _fold(events).attribute_history.preferences
    assert len(history) == ATTRIBUTE_HISTORY_CAP
    assert history[-1].value == [f"p{ATTRIBUTE_HISTORY_CAP + 4}"]
    assert history[0].value == ["p5"]


def test_profile_and_history_name_every_attribute() -> None:
    names = {name.value for name in AttributeName}
    assert set(Profile.model_fields) == names
    assert set(ProfileHistory.model_fields) == names


# --- interactions, documents -------------------------------------------------------------------------


def _email(minutes: int, *attachments: Attachment) -> EmailReceived:
    return EmailReceived(
        **_envelope(minutes),
        provider="mailgun",
        provider_message_id=f"<{uuid4()}@mail>",
        sender=Sender(identities=(EMAIL,)),
        summary="About my order",
        subject="About my order",
        message_id="<m2@mail>",
        in_reply_to="<m1@mail>",
        attachments=attachments,
    )


def _call(minutes: int) -> CallRecorded:
    return CallRecorded(
        **_envelope(minutes),
        provider="twilio",
        provider_message_id=f"CA{uuid4().hex}",
        sender=Sender(identities=(PHONE,)),
        summary="Inbound call",
        call_id="CA1",
        direction=Direction.OUTBOUND,
        from_number="+15005550006",
        to_number="+14155550123",
        duration_s=125,
        status="completed",
        agent="alice",
    )


def test_letters_and_calls_carry_their_details_and_a_stored_recording_is_referenced_from_its_call() -> None:
    call = _call(2)
    recording = RecordingStored(
        **_envelope(3),
        customer_id=CUSTOMER,
        call_event_id=call.event_id,
        call_id="CA1",
        recording=BlobRef(sha256=SHA, size_bytes=4000),
        content_type="audio/mpeg",
        duration_s=120,
    )

    card = _fold([_email(1), call, recording])

    call_view, letter_view = card.recent_interactions
    assert letter_view.details is not None
    assert (letter_view.details.subject, letter_view.details.message_id, letter_view.details.in_reply_to) == (
        "About my order",
        "<m2@mail>",
        "<m1@mail>",
    )
    assert call_view.direction == "outbound"
    assert call_view.details is not None
    assert (call_view.details.duration_s, call_view.details.agent, call_view.details.call_status) == (
        125,
        "alice",
        "completed",
    )
    assert call_view.details.recording is not None
    assert call_view.details.recording.sha256 == SHA
    assert call_view.details.recording.event_id == recording.event_id
    assert [(d.kind, d.sha256, d.content_type, d.size_bytes) for d in card.documents] == [
        ("recording", SHA, "audio/mpeg", 4000)
    ]


def test_attachments_and_uploads_are_documents_newest_first_with_type_and_size() -> None:
    pdf = Attachment(filename="invoice.pdf", content_type="application/pdf", size_bytes=1234, sha256="b" * 64)
    photo = Attachment(filename="photo.jpg", content_type="image/jpeg", size_bytes=99)
    upload = DocumentAttached(
        **_envelope(2),
        customer_id=CUSTOMER,
        document=BlobRef(sha256="c" * 64, size_bytes=10),
        content_type="text/plain",
        filename="contract.txt",
        title="Signed contract",
        actor="alice",
    )

    card = _fold([_email(1, pdf, photo), upload])

    assert card.document_count == 3
    assert [(d.kind, d.filename, d.sha256, d.size_bytes, d.actor) for d in card.documents] == [
        ("upload", "contract.txt", "c" * 64, 10, "alice"),
        ("attachment", "invoice.pdf", "b" * 64, 1234, None),
        ("attachment", "photo.jpg", None, 99, None),
    ]
    assert card.documents[0].title == "Signed contract"
    assert card.recent_interactions[0].details is not None
    assert card.recent_interactions[0].details.attachment_count == 2


# --- purchases ---------------------------------------------------------------------------------------


def _purchase(
    order_id: str, amount: str, minutes: int, method: str, currency: str = "USD"
) -> PurchaseRecorded:
    money = Money(amount=Decimal(amount), currency=currency)
    return PurchaseRecorded(
        **_envelope(minutes),
        provider="shopify",
        provider_message_id=order_id,
        sender=Sender(identities=(EMAIL,)),
        order_id=order_id,
        lines=(PurchaseLine(sku="T1", name="Tea", quantity=Decimal(2), unit_price=money, total=money),),
        total=money,
        payments=(Payment(method=method, amount=money, status="paid"),),
    )


def test_purchases_keep_lines_payments_first_and_last_dates_average_and_refunds_per_order() -> None:
    refund = RefundRecorded(
        **_envelope(5),
        provider="shopify",
        provider_message_id="refund-1",
        sender=Sender(identities=(EMAIL,)),
        order_id="o-2",
        refund_id="r-1",
        amount=Money(amount=Decimal("4.00"), currency="USD"),
        reason="broken cup",
    )
    card = _fold(
        [
            _purchase("o-1", "10.00", 3, "card"),
            _purchase("o-2", "20.00", 1, "card"),  # delivered late: first purchase all the same
            _purchase("o-3", "7.00", 4, "cash", "EUR"),
            _purchase("o-4", "0.01", 6, "cash"),
            refund,
        ]
    )

    assert card.purchase_count == 4
    assert card.purchase_counts == {"USD": 3, "EUR": 1}
    assert card.first_purchase_at == T0 + timedelta(minutes=1)
    assert card.last_purchase_at == T0 + timedelta(minutes=6)
    assert card.average_order == {"EUR": Decimal("7.00"), "USD": Decimal("10.00")}
    assert card.payment_methods == {"card": 2, "cash": 2}
    assert card.lifetime_value == {"EUR": Decimal("7.00"), "USD": Decimal("26.01")}
    by_order = {p.order_id: p for p in card.recent_purchases}
    assert by_order["o-2"].refunded == Decimal("4.00")
    assert by_order["o-1"].refunded == 0
    assert [(line.sku, line.quantity) for line in by_order["o-1"].lines] == [("T1", Decimal(2))]
    assert [p.method for p in by_order["o-3"].payments] == ["cash"]
    refunds = [(r.order_id, r.amount, r.reason) for r in card.recent_refunds]
    assert refunds == [("o-2", Decimal("4.00"), "broken cup")]


# --- search terms ------------------------------------------------------------------------------------


def test_a_card_is_found_by_folded_names_words_emails_and_phone_digits() -> None:
    linked = [
        IdentityLinked(
            **_envelope(4),
            customer_id=CUSTOMER,
            identity=identity,
            rule="test",
            evidence_event_id=uuid4(),
        )
        for identity in (EMAIL, PHONE)
    ]
    renamed = _set(AttributeName.NAME, "Pepe Álvarez", 5)
    card = _fold([_chat(1, display_name="José  Álvarez"), *linked, renamed])

    terms = search_terms(card)

    assert {"pepe alvarez", "pepe", "alvarez", "ada@example.com", "14155550123", "4155550123"} <= terms
    assert "jose" not in terms  # the staff name replaced the channel's display name
    for query in ("Pepe", "ALV", "pepe alv", "ada@", "+1 415 555", "(415) 555-01"):
        assert any(term.startswith(query_term(query)) for term in terms), query
    assert not any(term.startswith(query_term("bob")) for term in terms)
    merged_away = card.model_copy(update={"merged_into": uuid4()})
    assert search_terms(merged_away) == set()


@pytest.mark.parametrize(
    ("typed", "region"),
    [
        ("8 (916) 123-45-67", "RU"),
        ("8-916-123-45-67", "RU"),
        ("+7 916 123-45-67", "RU"),
        ("+7 916 123", "US"),
    ],
)
def test_a_phone_typed_in_its_national_form_finds_the_card_in_the_default_region(
    typed: str, region: str
) -> None:
    moscow = normalise_identity(IdentityKind.PHONE, "+79161234567")
    linked = IdentityLinked(
        **_envelope(2), customer_id=CUSTOMER, identity=moscow, rule="test", evidence_event_id=uuid4()
    )
    card = _fold([_chat(1), linked])

    terms = search_terms(card)

    assert any(term.startswith(query_term(typed, region)) for term in terms)


def test_a_national_form_is_read_in_the_default_region_only() -> None:
    assert query_term("8 (916) 123-45-67", "US") == "89161234567"  # not a US number: its digits, as typed
