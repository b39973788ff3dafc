"""VK Callback API: ``POST /webhooks/social/vk``.

VK does not sign the body: the community's Callback API secret key travels *inside* the JSON as
``secret``, so this is the one endpoint that parses before it verifies. Parsing is strict (one JSON
object, no duplicate keys, no NaN), and a body that cannot be read is refused like a bad secret (401):
nothing unauthenticated gets as far as a payload error.

VK expects the plain-text body ``ok`` for every notification it should not resend, and the
configured confirmation string (``HUB_VK_CONFIRMATION``) for the ``confirmation`` handshake, which
carries the secret like every other notification.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import SecretStr

from services.ingress.delivery import Delivery
from services.ingress.endpoints import Endpoint
from services.ingress.errors import InvalidSignature
from services.ingress.providers.shared_secret import check_shared_secret
from services.ingress.settings import IngressSettings
from services.ingress.translate import vk

OK = "ok"


def verify(delivery: Delivery, secrets: Sequence[SecretStr]) -> None:
    """Accept a notification whose ``secret`` field equals one of ``secrets``."""
    secret = _notification(delivery.body).get("secret")
    check_shared_secret(secret if isinstance(secret, str) else None, secrets, what="secret field")


def confirm(delivery: Delivery, settings: IngressSettings) -> str | None:
    """The confirmation string for a (verified) ``confirmation`` notification; ``None`` otherwise.

    Without a configured string the notification goes on to the translator, which ignores it (VK
    then sees ``ok`` and reports the server as unconfirmed).
    """
    if _notification(delivery.body).get("type") != vk.CONFIRMATION or settings.vk_confirmation is None:
        return None
    return settings.vk_confirmation.get_secret_value()


def _notification(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body, object_pairs_hook=_unique_keys, parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError):
        raise InvalidSignature("body is not a JSON object with a secret field") from None
    if not isinstance(document, dict):
        raise InvalidSignature("body is not a JSON object with a secret field")
    return document


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Refuse ``{"secret": "forged", "secret": "real"}``: two readers could pick different ones."""
    document = dict(pairs)
    if len(document) != len(pairs):
        raise ValueError("duplicate key")
    return document


def _no_constants(name: str) -> object:
    raise ValueError("NaN and Infinity are not JSON")


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "/webhooks/social/vk",
        "social",
        vk.PROVIDER,
        "A VK Callback API notification (message_new, wall_reply_new; confirmation answered with the"
        " configured string; others ignored), authenticated by the secret key in its `secret` field."
        " Answered with the plain text `ok`.",
        lambda s: s.vk_secrets,
        verify,
        vk.translate,
        handshake=confirm,
        plain_reply=OK,
    ),
)
