"""Square webhooks: ``POST /webhooks/pos/square`` (``payment.*``, ``refund.*``; ``order.*`` acknowledged).

Square signs the subscription's **notification URL** followed by the raw body: base64 HMAC-SHA256
with the subscription's signature key in ``x-square-hmacsha256-signature``. The URL is
:attr:`Delivery.url`, so behind a proxy set ``HUB_PUBLIC_BASE_URL`` to what Square calls. Rotation:
``HUB_SQUARE_SECRETS=new,old`` while Square's key is being replaced.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import SecretStr

from services.ingress.delivery import Delivery
from services.ingress.endpoints import Endpoint
from services.ingress.translate import square
from services.ingress.verify import verify_square_signature

SIGNATURE_HEADER = "x-square-hmacsha256-signature"
PATH = "/webhooks/pos/square"


def verify(delivery: Delivery, secrets: Sequence[SecretStr]) -> int:
    """Accept a delivery signed over its public URL + body with one of ``secrets``."""
    return verify_square_signature(
        delivery.url, delivery.body, delivery.headers.get(SIGNATURE_HEADER), secrets
    )


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        PATH,
        "pos",
        square.PROVIDER,
        "Square payment.created / payment.updated (a COMPLETED payment is a purchase), refund.created /"
        " refund.updated (a COMPLETED refund is a refund; order.* notifications are ignored), base64"
        " HMAC-SHA256 of notification URL + body in x-square-hmacsha256-signature.",
        lambda s: s.square_secrets,
        verify,
        square.translate,
        scheme="hmac-sha256-base64:x-square-hmacsha256-signature(url+body)",
    ),
)
