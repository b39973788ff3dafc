"""Twilio Voice status callbacks: ``POST /webhooks/voice/twilio`` (form-encoded).

Twilio signs the full URL it called followed by every POST parameter's name and value, sorted by
name: base64 HMAC-SHA1 with the account's auth token in ``X-Twilio-Signature``. The URL is
:attr:`Delivery.url` (query string included), so behind a proxy set ``HUB_PUBLIC_BASE_URL``.
Rotation: ``HUB_TWILIO_SECRETS=new,old`` while the secondary auth token is promoted.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import SecretStr

from services.ingress.delivery import Delivery
from services.ingress.endpoints import Endpoint
from services.ingress.errors import InvalidPayload, InvalidSignature
from services.ingress.translate import twilio_voice
from services.ingress.verify import verify_twilio_signature

SIGNATURE_HEADER = "x-twilio-signature"
PATH = "/webhooks/voice/twilio"


def verify(delivery: Delivery, secrets: Sequence[SecretStr]) -> int:
    """Accept a delivery whose URL and form parameters are signed with one of ``secrets``."""
    header = delivery.headers.get(SIGNATURE_HEADER)
    if not (header or "").strip():
        raise InvalidSignature("missing signature header")
    try:
        params = twilio_voice.parse_form(delivery.body)
    except InvalidPayload:
        # Unparseable means unverifiable: it cannot be what Twilio signed.
        raise InvalidSignature("signature mismatch: body is not form-encoded") from None
    return verify_twilio_signature(delivery.url, params, header, secrets)


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        PATH,
        "voice",
        twilio_voice.PROVIDER,
        "Twilio Voice call status callback (completed is a call; no-answer, busy, failed and canceled"
        " a missed call; statuses of calls not yet ended are ignored), base64 HMAC-SHA1 of URL +"
        " sorted form parameters in X-Twilio-Signature.",
        lambda s: s.twilio_secrets,
        verify,
        twilio_voice.translate,
        scheme="hmac-sha1-base64:x-twilio-signature(url+sorted-params)",
    ),
)
