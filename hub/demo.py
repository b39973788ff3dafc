"""The demo conversation: one person on four channels, then their unified card from the read API."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

from hub import samples
from hub.local_secrets import LocalSecrets
from plumbing.access import api_keys
from plumbing.access.control import utc_now
from plumbing.access.policy import load_policy
from plumbing.access.provisioning import provision_key
from services.ingress.verify import sign_base64, sign_hex

DEMO_PRINCIPAL = "demo-admin"
DEMO_KEY_FILE = "demo-api-key"

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


def auth_headers(api_key: str) -> dict[str, str]:
    """What every read API request carries: only health and webhooks are open without a key."""
    return {"Authorization": f"Bearer {api_key}"}


def wait_for_card(
    client: httpx.Client, api_url: str, email: str, *, interactions: int, timeout_s: float = 60.0
) -> dict[str, Any]:
    """Poll the lookup API until the card shows ``interactions`` interactions.

    ``client`` must carry credentials (see :func:`auth_headers`); a 401 or 403 fails at once.
    """
    deadline = time.monotonic() + timeout_s
    last: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        answer = client.get(f"{api_url}/v1/customers", params={"email": email})
        if answer.status_code in (401, 403):
            answer.raise_for_status()
        found = answer.json().get("items", [])
        if found:
            last = found[0]
            if last["interaction_count"] >= interactions:
                return last
        time.sleep(0.2)
    raise TimeoutError(f"card did not reach {interactions} interactions in {timeout_s:.0f} s; last: {last}")


def run_demo(ingress_url: str, api_url: str, secrets: LocalSecrets, api_key: str) -> dict[str, Any]:
    """Send the conversation and return the resulting card, read with ``api_key``."""
    tag = new_tag()
    person = samples.sample_person(tag)
    with httpx.Client(timeout=30.0) as client:
        for hook in conversation(person, secrets, tag):
            answer = send(client, ingress_url, hook)
            answer.raise_for_status()
    with httpx.Client(timeout=30.0, headers=auth_headers(api_key)) as client:
        return wait_for_card(client, api_url, person.email, interactions=4)


def demo_key(state_dir: Path, dsn: str) -> Path:
    """The file (mode 0600) holding the demo's admin API key: reused while the key works, else a
    new key is made. Returns the path, so the key itself is not echoed on every run."""
    path = state_dir / DEMO_KEY_FILE
    if path.exists() and asyncio.run(_usable(dsn, path.read_text().strip())):
        return path
    issued = asyncio.run(_issue_demo_key(dsn))
    state_dir.mkdir(parents=True, exist_ok=True)
    fresh = path.with_suffix(".new")
    fresh.unlink(missing_ok=True)
    fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(issued + "\n")
    fresh.replace(path)
    return path


async def _usable(dsn: str, key: str) -> bool:
    key_id = api_keys.key_id_of(key)
    if key_id is None:
        return False
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        stored = await api_keys.find_key(conn, key_id)
    # A day of margin, so a reused key does not expire in the middle of someone's session.
    return (
        stored is not None
        and api_keys.matches(stored, key)
        and stored.usable_at(utc_now() + timedelta(days=1))
    )


async def _issue_demo_key(dsn: str) -> str:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        issued = await provision_key(
            conn, load_policy(), DEMO_PRINCIPAL, roles=["admin"], lifetime=timedelta(days=30), by="hub-demo"
        )
    return issued.key
