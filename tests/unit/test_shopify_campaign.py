"""Shopify orders carry their campaign (UTM of ``landing_site``, host of ``referring_site``) into the
contract, and analytics counts the order for that campaign (issue 10: channel effectiveness per source)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from contracts import Campaign, PurchaseRecorded
from hub.samples import sample_person, shopify_order
from projections.analytics.facts import Fact, sale_of, touch_of
from services.ingress.translate.shopify import translate

pytestmark = pytest.mark.unit

RECEIVED_AT = datetime(2026, 3, 1, 12, tzinfo=UTC)


def order(**fields: Any) -> PurchaseRecorded:
    """A sample ``orders/create`` body with ``fields`` set as Shopify sends them, translated."""
    body = json.loads(shopify_order(sample_person(3), 450789469, [("MUG-1", "Blue mug", 2, "9.50")]))
    body |= fields
    raw = json.dumps(body).encode()
    [event] = translate(raw, received_at=RECEIVED_AT, correlation_id="c", default_region="US")
    return event


def source(event: PurchaseRecorded) -> tuple[str, str]:
    fact = Fact(1, event, uuid.UUID(int=5), {"customer_id": str(uuid.UUID(int=5))})
    sale, touch = sale_of(fact), touch_of(fact)
    assert sale is not None and touch is not None
    return sale.source, touch.source


def test_utm_parameters_of_the_landing_page_and_the_referrers_host_become_the_campaign() -> None:
    event = order(
        landing_site="/products/blue-mug?utm_source=newsletter&utm_medium=email"
        "&utm_campaign=spring%20sale&utm_content=hero&ref=abc",
        referring_site="https://mail.google.com/mail/u/0/?q=private+words#inbox",
        landing_site_ref="abc",
    )
    assert event.campaign == Campaign(
        source="newsletter", medium="email", name="spring sale", content="hero", referrer="mail.google.com"
    )
    assert source(event) == ("spring sale", "spring sale")


def test_without_utm_the_referrers_host_is_the_source() -> None:
    event = order(landing_site="/", referring_site="https://www.google.com/search?q=blue+mug")
    assert event.campaign == Campaign(referrer="www.google.com")
    assert source(event) == ("www.google.com", "www.google.com")


def test_utm_source_alone_is_the_source_and_a_landing_url_may_be_absolute() -> None:
    event = order(landing_site="https://shop.example.com/?utm_source=instagram", referring_site=None)
    assert event.campaign == Campaign(source="instagram")
    assert source(event) == ("instagram", "instagram")


def test_a_pos_sale_has_no_campaign_and_counts_for_the_provider() -> None:
    event = order(source_name="pos", landing_site=None, referring_site="")
    assert event.campaign is None
    assert source(event) == ("shopify", "shopify")


def test_malformed_campaign_data_is_left_out_and_the_order_still_recorded() -> None:
    event = order(landing_site="/?utm_campaign=%00bad&utm_source=%20%20", referring_site="http://[::1/broken")
    assert event.campaign is None
    assert event.order_id == "450789469"


def test_an_event_stored_before_campaigns_existed_still_parses() -> None:
    stored = order(landing_site="/?utm_campaign=x").model_dump(mode="json")
    del stored["campaign"]
    assert PurchaseRecorded.model_validate(stored).campaign is None
