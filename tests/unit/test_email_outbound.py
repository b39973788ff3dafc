"""Mail the business sends through its MTA is an outbound interaction with the recipient customer."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

from contracts import Direction, IdentityKind
from services.ingress.errors import IgnoredDelivery
from services.ingress.translate.email_mta import BusinessMailTranslator

CONTEXT = {"received_at": datetime(2026, 3, 1, tzinfo=UTC), "correlation_id": "c", "default_region": "US"}
OURS = BusinessMailTranslator(["Shop.Example.com"])


def _mail(sender: str, to: str, cc: str | None = None) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    if cc is not None:
        message["Cc"] = cc
    message["Subject"] = "Your order"
    message["Message-ID"] = "<sent-1@shop.example.com>"
    message.set_content("It ships tomorrow.")
    return message.as_bytes()


def test_mail_from_a_business_domain_is_outbound_to_the_first_outside_recipient() -> None:
    raw = _mail(
        "Support <support@shop.example.com>",
        "orders@shop.example.com, Ada Lovelace <Ada@Example.org>, bob@example.net",
    )
    [event] = OURS(raw, **CONTEXT)

    assert event.direction is Direction.OUTBOUND
    assert [(i.kind, i.value) for i in event.sender.identities] == [(IdentityKind.EMAIL, "ada@example.org")]
    assert event.sender.display_name == "Ada Lovelace"
    assert event.to == ("orders@shop.example.com", "ada@example.org", "bob@example.net")


def test_a_customer_only_in_cc_is_the_recipient_of_outbound_mail() -> None:
    [event] = OURS(_mail("support@shop.example.com", "sales@shop.example.com", "ada@example.org"), **CONTEXT)

    assert event.direction is Direction.OUTBOUND
    assert event.sender.identities[0].value == "ada@example.org"


def test_mail_from_a_customer_stays_inbound_from_its_sender() -> None:
    [event] = OURS(_mail("ada@example.org", "support@shop.example.com"), **CONTEXT)

    assert event.direction is Direction.INBOUND
    assert event.sender.identities[0].value == "ada@example.org"


def test_internal_mail_between_business_addresses_is_ignored() -> None:
    with pytest.raises(IgnoredDelivery, match="internal mail"):
        OURS(_mail("support@shop.example.com", "sales@shop.example.com"), **CONTEXT)


def test_without_business_domains_every_message_is_inbound() -> None:
    [event] = BusinessMailTranslator([])(_mail("support@shop.example.com", "ada@example.org"), **CONTEXT)

    assert event.direction is Direction.INBOUND
    assert event.sender.identities[0].value == "support@shop.example.com"
