"""The webhook endpoints: for each, how its deliveries are verified and translated."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from pydantic import SecretStr

from contracts import InteractionEvent
from services.ingress.delivery import Delivery
from services.ingress.settings import IngressSettings
from services.ingress.translate import chat_widget, email_mta, meta, shopify, shopify_refunds
from services.ingress.verify import verify_base64_signature, verify_hex_signature


class Translator(Protocol):
    def __call__(
        self, raw: bytes, *, received_at: datetime, correlation_id: str, default_region: str
    ) -> Sequence[InteractionEvent]: ...


Verifier = Callable[[Delivery, Sequence[SecretStr]], int]
"""Raises :class:`~services.ingress.errors.InvalidSignature` (or a subclass) unless the delivery is
provably from the provider; otherwise returns the index of the secret that proved it (0 is the
current one), which the event's evidence records so a rotation can be seen to finish."""

Handshake = Callable[[Delivery, IngressSettings], str | None]
"""The plain-text answer to a handshake delivery, or ``None`` for an ordinary delivery."""


def hex_header(name: str) -> Verifier:
    """``sha256=<hex HMAC of the body>`` in header ``name``."""

    def verify(delivery: Delivery, secrets: Sequence[SecretStr]) -> int:
        return verify_hex_signature(delivery.body, delivery.headers.get(name), secrets)

    return verify


def base64_header(name: str) -> Verifier:
    """A base64 HMAC of the body in header ``name``."""

    def verify(delivery: Delivery, secrets: Sequence[SecretStr]) -> int:
        return verify_base64_signature(delivery.body, delivery.headers.get(name), secrets)

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
    scheme: str = ""
    """How ``verify`` proves a delivery, as recorded in every event's evidence
    (``hmac-sha256-hex:x-hub-signature-256``, ``twilio-hmac-sha1:url+params``...)."""
    handshake: Handshake | None = None
    """An in-band handshake (VK's ``confirmation``): asked after verification, before translation;
    a string it returns is the whole answer (200, plain text) and nothing is published."""
    plain_reply: str | None = None
    """When set, accepted and ignored deliveries are answered with this plain text instead of the
    JSON ``Accepted`` (VK retries every notification not answered ``ok``)."""
    select: Callable[[Delivery], Translator] | None = None
    """Picks the translator from the delivery's headers (Shopify's ``X-Shopify-Topic``); it may raise
    :class:`~services.ingress.errors.InvalidPayload`. When ``None``, ``translate`` serves all."""

    attachments: Callable[[Delivery], Sequence[bytes]] | None = None
    """For an endpoint whose events describe attachments (email): their bytes, which the app stores
    content-addressed next to the raw body (the events carry each attachment's sha256)."""

    def attachments_of(self, delivery: Delivery) -> Sequence[bytes]:
        """The attachment bytes of this (verified, translated) delivery; none for most providers."""
        return () if self.attachments is None else self.attachments(delivery)

    def translator_for(self, delivery: Delivery) -> Translator:
        """The translator of this (verified) delivery."""
        return self.translate if self.select is None else self.select(delivery)

    configure: Callable[[Endpoint, IngressSettings], Endpoint] | None = None
    """For an endpoint that needs settings beyond its secrets (the signed-timestamp window of Mailgun
    and Standard Webhooks): the endpoint the app serves, built from this one and the settings."""

    def configured(self, settings: IngressSettings) -> Endpoint:
        """This endpoint as an app with ``settings`` serves it."""
        return self if self.configure is None else self.configure(self, settings)


BUILT_IN: tuple[Endpoint, ...] = (
    Endpoint(
        "/webhooks/email/mta",
        "email",
        "mta",
        "A raw RFC 5322 message from our MTA, HMAC-SHA256 of the body in X-Hub-Signature-256.",
        lambda s: s.mta_secrets,
        hex_header("x-hub-signature-256"),
        email_mta.translate,
        attachments=lambda d: email_mta.message_attachments(email_mta.parse_message(d.body)),
        scheme="hmac-sha256-hex:x-hub-signature-256",
        configure=lambda endpoint, settings: replace(
            endpoint, translate=email_mta.BusinessMailTranslator(settings.business_email_domains)
        ),
    ),
    Endpoint(
        "/webhooks/chat/widget",
        "chat",
        "widget",
        "A message from our website chat widget, HMAC-SHA256 of the body in X-Hub-Signature-256.",
        lambda s: s.widget_secrets,
        hex_header("x-hub-signature-256"),
        chat_widget.translate,
        scheme="hmac-sha256-hex:x-hub-signature-256",
    ),
    Endpoint(
        "/webhooks/social/meta",
        "social",
        "meta_whatsapp",
        "WhatsApp Cloud API, Messenger or Instagram webhook (by `object`), signed with the app secret in"
        " X-Hub-Signature-256.",
        lambda s: s.meta_app_secrets,
        hex_header("x-hub-signature-256"),
        meta.translate,
        scheme="hmac-sha256-hex:x-hub-signature-256",
    ),
    Endpoint(
        "/webhooks/pos/shopify",
        "pos",
        "shopify",
        "Shopify orders/create, orders/paid or refunds/create webhook (by X-Shopify-Topic), base64"
        " HMAC-SHA256 in X-Shopify-Hmac-Sha256.",
        lambda s: s.shopify_secrets,
        base64_header("x-shopify-hmac-sha256"),
        shopify.translate,
        scheme="hmac-sha256-base64:x-shopify-hmac-sha256",
        select=lambda d: shopify_refunds.translator_for(
            d.headers.get("x-shopify-topic"), d.headers.get("x-shopify-webhook-id")
        ),
    ),
)

#: Every endpoint the ingress serves. Providers with a module of their own under
#: ``services/ingress/providers/`` add their ``ENDPOINTS`` tuple here.
# Imported here, not at the top: provider modules build their endpoints from the classes above.
from services.ingress.providers import generic, mailgun, sendgrid, square, telegram, till, twilio, vk  # noqa: E402

ENDPOINTS: tuple[Endpoint, ...] = (
    BUILT_IN
    + telegram.ENDPOINTS
    + vk.ENDPOINTS
    + square.ENDPOINTS
    + till.ENDPOINTS
    + twilio.ENDPOINTS
    + mailgun.ENDPOINTS
    + sendgrid.ENDPOINTS
    + generic.ENDPOINTS
)
