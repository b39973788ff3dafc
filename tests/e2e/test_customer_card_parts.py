"""The full card through every deployable (ingress, Kafka, timeline writer, projection, API) as processes:
provider data fills the profile (Telegram app language, Shopify marketing consent, names), an email's
attachment lands in the documents, a staff correction and an upload are on the card, and search,
timeline filters and the attribute history answer from what the processes built.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from hub import samples
from hub import samples_chat_social as social
from hub.demo import DEMO_BASKET, Webhook, new_tag, send, wait_for_card
from services.ingress.translate import telegram
from services.ingress.verify import sign_base64, sign_hex
from tests.support.deployables import RunningHub

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def _until(read: Callable[[], dict[str, Any]], done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Read until ``done`` holds (the projection follows the log asynchronously), with a deadline."""
    deadline = time.monotonic() + 60
    last = read()
    while not done(last):
        assert time.monotonic() < deadline, f"not reached in 60 s; last: {json.dumps(last)[:1000]}"
        time.sleep(0.2)
        last = read()
    return last


def test_provider_data_staff_commands_and_uploads_fill_the_card_and_its_read_api(hub: RunningHub) -> None:
    tag = new_tag()
    person, account = samples.sample_person(tag), social.social_person(tag)
    email = samples.email_message(person, f"<{tag}@mail.example.com>", "Sizes", "Do you have M?")
    order = samples.shopify_order(person, int(tag, 16) % 10**12, DEMO_BASKET)
    order = order.replace(b'"customer":{', b'"customer":{"accepts_marketing":true,')
    tg = social.telegram_message(account, int(tag[:7], 16), 1, "Hi from Telegram")
    api = hub.ports.api_url

    with httpx.Client(timeout=30) as provider, httpx.Client(timeout=30, headers=hub.api_headers) as staff:
        for hook in (
            Webhook("/webhooks/email/mta", email, {"X-Hub-Signature-256": sign_hex(email, hub.secrets.mta)}),
            Webhook(
                "/webhooks/pos/shopify",
                order,
                {"X-Shopify-Hmac-Sha256": sign_base64(order, hub.secrets.shopify)},
            ),
        ):
            assert send(provider, hub.ports.ingress_url, hook).status_code == 200
        customer = wait_for_card(staff, api, person.email, interactions=2)["customer_id"]
        url = f"{api}/v1/customers/{customer}"
        for identity in telegram.translate(
            tg, received_at=datetime.now(UTC), correlation_id="e2e", default_region="US"
        )[0].sender.identities:
            body = {"kind": identity.kind.value, "value": identity.value, "provider": identity.provider}
            assert staff.post(f"{url}/identities", json=body).status_code == 201
        assert (
            send(provider, hub.ports.ingress_url, social.telegram_hook(tg, hub.secrets.telegram)).status_code
            == 200
        )
        corrected = staff.put(f"{url}/attributes/name", json={"value": "Dr. " + person.name})
        assert corrected.status_code == 200, corrected.text
        upload = staff.post(
            f"{url}/documents",
            params={"filename": "offer.txt"},
            content=b"our offer",
            headers={"Content-Type": "text/plain"},
        )
        assert upload.status_code == 201, upload.text

        card = _until(
            lambda: staff.get(url, params={"min_position": upload.json()["position"]}).json(),
            lambda c: c.get("interaction_count", 0) >= 3,
        )
        history = staff.get(f"{url}/attributes/name/history").json()
        search = staff.get(f"{api}/v1/customers", params={"q": "dr. " + person.name.split()[0]}).json()
        chats = staff.get(f"{url}/timeline", params={"channel": "chat"}).json()

    profile = card["profile"]
    assert profile["name"] == "Dr. " + person.name and card["display_name"] == "Dr. " + person.name
    assert profile["language"] == "en"  # Telegram's language_code
    assert profile["consent_email"] is True  # Shopify's accepts_marketing
    assert [c["source"] for c in history["changes"]][:1] == ["staff"]
    assert history["changes"][0]["actor"] == "e2e-reader"
    assert any(c["source"] == "channel" and c["value"] == person.name for c in history["changes"])
    documents = {(d["kind"], d["filename"]) for d in card["documents"]}
    assert documents == {("attachment", "order-question.csv"), ("upload", "offer.txt")}
    (attachment,) = [d for d in card["documents"] if d["kind"] == "attachment"]
    assert attachment["sha256"] and attachment["size_bytes"] > 0
    (purchase,) = card["recent_purchases"]
    assert len(purchase["lines"]) == len(DEMO_BASKET) and card["payment_methods"]
    assert [item["customer_id"] for item in search["items"]] == [customer]
    assert [item["channel"] for item in chats["items"]] == ["chat"]
