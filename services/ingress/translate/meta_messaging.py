"""Messenger (``object: page``) and Instagram (``object: instagram``) webhooks (Meta).

Both share one shape: ``entry[]`` (one per Page or Instagram account, ``entry.id``), each with
``messaging[]`` items of ``sender.id``, ``recipient.id``, ``timestamp`` (milliseconds) and one payload,
and ``changes[]`` of subscribed fields (comments: see :mod:`~services.ingress.translate.meta_comments`).
Meta batches and redelivers whole batches, so every message becomes its own event keyed by its
``mid``, and every comment by its comment id.

Messages: an inbound ``message`` is from the person (``sender.id``, the PSID or IGSID: a page- or
account-scoped id) to the business. An echo (``message.is_echo``, the ``message_echoes`` field) is
a message the Page or account sent, by an agent in the inbox or by an app: ``sender`` is the business
and ``recipient.id`` the person, so it is an **outbound** event attributed to the recipient, in the
same conversation as the person's own messages.

Skipped: deleted (unsent) messages, items that are not messages (``delivery``, ``read``,
``reaction``, ``postback``…), the ``standby`` array (messages another app owns the thread for), and
changes of other fields. A delivery holding nothing else is :class:`IgnoredDelivery`.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from contracts import Direction, IdentityKind, MediaRef, Sender, SocialMessageReceived
from services.ingress.errors import IgnoredDelivery, InvalidPayload
from services.ingress.translate import meta_comments
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
from services.ingress.translate._media import kept, media_ref


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
#: Attachment types that are a file on Meta's CDN (a sticker is an ``image`` with a ``sticker_id``).
#: Shares, reels, story mentions, templates and fallbacks link to content that is not the message's own.
FILE_TYPES = ("image", "video", "audio", "file")


def translate(
    raw: bytes, *, received_at: datetime, correlation_id: str, default_region: str
) -> list[SocialMessageReceived]:
    """Every message (either way) and every customer's comment of every entry, in payload order."""
    body = load_json(raw)
    kind = body.required("object").text()
    platform = PLATFORMS.get(kind)
    if platform is None:
        raise InvalidPayload("field object must be page or instagram")
    context = meta_comments.Context(platform.provider, received_at, correlation_id, default_region)
    events: list[SocialMessageReceived] = []
    for entry in body.required("entry").items():
        for item in entry.child("messaging").items():
            message = item.child("message")
            if message.is_missing() or _is_true(message, "is_deleted"):
                continue
            events.append(_event(platform, item, message, received_at, correlation_id, default_region))
        for change in entry.child("changes").items():
            comment = meta_comments.event(kind, entry, change, context)
            if comment is not None:
                events.append(comment)
    if not events:
        raise IgnoredDelivery(f"{platform.network} delivery without messages or comments")
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
    outbound = _is_true(message, "is_echo")
    person = item.required("recipient" if outbound else "sender").required("id")
    scoped_id = person.ident()
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
                    [IdentityCandidate(IdentityKind.HANDLE, scoped_id, person.path, platform.network)],
                    default_region,
                )
            ),
            summary=message_summary(message),
            direction=Direction.OUTBOUND if outbound else Direction.INBOUND,
            network=platform.network,
            conversation_id=scoped_id,  # the thread between this person and the page or account
            media=_media(message),
        )


def _media(message: Node) -> tuple[MediaRef, ...]:
    """``attachments[].payload.url`` of file attachments: signed CDN links that expire, fetched soon."""
    refs: list[MediaRef | None] = []
    for attachment in message.child("attachments").items():
        kind = attachment.child("type").optional_text()
        payload = attachment.child("payload")
        if kind not in FILE_TYPES or payload.is_missing():
            continue
        refs.append(media_ref(kind, url=payload.child("url").optional_text()))
    return kept(refs)
