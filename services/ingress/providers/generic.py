"""Our generic webhook, signed per Standard Webhooks: ``POST /webhooks/generic/{channel}``.

Headers ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and ``webhook-signature`` (space-separated
``v1,<base64>`` entries); the signature is HMAC-SHA256 of ``{id}.{timestamp}.{body}`` keyed with the
base64 after ``whsec_`` of a ``HUB_GENERIC_SECRETS`` entry (``new,old`` while rotating), and the
timestamp must be within ``signature_window_s`` of now. The payload is documented in
:mod:`services.ingress.translate.generic`; ``channel`` is ``chat``, ``social`` or ``email``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from pydantic import SecretStr

from services.ingress.delivery import Delivery
from services.ingress.endpoints import Endpoint, Verifier
from services.ingress.settings import IngressSettings
from services.ingress.translate import generic
from services.ingress.verify import standard_webhook_key, verify_standard_webhook

DEFAULT_WINDOW_S: int = IngressSettings.model_fields["signature_window_s"].default


def verifier(window_s: int) -> Verifier:
    """The Standard Webhooks check with a timestamp window of ``window_s`` seconds."""

    def verify(delivery: Delivery, secrets: Sequence[SecretStr]) -> int:
        headers = delivery.headers
        return verify_standard_webhook(
            delivery.body,
            headers.get("webhook-id"),
            headers.get("webhook-timestamp"),
            headers.get("webhook-signature"),
            secrets,
            window_s=window_s,
        )

    return verify


def _configure(endpoint: Endpoint, settings: IngressSettings) -> Endpoint:
    for secret in settings.generic_secrets:
        standard_webhook_key(secret)  # a malformed secret stops the app at start, not every request
    return replace(endpoint, verify=verifier(settings.signature_window_s))


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "/webhooks/generic/{channel}",
        "generic",
        "generic",
        "One message (chat, social or email, by the path) in our documented JSON, signed per Standard"
        " Webhooks (webhook-id, webhook-timestamp, webhook-signature: v1,<base64>).",
        lambda s: s.generic_secrets,
        verifier(DEFAULT_WINDOW_S),
        generic.ChannelTranslator("chat"),  # never used: ``select`` picks the path's channel
        scheme="standard-webhooks-v1",
        select=generic.translator_for,
        configure=_configure,
    ),
)
