"""The webhook endpoints: for each, how its deliveries are verified and translated."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from pydantic import SecretStr
from starlette.datastructures import Headers

from contracts import InteractionEvent
from services.ingress.settings import IngressSettings
from services.ingress.translate import chat_widget, email_mta, meta_whatsapp, shopify
from services.ingress.verify import verify_base64_signature, verify_hex_signature


class Translator(Protocol):
    def __call__(
        self, raw: bytes, *, received_at: datetime, correlation_id: str, default_region: str
    ) -> Sequence[InteractionEvent]: ...


Verifier = Callable[[bytes, Headers, Sequence[SecretStr]], None]


def _hex_header(name: str) -> Verifier:
    def verify(body: bytes, headers: Headers, secrets: Sequence[SecretStr]) -> None:
        verify_hex_signature(body, headers.get(name), secrets)

    return verify


def _base64_header(name: str) -> Verifier:
    def verify(body: bytes, headers: Headers, secrets: Sequence[SecretStr]) -> None:
        verify_base64_signature(body, headers.get(name), secrets)

    return verify


@dataclass(frozen=True)
class Endpoint:
    """One provider's webhook: its path, which secrets sign it, how to check and translate it."""

    path: str
    channel: str
    provider: str
    summary: str
    secrets: Callable[[IngressSettings], Sequence[SecretStr]]
    verify: Verifier
    translate: Translator


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "/webhooks/email/mta",
        "email",
        "mta",
        "A raw RFC 5322 message from our MTA, HMAC-SHA256 of the body in X-Hub-Signature-256.",
        lambda s: s.mta_secrets,
        _hex_header("x-hub-signature-256"),
        email_mta.translate,
    ),
    Endpoint(
        "/webhooks/chat/widget",
        "chat",
        "widget",
        "A message from our website chat widget, HMAC-SHA256 of the body in X-Hub-Signature-256.",
        lambda s: s.widget_secrets,
        _hex_header("x-hub-signature-256"),
        chat_widget.translate,
    ),
    Endpoint(
        "/webhooks/social/meta",
        "social",
        "meta_whatsapp",
        "WhatsApp Cloud API webhook, signed with the app secret in X-Hub-Signature-256.",
        lambda s: s.meta_app_secrets,
        _hex_header("x-hub-signature-256"),
        meta_whatsapp.translate,
    ),
    Endpoint(
        "/webhooks/pos/shopify",
        "pos",
        "shopify",
        "Shopify orders/create or orders/paid webhook, base64 HMAC-SHA256 in X-Shopify-Hmac-Sha256.",
        lambda s: s.shopify_secrets,
        _base64_header("x-shopify-hmac-sha256"),
        shopify.translate,
    ),
)
