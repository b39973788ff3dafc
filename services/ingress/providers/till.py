"""Our tills' receipts: ``POST /webhooks/pos/till``, ``X-Hub-Signature-256: sha256=<hex HMAC>``.

The tills sign the raw body with a secret from ``HUB_TILL_SECRETS`` (newest first during
rotation); the receipt schema is :class:`services.ingress.translate.till.TillReceipt`.
"""

from __future__ import annotations

from services.ingress.endpoints import Endpoint, hex_header
from services.ingress.translate import till

PATH = "/webhooks/pos/till"

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        PATH,
        "pos",
        till.PROVIDER,
        "An in-store till receipt (lines, discounts, totals, payments, loyalty card), HMAC-SHA256 of"
        " the body in X-Hub-Signature-256.",
        lambda s: s.till_secrets,
        hex_header("x-hub-signature-256"),
        till.translate,
        scheme="hmac-sha256-hex:x-hub-signature-256",
    ),
)
