"""HMAC-SHA256 webhook signatures over the raw body bytes, with secret rotation.

Every provider we accept signs the exact bytes it sent, so verification runs before any parsing.
Each check tries every configured secret (current and previous) without stopping early, and the
error says only *what kind* of failure it was, never which secret came closest.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence

from pydantic import SecretStr

from services.ingress.errors import InvalidSignature

_DIGEST_SIZE = hashlib.sha256().digest_size


def verify_hex_signature(
    body: bytes, header_value: str | None, secrets: Sequence[SecretStr], *, prefix: str = "sha256="
) -> None:
    """Accept ``<prefix><hex HMAC-SHA256 of body>`` (Meta's ``X-Hub-Signature-256``) or raise.

    Raises :class:`InvalidSignature` when the header is missing, malformed or matches no secret.
    """
    value = _present(header_value)
    if not value.startswith(prefix):
        raise InvalidSignature("malformed signature header: wrong scheme prefix")
    try:
        claimed = bytes.fromhex(value[len(prefix) :])
    except ValueError:
        raise InvalidSignature("malformed signature header: not hexadecimal") from None
    _check(body, claimed, secrets)


def verify_base64_signature(body: bytes, header_value: str | None, secrets: Sequence[SecretStr]) -> None:
    """Accept a base64 HMAC-SHA256 of body (Shopify's ``X-Shopify-Hmac-Sha256``) or raise.

    Raises :class:`InvalidSignature` when the header is missing, malformed or matches no secret.
    """
    value = _present(header_value)
    try:
        claimed = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSignature("malformed signature header: not base64") from None
    _check(body, claimed, secrets)


def sign_hex(body: bytes, secret: SecretStr | str) -> str:
    """The ``sha256=<hex>`` header value a provider would send for ``body``."""
    return "sha256=" + _digest(body, secret).hex()


def sign_base64(body: bytes, secret: SecretStr | str) -> str:
    """The base64 header value Shopify would send for ``body``."""
    return base64.b64encode(_digest(body, secret)).decode("ascii")


def _present(header_value: str | None) -> str:
    value = (header_value or "").strip()
    if not value:
        raise InvalidSignature("missing signature header")
    return value


def _check(body: bytes, claimed: bytes, secrets: Sequence[SecretStr]) -> None:
    if not secrets:
        # A configuration error, not a bad request: refusing every webhook silently would hide it.
        raise ValueError("at least one webhook secret must be configured")
    if len(claimed) != _DIGEST_SIZE:
        raise InvalidSignature("malformed signature header: wrong digest length")
    # Compare against every secret, so timing does not tell which one (if any) matched.
    matches = [hmac.compare_digest(_digest(body, secret), claimed) for secret in secrets]
    if not any(matches):
        raise InvalidSignature("signature mismatch")


def _digest(body: bytes, secret: SecretStr | str) -> bytes:
    key = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    return hmac.new(key.encode("utf-8"), body, hashlib.sha256).digest()
