"""The webhook endpoints: for each, how its deliveries are verified and translated."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from pydantic import SecretStr

from contracts import InteractionEvent
from services.ingress.delivery import Delivery
from services.ingress.settings import IngressSettings
from services.ingress.translate import chat_widget, email_mta, meta_whatsapp, shopify
from services.ingress.verify import verify_base64_signature, verify_hex_signature


class Translator(Protocol):
    def __call__(
        self, raw: bytes, *, received_at: datetime, correlation_id: str, default_region: str
    ) -> Sequence[InteractionEvent]: ...


Verifier = Callable[[Delivery, Sequence[SecretStr]], None]
"""Raises :class:`~services.ingress.errors.InvalidSignature` (or a subclass) unless the delivery is
provably from the provider; returns nothing otherwise."""


def hex_header(name: str) -> Verifier:
    """``sha256=<hex HMAC of the body>`` in header ``name``."""

    def verify(delivery: Delivery, secrets: Sequence[SecretStr]) -> None:
        verify_hex_signature(delivery.body, delivery.headers.get(name), secrets)

    return verify


def base64_header(name: str) -> Verifier:
    """A base64 HMAC of the body in header ``name``."""

    def verify(delivery: Delivery, secrets: Sequence[SecretStr]) -> None:
        verify_base64_signature(delivery.body, delivery.headers.get(name), secrets)

    return verify


@dataclass(frozen=True)
class Endpoint:
    """One provider's webhook: its path, which secrets sign it, how to check and translate it.

    The translator raises :class:`~services.ingress.errors.IgnoredDelivery` for a delivery that is
    authentic but carries nothing the hub records.
    """

    path: str
    channel: str
    provider: str
    summary: str
    secrets: Callable[[IngressSettings], Sequence[SecretStr]]
    verify: Verifier
    translate: Translator


BUILT_IN: tuple[Endpoint, ...] = (
    Endpoint(
        "/webhooks/email/mta",
        "email",
        "mta",
        "A raw RFC 5322 message from our MTA, HMAC-SHA256 of the body in X-Hub-Signature-256.",
        lambda s: s.mta_secrets,
        hex_header("x-hub-signature-256"),
        email_mta.translate,
    ),
    Endpoint(
        "/webhooks/chat/widget",
        "chat",
        "widget",
        "A message from our website chat widget, HMAC-SHA256 of the body in X-Hub-Signature-256.",
        lambda s: s.widget_secrets,
        hex_header("x-hub-signature-256"),
        chat_widget.translate,
    ),
    Endpoint(
        "/webhooks/social/meta",
        "social",
        "meta_whatsapp",
        "WhatsApp Cloud API webhook, signed with the app secret in X-Hub-Signature-256.",
        lambda s: s.meta_app_secrets,
        hex_header("x-hub-signature-256"),
        meta_whatsapp.translate,
    ),
    Endpoint(
        "/webhooks/pos/shopify",
        "pos",
        "shopify",
        "Shopify orders/create or orders/paid webhook, base64 HMAC-SHA256 in X-Shopify-Hmac-Sha256.",
        lambda s: s.shopify_secrets,
        base64_header("x-shopify-hmac-sha256"),
        shopify.translate,
    ),
)

#: Every endpoint the ingress serves. Providers with a module of their own under
#: ``services/ingress/providers/`` add their ``ENDPOINTS`` tuple here.
ENDPOINTS: tuple[Endpoint, ...] = BUILT_IN
