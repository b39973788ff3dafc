"""Providers that authenticate with a shared secret sent back verbatim (not an HMAC of the body).

Telegram echoes the ``secret_token`` of ``setWebhook`` in a header; VK puts the Callback API secret
key in the JSON body. Either way the check is the same: constant time, against every configured
secret (current and previous, for rotation), without stopping at the first match.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from pydantic import SecretStr

from services.ingress.errors import InvalidSignature
from services.ingress.verify import first_match


def check_shared_secret(claimed: str | None, secrets: Sequence[SecretStr], *, what: str) -> int:
    """Accept ``claimed`` when it equals one of ``secrets`` (returning that secret's index); raise
    :class:`InvalidSignature` otherwise.

    Both sides are hashed first, so the comparison takes the same time whatever the lengths are and
    does not reveal how long the configured secret is. ``what`` names the header or field in errors.
    """
    if not secrets:
        # A configuration error, not a bad request (the route answers 404 before this for no secrets).
        raise ValueError("at least one webhook secret must be configured")
    if claimed is None or not claimed.strip():
        raise InvalidSignature(f"missing {what}")
    offered = _fingerprint(claimed)
    matches = [hmac.compare_digest(offered, _fingerprint(secret.get_secret_value())) for secret in secrets]
    try:
        return first_match(matches)
    except InvalidSignature:
        raise InvalidSignature(f"{what} does not match") from None


def _fingerprint(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8")).digest()
