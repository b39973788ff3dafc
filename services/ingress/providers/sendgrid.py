"""SendGrid Inbound Parse: ``POST /webhooks/email/sendgrid``.

SendGrid does not sign Inbound Parse posts, so the parse URL carries a secret, accepted in any of
three places (each compared in constant time against every ``HUB_SENDGRID_SECRETS`` entry):

* HTTP basic auth, as a password (the URL ``https://sendgrid:<secret>@host/webhooks/email/sendgrid``;
  the user name is not checked);
* ``Authorization: Bearer <secret>``;
* the query parameter ``?key=<secret>``, for setups that cannot send credentials. Prefer the other
  two: a query string ends up in proxy and access logs.

When an ``Authorization`` header is present, it alone decides.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from urllib.parse import parse_qs, urlsplit

from pydantic import SecretStr

from services.ingress.delivery import Delivery
from services.ingress.endpoints import Endpoint
from services.ingress.errors import InvalidSignature
from services.ingress.providers.shared_secret import check_shared_secret
from services.ingress.translate import sendgrid

KEY_PARAMETER = "key"


def presented_secret(delivery: Delivery) -> str | None:
    """The secret the caller presents: basic-auth password, bearer token or ``?key=`` (or none)."""
    authorization = delivery.headers.get("authorization")
    if authorization is not None:
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() == "bearer":
            return credentials.strip()
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
            except (binascii.Error, ValueError):
                raise InvalidSignature("malformed Authorization header: not base64") from None
            _, colon, password = decoded.partition(":")
            if not colon:
                raise InvalidSignature("malformed Authorization header: no password")
            return password
        raise InvalidSignature("malformed Authorization header: not Basic or Bearer")
    keys = parse_qs(urlsplit(delivery.url).query, keep_blank_values=True).get(KEY_PARAMETER, [])
    if len(keys) > 1:
        raise InvalidSignature(f"query parameter {KEY_PARAMETER} appears more than once")
    return keys[0] if keys else None


def verify(delivery: Delivery, secrets: Sequence[SecretStr]) -> int:
    """Accept a delivery that presents one of ``secrets``."""
    return check_shared_secret(presented_secret(delivery), secrets, what="SendGrid credential")


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "/webhooks/email/sendgrid",
        "email",
        sendgrid.PROVIDER,
        "A SendGrid Inbound Parse post (parsed or raw mode, multipart form), authenticated by a secret"
        " as basic-auth password, bearer token or `key` query parameter (SendGrid does not sign).",
        lambda s: s.sendgrid_secrets,
        verify,
        sendgrid.translate,
        attachments=sendgrid.attachment_blobs,
        scheme="shared-secret:basic|bearer|key",
        select=sendgrid.translator_for,
    ),
)
