"""One person, seven channels (email, Telegram, Instagram, VK, Shopify, Square, a phone call), one card.

Telegram, Instagram and VK identify a person only by their account on that network, so, as in a
real shop, an agent links those accounts to the customer (the staff identity command) once the
customer mentions them; email, the Shopify order (email + phone), the Square payment (email) and
the call (phone) find the customer by themselves.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from contracts import Identity
from hub import samples
from hub import samples_chat_social as social
from hub import samples_pos_voice as pos
from hub.demo import DEMO_BASKET, Webhook, new_tag, send, wait_for_card
from services.ingress.translate import meta, telegram, vk
from services.ingress.verify import sign_base64, sign_hex
from tests.support.deployables import RunningHub

pytestmark = pytest.mark.e2e

CONTEXT = {"received_at": datetime.now(UTC), "correlation_id": "e2e", "default_region": "US"}


def _accounts(translated: list[Identity]) -> list[dict[str, str | None]]:
    return [{"kind": i.kind.value, "value": i.value, "provider": i.provider} for i in translated]


def test_one_person_on_seven_channels_ends_on_one_card_with_seven_interactions_in_time_order(
    hub: RunningHub,
) -> None:
    tag = new_tag()
    person, accounts = samples.sample_person(tag), social.social_person(tag)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    at = [start + timedelta(minutes=10 * step) for step in range(7)]
    email = samples.email_message(
        person, f"<{tag}@mail.example.com>", "Sizes", "Do you have M?", sent_at=at[0]
    )
    tg = social.telegram_message(accounts, int(tag[:7], 16), 1, "Hi from Telegram", sent_at=at[1])
    ig = social.instagram_message(accounts, f"mid.{tag}", "Hi from Instagram", sent_at=at[2])
    vk_body = social.vk_message_new(
        accounts, hub.secrets.vk, 1, "Hi from VK", event_id=f"{tag}vk", sent_at=at[3]
    )
    order = samples.shopify_order(person, int(tag, 16) % 10**12, DEMO_BASKET, created_at=at[4])
    square_url = hub.ports.ingress_url + "/webhooks/pos/square"
    payment = pos.square_payment(person, f"pay-{tag}", 2599, created_at=at[5])
    call = pos.twilio_call(person, pos.call_sid(tag), at=at[6])
    twilio_url = hub.ports.ingress_url + "/webhooks/voice/twilio"
    later = [
        social.telegram_hook(tg, hub.secrets.telegram),
        social.meta_hook(ig, hub.secrets.meta_app),
        social.vk_hook(vk_body),
        Webhook(
            "/webhooks/pos/shopify", order, {"X-Shopify-Hmac-Sha256": sign_base64(order, hub.secrets.shopify)}
        ),
        Webhook("/webhooks/pos/square", payment, pos.square_headers(square_url, payment, hub.secrets.square)),
        Webhook(
            "/webhooks/voice/twilio",
            pos.form_body(call),
            pos.twilio_headers(twilio_url, call, hub.secrets.twilio),
        ),
    ]
    handles = [
        *telegram.translate(tg, **CONTEXT)[0].sender.identities,
        *meta.translate(ig, **CONTEXT)[0].sender.identities,
        *vk.translate(vk_body, **CONTEXT)[0].sender.identities,
    ]

    with httpx.Client(timeout=30) as provider, httpx.Client(timeout=30, headers=hub.api_headers) as staff:
        mta = Webhook("/webhooks/email/mta", email, {"X-Hub-Signature-256": sign_hex(email, hub.secrets.mta)})
        assert send(provider, hub.ports.ingress_url, mta).status_code == 200
        customer = wait_for_card(staff, hub.ports.api_url, person.email, interactions=1)["customer_id"]
        for account in _accounts(handles):
            linked = staff.post(f"{hub.ports.api_url}/v1/customers/{customer}/identities", json=account)
            assert linked.status_code == 201, linked.text
        for hook in later:
            answer = send(provider, hub.ports.ingress_url, hook)
            assert answer.status_code == 200, (hook.path, answer.text)
            assert answer.text == "ok" if hook.path == social.VK_PATH else answer.json()["accepted"] == 1
        card = wait_for_card(staff, hub.ports.api_url, person.email, interactions=7)

    assert card["customer_id"] == customer
    assert {name: stats["count"] for name, stats in card["channels"].items()} == {
        "email": 1,
        "chat": 1,
        "social": 2,
        "pos": 2,
        "voice": 1,
    }
    recent = card["recent_interactions"]
    seconds = [datetime.fromisoformat(view["occurred_at"]).replace(microsecond=0) for view in recent]
    assert seconds == at[::-1]  # Instagram stamps milliseconds
    assert [view["channel"] for view in recent] == [
        "voice",
        "pos",
        "pos",
        "social",
        "social",
        "chat",
        "email",
    ]
    assert card["purchase_count"] == 2
