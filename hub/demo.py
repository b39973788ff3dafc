"""The demo conversation: one person on four channels, then their unified card from the read API."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from hub import samples
from hub.local_secrets import LocalSecrets
from services.ingress.verify import sign_base64, sign_hex

DEMO_BASKET = [("SKU-1", "Blue jacket", 1, "129.90"), ("SKU-2", "Scarf", 2, "19.95")]
"""What the demo person buys at the till: 169.80 in all."""


@dataclass(frozen=True)
class Webhook:
    """A signed delivery, as a provider would send it."""

    path: str
    body: bytes
    headers: dict[str, str]


def conversation(person: samples.SamplePerson, secrets: LocalSecrets, tag: str) -> list[Webhook]:
    """An email, a chat message, a WhatsApp message and a point-of-sale purchase by ``person``."""
    email = samples.email_message(person, f"<{tag}-1@mail.example.com>", "Question about my order", "Hello!")
    chat = samples.chat_message(person, f"{tag}-chat-1", "Is the blue one in stock?")
    social = samples.whatsapp_message(person, f"wamid.{tag}-1", "I will come by the shop today")
    order = samples.shopify_order(person, int(tag, 16) % 10**12, DEMO_BASKET, source_name="pos")
    return [
        Webhook(
            "/webhooks/email/mta",
            email,
            {"X-Hub-Signature-256": sign_hex(email, secrets.mta), "Content-Type": "message/rfc822"},
        ),
        Webhook(
            "/webhooks/chat/widget",
            chat,
            {"X-Hub-Signature-256": sign_hex(chat, secrets.widget), "Content-Type": "application/json"},
        ),
        Webhook(
            "/webhooks/social/meta",
            social,
            {"X-Hub-Signature-256": sign_hex(social, secrets.meta_app), "Content-Type": "application/json"},
        ),
        Webhook(
            "/webhooks/pos/shopify",
            order,
            {
                "X-Shopify-Hmac-Sha256": sign_base64(order, secrets.shopify),
                "Content-Type": "application/json",
            },
        ),
    ]


def new_tag() -> str:
    """A hex tag that makes one conversation's ids and the person unique."""
    return uuid.uuid4().hex[:12]


def send(client: httpx.Client, ingress_url: str, hook: Webhook) -> httpx.Response:
    return client.post(ingress_url + hook.path, content=hook.body, headers=hook.headers)


def wait_for_card(
    client: httpx.Client, api_url: str, email: str, *, interactions: int, timeout_s: float = 60.0
) -> dict[str, Any]:
    """Poll the lookup API until the card shows ``interactions`` interactions."""
    deadline = time.monotonic() + timeout_s
    last: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        found = client.get(f"{api_url}/v1/customers", params={"email": email}).json().get("items", [])
        if found:
            last = found[0]
            if last["interaction_count"] >= interactions:
                return last
        time.sleep(0.2)
    raise TimeoutError(f"card did not reach {interactions} interactions in {timeout_s:.0f} s; last: {last}")


def run_demo(ingress_url: str, api_url: str, secrets: LocalSecrets) -> dict[str, Any]:
    """Send the conversation and return the resulting card."""
    tag = new_tag()
    person = samples.sample_person(tag)
    with httpx.Client(timeout=30.0) as client:
        for hook in conversation(person, secrets, tag):
            answer = send(client, ingress_url, hook)
            answer.raise_for_status()
        return wait_for_card(client, api_url, person.email, interactions=4)
