"""VK Callback API: ``POST /webhooks/social/vk``.

VK does not sign the body: the community's Callback API secret key travels *inside* the JSON as
``secret``, so this is the one endpoint that parses before it verifies. Parsing is strict (one JSON
object, no duplicate keys, no NaN), and a body that cannot be read is refused like a bad secret (401):
nothing unauthenticated gets as far as a payload error.

VK expects the plain-text body ``ok`` for every notification it should not resend, and the
confirmation string of the notification's community (``HUB_VK_CONFIRMATION``) for the
``confirmation`` handshake, which carries the secret like every other notification. One hub may serve
several communities, each with its own string: ``HUB_VK_CONFIRMATION=12345:abc123,67890:def456``
answers by ``group_id``, a single ``abc123`` answers every community. A confirmation for a community
that has no string here is a 404 ``unknown_vk_group``: answering another community's string would
only fail VK's check, and saying why helps whoever is setting the server up.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import structlog
from pydantic import SecretStr

from plumbing.http import ApiError
from services.ingress.delivery import Delivery
from services.ingress.endpoints import Endpoint
from services.ingress.errors import InvalidSignature
from services.ingress.providers.shared_secret import check_shared_secret
from services.ingress.settings import VK_ANY_GROUP, IngressSettings
from services.ingress.translate import vk

OK = "ok"
UNKNOWN_GROUP = "unknown_vk_group"
log = structlog.get_logger()


def verify(delivery: Delivery, secrets: Sequence[SecretStr]) -> int:
    """Accept a notification whose ``secret`` field equals one of ``secrets``."""
    secret = _notification(delivery.body).get("secret")
    return check_shared_secret(secret if isinstance(secret, str) else None, secrets, what="secret field")


def confirm(delivery: Delivery, settings: IngressSettings) -> str | None:
    """The confirmation string of a (verified) ``confirmation`` notification's community; ``None``
    for any other notification.

    Without any configured string the notification goes on to the translator, which ignores it (VK
    then sees ``ok`` and reports the server as unconfirmed). With strings configured, but none for
    this ``group_id``, the answer is :class:`ApiError` 404 ``unknown_vk_group``.
    """
    notification = _notification(delivery.body)
    strings = settings.vk_confirmation
    if notification.get("type") != vk.CONFIRMATION or not strings:
        return None
    group_id = _group_id(notification.get("group_id"))
    string = strings.get(VK_ANY_GROUP) or (strings.get(group_id) if group_id is not None else None)
    if string is None:
        log.warning("webhook_rejected", provider=vk.PROVIDER, reason=UNKNOWN_GROUP)
        raise ApiError(404, UNKNOWN_GROUP, "no confirmation string is configured for field group_id")
    return string.get_secret_value()


def _group_id(value: object) -> str | None:
    """VK's ``group_id`` (a JSON integer) in the form the settings key it by."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return str(value)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return str(int(value))
    return None


def _notification(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body, object_pairs_hook=_unique_keys, parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: nested too deep
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
        "A VK Callback API notification (message_new, message_reply, message_edit, wall_reply_new;"
        " confirmation answered with the string configured for its group_id; others ignored),"
        " authenticated by the secret key in its `secret` field. Answered with the plain text `ok`.",
        lambda s: s.vk_secrets,
        verify,
        vk.translate,
        scheme="shared-secret:body.secret",
        handshake=confirm,
        plain_reply=OK,
    ),
)
