"""The contracts library: identity normal forms, deterministic ids, strict models, the registry."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from pydantic import ValidationError

from contracts import (
    ChatMessageReceived,
    CustomerMergedInto,
    EmailReceived,
    Identity,
    IdentityKind,
    IdentityLinked,
    InvalidIdentity,
    Money,
    PurchaseLine,
    PurchaseRecorded,
    Sender,
    SocialMessageReceived,
    UnknownEventType,
    event_class,
    event_id_for,
    normalise_identity,
    parse_event,
)
from contracts.base import STORED

pytestmark = pytest.mark.unit

AT = datetime(2025, 6, 9, 12, 0, tzinfo=UTC)
EMAIL = normalise_identity(IdentityKind.EMAIL, "ada@example.com")


def _envelope(message_id: str) -> dict[str, Any]:
    return {
        "event_id": event_id_for("test", message_id),
        "occurred_at": AT,
        "received_at": AT,
        "correlation_id": f"corr-{message_id}",
    }


def _chat(message_id: str = "m1") -> ChatMessageReceived:
    return ChatMessageReceived(
        **_envelope(message_id),
        provider="widget",
        provider_message_id=message_id,
        sender=Sender(identities=(EMAIL,)),
        conversation_id="conv-1",
    )


def _purchase(amount: str, currency: str = "USD") -> PurchaseRecorded:
    money = Money(amount=Decimal(amount), currency=currency)
    return PurchaseRecorded(
        **_envelope(f"order-{amount}"),
        provider="shopify",
        provider_message_id=f"order-{amount}",
        sender=Sender(identities=(EMAIL,)),
        order_id="1001",
        lines=(PurchaseLine(name="Tea", quantity=Decimal("1"), unit_price=money, total=money),),
        total=money,
    )


# --- email ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("Ada.Lovelace@Example.COM", "ada.lovelace@example.com"),
        ("  ada@example.com\n", "ada@example.com"),
        ("ADA+news@EXAMPLE.com", "ada+news@example.com"),
    ],
)
def test_an_email_is_trimmed_and_lower_cased(raw: str, normal: str) -> None:
    assert normalise_identity(IdentityKind.EMAIL, raw).value == normal


def test_emails_differing_only_in_case_and_spaces_are_the_same_identity() -> None:
    first = normalise_identity(IdentityKind.EMAIL, " Ada@Example.com")
    second = normalise_identity(IdentityKind.EMAIL, "ada@EXAMPLE.COM ")
    assert first == second
    assert first.key == second.key == "email:ada@example.com"


def test_sub_addressing_is_kept_so_plus_addresses_stay_distinct() -> None:
    plain = normalise_identity(IdentityKind.EMAIL, "ada@example.com")
    tagged = normalise_identity(IdentityKind.EMAIL, "ada+shop@example.com")
    assert plain.key != tagged.key


@pytest.mark.parametrize(
    "raw", ["", "   ", "ada", "ada@example", "@example.com", "ada@@example.com", "a da@x.com"]
)
def test_a_value_that_is_not_an_email_address_raises_invalid_identity(raw: str) -> None:
    with pytest.raises(InvalidIdentity):
        normalise_identity(IdentityKind.EMAIL, raw)


# --- phone ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "region", "normal"),
    [
        ("(415) 555-0100", "US", "+14155550100"),
        ("415 555 0100", "US", "+14155550100"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("030 1234567", "DE", "+49301234567"),
    ],
)
def test_a_national_phone_number_is_read_in_the_default_region_and_becomes_e164(
    raw: str, region: str, normal: str
) -> None:
    assert normalise_identity(IdentityKind.PHONE, raw, default_region=region).value == normal


@pytest.mark.parametrize("region", ["US", "GB", "DE"])
def test_a_phone_number_in_international_form_ignores_the_default_region(region: str) -> None:
    identity = normalise_identity(IdentityKind.PHONE, "+44 20 7946 0958", default_region=region)
    assert identity.value == "+442079460958"


def test_an_e164_phone_number_is_already_in_normal_form() -> None:
    assert normalise_identity(IdentityKind.PHONE, "+14155550100").value == "+14155550100"


def test_the_same_phone_written_two_ways_is_the_same_identity() -> None:
    national = normalise_identity(IdentityKind.PHONE, "(415) 555-0100", default_region="US")
    international = normalise_identity(IdentityKind.PHONE, "+1 415-555-0100", default_region="GB")
    assert national.key == international.key == "phone:+14155550100"


@pytest.mark.parametrize("raw", ["", "not a number", "12", "+1 415", "++--"])
def test_a_value_that_is_not_a_phone_number_raises_invalid_identity(raw: str) -> None:
    with pytest.raises(InvalidIdentity):
        normalise_identity(IdentityKind.PHONE, raw, default_region="US")


# --- other kinds and providers -------------------------------------------------------------------


def test_a_handle_is_trimmed_and_its_provider_lower_cased() -> None:
    identity = normalise_identity(IdentityKind.HANDLE, "  v_123 ", provider=" Widget ")
    assert identity == Identity(kind=IdentityKind.HANDLE, value="v_123", provider="widget")


@pytest.mark.parametrize("kind", [IdentityKind.HANDLE, IdentityKind.EXTERNAL])
def test_a_provider_qualified_kind_without_a_provider_raises_invalid_identity(kind: IdentityKind) -> None:
    with pytest.raises(InvalidIdentity):
        normalise_identity(kind, "v_123")


def test_a_handle_built_without_a_provider_is_rejected_by_the_model() -> None:
    with pytest.raises(ValidationError):
        Identity(kind=IdentityKind.HANDLE, value="v_123")


@pytest.mark.parametrize("kind", [IdentityKind.EMAIL, IdentityKind.PHONE, IdentityKind.LOYALTY])
def test_an_unqualified_kind_with_a_provider_is_rejected(kind: IdentityKind) -> None:
    value = {IdentityKind.EMAIL: "ada@example.com", IdentityKind.PHONE: "+14155550100"}.get(kind, "card-1")
    with pytest.raises(InvalidIdentity):
        normalise_identity(kind, value, provider="shop")


@pytest.mark.parametrize("kind", [IdentityKind.HANDLE, IdentityKind.LOYALTY, IdentityKind.EXTERNAL])
def test_an_empty_value_raises_invalid_identity(kind: IdentityKind) -> None:
    provider = "shop" if kind is not IdentityKind.LOYALTY else None
    with pytest.raises(InvalidIdentity):
        normalise_identity(kind, "   ", provider=provider)


# --- keys ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("identity", "key"),
    [
        (normalise_identity(IdentityKind.EMAIL, "ada@example.com"), "email:ada@example.com"),
        (normalise_identity(IdentityKind.PHONE, "+14155550100"), "phone:+14155550100"),
        (normalise_identity(IdentityKind.LOYALTY, "card-77"), "loyalty:card-77"),
        (normalise_identity(IdentityKind.HANDLE, "v_1", provider="widget"), "handle:widget:v_1"),
        (normalise_identity(IdentityKind.EXTERNAL, "4711", provider="shopify"), "external:shopify:4711"),
        (normalise_identity(IdentityKind.HANDLE, "a:b", provider="telegram"), "handle:telegram:a:b"),
    ],
)
def test_an_identity_key_parses_back_to_the_same_identity(identity: Identity, key: str) -> None:
    assert identity.key == key
    assert Identity.parse_key(key) == identity


def test_parsing_a_key_normalises_its_value_and_provider() -> None:
    assert Identity.parse_key("email:Ada@Example.COM").key == "email:ada@example.com"
    assert Identity.parse_key("handle:Widget:v_1").key == "handle:widget:v_1"
    assert Identity.parse_key("phone:020 7946 0958", default_region="GB").key == "phone:+442079460958"


@pytest.mark.parametrize("key", ["handle:v_1", "handle::v_1", "external:4711"])
def test_a_handle_or_external_key_without_a_provider_is_rejected(key: str) -> None:
    with pytest.raises(InvalidIdentity):
        Identity.parse_key(key)


@pytest.mark.parametrize("key", ["twitter:ada", "ada@example.com", ""])
def test_a_key_of_an_unknown_kind_is_rejected(key: str) -> None:
    with pytest.raises(InvalidIdentity):
        Identity.parse_key(key)


# --- ids -----------------------------------------------------------------------------------------


def test_the_event_id_of_a_provider_message_is_the_same_every_time() -> None:
    first = event_id_for("mailgun", "<abc@mail>")
    assert first == event_id_for("mailgun", "<abc@mail>")
    assert isinstance(first, UUID)
    assert first.version == 8  # RFC 9562 "custom": an HMAC, see tests/unit/test_ids.py


def test_the_same_message_id_from_another_provider_is_another_event() -> None:
    assert event_id_for("mailgun", "42") != event_id_for("telegram", "42")
    assert event_id_for("mailgun", "42") != event_id_for("mailgun", "43")


def test_provider_and_message_id_cannot_run_into_each_other() -> None:
    assert event_id_for("ab", "c") != event_id_for("a", "bc")


@pytest.mark.parametrize(("provider", "message_id"), [("", "42"), ("mailgun", "")])
def test_an_event_id_needs_both_provider_and_message_id(provider: str, message_id: str) -> None:
    with pytest.raises(ValueError, match="required"):
        event_id_for(provider, message_id)


# --- models --------------------------------------------------------------------------------------


def test_an_event_is_frozen() -> None:
    event = _chat()
    with pytest.raises(ValidationError):
        event.summary = "changed"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        EMAIL.value = "eve@example.com"  # type: ignore[misc]


def test_an_event_with_an_unknown_field_is_rejected() -> None:
    data = _chat().model_dump(mode="json")
    with pytest.raises(ValidationError, match="extra"):
        ChatMessageReceived.model_validate({**data, "surprise": 1})
    with pytest.raises(ValidationError, match="extra"):
        Identity.model_validate({"kind": "email", "value": "ada@example.com", "nickname": "ada"})


def test_an_event_with_a_naive_timestamp_is_rejected() -> None:
    data = _chat().model_dump()
    with pytest.raises(ValidationError):
        ChatMessageReceived.model_validate({**data, "occurred_at": datetime(2025, 6, 9, 12, 0)})


def test_every_event_carries_its_type_and_schema_version() -> None:
    event = _chat()
    assert (event.event_type, event.schema_version) == ("interaction.chat.received", 1)
    assert ChatMessageReceived.type_fields() == {
        "event_type": "interaction.chat.received",
        "schema_version": 1,
    }


@pytest.mark.parametrize(
    ("event_type", "cls"),
    [
        ("interaction.email.received", EmailReceived),
        ("interaction.chat.received", ChatMessageReceived),
        ("interaction.social.received", SocialMessageReceived),
        ("interaction.pos.purchase", PurchaseRecorded),
        ("customer.identity.linked", IdentityLinked),
        ("customer.merged_into", CustomerMergedInto),
    ],
)
def test_the_registry_knows_each_event_type_at_version_1(event_type: str, cls: type) -> None:
    assert event_class(event_type, 1) is cls


def test_parse_event_picks_the_class_by_type_and_version() -> None:
    chat = _chat()
    parsed = parse_event(json.loads(chat.model_dump_json()))
    assert type(parsed) is ChatMessageReceived
    assert parsed == chat


def test_parse_event_rejects_an_unknown_type() -> None:
    data = {**json.loads(_chat().model_dump_json()), "event_type": "interaction.fax.received"}
    with pytest.raises(UnknownEventType, match="fax"):
        parse_event(data)


def test_parse_event_rejects_a_known_type_at_an_unknown_version() -> None:
    data = {**json.loads(_chat().model_dump_json()), "schema_version": 2}
    with pytest.raises(UnknownEventType):
        parse_event(data)


def test_parse_event_rejects_data_without_a_type() -> None:
    with pytest.raises(UnknownEventType):
        parse_event({"schema_version": 1})


def test_money_stays_an_exact_decimal_through_a_json_round_trip() -> None:
    purchase = _purchase("19.9900")
    text = purchase.model_dump_json()
    parsed = parse_event(json.loads(text))
    assert isinstance(parsed, PurchaseRecorded)
    assert isinstance(parsed.total.amount, Decimal)
    assert parsed.total.amount == Decimal("19.99")
    assert parsed.lines[0].unit_price.amount == Decimal("19.99")
    assert parsed == purchase
    assert '"amount":"19.9900"' in text  # a string in JSON, not a float


def test_money_never_accepts_more_precision_than_it_can_keep() -> None:
    with pytest.raises(ValidationError):
        Money(amount=Decimal("0.00001"), currency="USD")
    with pytest.raises(ValidationError):
        Money(amount=Decimal("1"), currency="usd")


def test_a_purchase_with_lines_in_two_currencies_is_rejected() -> None:
    usd = Money(amount=Decimal("1"), currency="USD")
    eur = Money(amount=Decimal("1"), currency="EUR")
    data = _purchase("1").model_dump()
    data["lines"] = [
        {"name": "a", "quantity": Decimal(1), "unit_price": usd, "total": usd},
        {"name": "b", "quantity": Decimal(1), "unit_price": eur, "total": eur},
    ]
    with pytest.raises(ValidationError, match="one currency"):
        PurchaseRecorded.model_validate(data)


@pytest.mark.parametrize("code", ["XBT", "ABC", "RUR"])
def test_a_currency_iso_4217_does_not_list_is_refused_naming_the_code(code: str) -> None:
    with pytest.raises(ValidationError, match=f"currency {code} is not an ISO 4217 code"):
        Money(amount=Decimal("1"), currency=code)


def test_an_event_the_hub_stored_keeps_the_currency_it_was_stored_with() -> None:
    stored = json.loads(_purchase("5").model_dump_json().replace('"USD"', '"XBT"'))

    parsed = parse_event(stored, STORED)

    assert isinstance(parsed, PurchaseRecorded) and parsed.total.currency == "XBT"
    with pytest.raises(ValidationError, match="ISO 4217"):
        parse_event(stored)


def test_a_purchase_stored_before_discounts_and_agents_existed_still_parses_as_undiscounted() -> None:
    stored = json.loads(_purchase("5").model_dump_json())
    for added in ("discount", "discount_codes", "agent_id"):
        del stored[added]
    del stored["lines"][0]["discount"]

    parsed = parse_event(stored)

    assert isinstance(parsed, PurchaseRecorded)
    assert (parsed.discount, parsed.discount_codes, parsed.agent_id, parsed.discounted) == (
        None,
        (),
        None,
        False,
    )


def test_a_purchase_counts_as_discounted_by_its_discount_its_codes_or_a_line_below_list_price() -> None:
    plain = _purchase("10")
    usd = Money(amount=Decimal("2"), currency="USD")
    line = plain.lines[0]

    assert not plain.discounted
    assert not plain.model_copy(update={"discount": Money(amount=Decimal(0), currency="USD")}).discounted
    assert plain.model_copy(update={"discount": usd}).discounted
    assert plain.model_copy(update={"discount_codes": ("SPRING10",)}).discounted
    assert plain.model_copy(update={"lines": (line.model_copy(update={"discount": usd}),)}).discounted


def test_a_purchase_discount_is_in_the_order_currency_and_never_negative() -> None:
    data = _purchase("10").model_dump()
    with pytest.raises(ValidationError, match="currency of the total"):
        PurchaseRecorded.model_validate({**data, "discount": {"amount": "1", "currency": "EUR"}})
    with pytest.raises(ValidationError, match="must not be negative"):
        PurchaseRecorded.model_validate({**data, "discount": {"amount": "-1", "currency": "USD"}})
