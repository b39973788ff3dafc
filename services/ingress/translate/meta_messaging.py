"""Messenger (``object: page``) and Instagram (``object: instagram``) messaging webhooks (Meta).

Both share one shape: ``entry[]`` (one per Page or Instagram account), each with ``messaging[]``
items of ``sender.id`` (the PSID or IGSID: a page- or account-scoped id of the person),
``recipient.id``, ``timestamp`` (milliseconds) and one payload. Meta batches and redelivers whole
batches, so every inbound ``message`` becomes its own event keyed by its ``mid``.

Skipped: echoes of our own messages (``message.is_echo``), deleted (unsent) messages, and items that
are not messages (``delivery``, ``read``, ``reaction``, ``postback``…). A delivery holding nothing else
is :class:`IgnoredDelivery`. The ``standby`` and ``changes`` (comments, feed) arrays are not read.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from contracts import IdentityKind, Sender, SocialMessageReceived
from services.ingress.errors import IgnoredDelivery, InvalidPayload
from services.ingress.translate._common import (
    IdentityCandidate,
    Node,
    contract_errors,
    event_id,
    load_json,
    message_summary,
    sender_identities,
)
from services.ingress.translate._epoch import unix_millis


class Platform(NamedTuple):
    provider: str  # InteractionEvent.provider, and the namespace of event ids
    network: str  # SocialMessageReceived.network, and the provider of the sender's handle


#: ``object`` of the webhook -> where it comes from.
PLATFORMS: dict[str, Platform] = {
    "page": Platform("meta_messenger", "messenger"),
    "instagram": Platform("meta_instagram", "instagram"),
}
MESSENGER = PLATFORMS["page"]
INSTAGRAM = PLATFORMS["instagram"]


def translate(
    raw: bytes, *, received_at: datetime, correlation_id: str, default_region: str
) -> list[SocialMessageReceived]:
    """Every inbound message of every entry, in payload order."""
    body = load_json(raw)
    platform = PLATFORMS.get(body.required("object").text())
    if platform is None:
        raise InvalidPayload("field object must be page or instagram")
    events: list[SocialMessageReceived] = []
    for entry in body.required("entry").items():
        for item in entry.child("messaging").items():
            message = item.child("message")
            if message.is_missing() or _is_true(message, "is_echo") or _is_true(message, "is_deleted"):
                continue
            events.append(_event(platform, item, message, received_at, correlation_id, default_region))
    if not events:
        raise IgnoredDelivery(f"{platform.network} delivery without inbound messages")
    return events


def _is_true(node: Node, key: str) -> bool:
    return node.child(key).value is True


def _event(
    platform: Platform,
    item: Node,
    message: Node,
    received_at: datetime,
    correlation_id: str,
    default_region: str,
) -> SocialMessageReceived:
    sender_node = item.required("sender").required("id")
    scoped_id = sender_node.ident()
    mid = message.required("mid").ident()
    with contract_errors(f"{platform.network} message"):
        return SocialMessageReceived(
            event_id=event_id(platform.provider, mid),
            occurred_at=unix_millis(item.required("timestamp")),
            received_at=received_at,
            correlation_id=correlation_id,
            provider=platform.provider,
            provider_message_id=mid,
            sender=Sender(
                identities=sender_identities(
                    [IdentityCandidate(IdentityKind.HANDLE, scoped_id, sender_node.path, platform.network)],
                    default_region,
                )
            ),
            summary=message_summary(message),
            network=platform.network,
            conversation_id=scoped_id,  # the thread between this person and the page or account
        )
