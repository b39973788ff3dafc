"""VK Callback API notifications -> :class:`SocialMessageReceived` (one notification, at most one event).

A notification is ``{"type", "group_id", "event_id", "v", "secret", "object"}``. We record
``message_new`` (a message to the community; ``object.message`` since API 5.103, the message itself
before), ``message_reply`` (a message the community sent: ``object`` is the message, ``from_id`` the
negative community id, ``peer_id`` the person), ``message_edit`` (an edited message, either way: the
message with its ``update_time``) and ``wall_reply_new`` (a comment under a community post).

Direction: a message written by a person is inbound from them; one written by a community (ours: VK
notifies the replies our agents and bots send) is **outbound** to ``peer_id``, the person in the
private chat. A community message into a group chat names no customer, and a ``message_new`` or
wall comment written by a community is no customer's: both are ignored, as is every other type.

Dedupe: VK redelivers a notification until it is answered ``ok``, with the same ``event_id``; but the
same message also reaches every callback server of the group, each with its own ``event_id``. So the
provider message id names the message itself, stable across both: ``<group>:message:<peer>:<conversation
message id>`` (a community bot in a group chat sees ``id`` 0, the per-peer id is always set),
``<group>:message_edit:<peer>:<conversation message id>:<update_time>`` (every edit is its own event, as
for Telegram) and ``<group>:wall_reply:<owner>_<post>:<comment id>``.

``confirmation`` is answered before translation with the configured string (see
``services.ingress.providers.vk``); it only reaches this translator when no string is configured.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from contracts import Direction, IdentityKind, MediaRef, Sender, SocialMessageReceived
from services.ingress.errors import IgnoredDelivery, InvalidPayload
from services.ingress.translate._common import (
    IdentityCandidate,
    Node,
    contract_errors,
    event_id,
    load_json,
    message_summary,
    sender_identities,
    summarise,
)
from services.ingress.translate._epoch import unix_seconds
from services.ingress.translate._media import kept, media_ref

PROVIDER = "vk"
NETWORK = "vk"
CONFIRMATION = "confirmation"
#: VK's ``peer_id`` of a group chat is 2000000000 + the chat's id; below it, a person or a community.
_GROUP_CHATS = 2_000_000_000


class _Context(NamedTuple):
    group_id: str
    received_at: datetime
    correlation_id: str
    default_region: str


def translate(
    raw: bytes, *, received_at: datetime, correlation_id: str, default_region: str
) -> list[SocialMessageReceived]:
    """The event of a ``message_new``, ``message_reply``, ``message_edit`` or ``wall_reply_new``
    notification; :class:`IgnoredDelivery` for any other."""
    body = load_json(raw)
    kind = body.required("type").text()
    context = _Context(body.required("group_id").ident(), received_at, correlation_id, default_region)
    if kind == CONFIRMATION:
        raise IgnoredDelivery("vk confirmation request, but no confirmation string is configured")
    if kind == "message_new":
        found = body.required("object")
        message = found if found.child("message").is_missing() else found.required("message")
        return [_message(message, context)]
    if kind == "message_reply":
        return [_message(body.required("object"), context, community_may_write=True)]
    if kind == "message_edit":
        return [_edit(body.required("object"), context)]
    if kind == "wall_reply_new":
        return [_wall_reply(body.required("object"), context)]
    raise IgnoredDelivery(f"vk event type {kind[:60]}")


def _message(message: Node, context: _Context, *, community_may_write: bool = False) -> SocialMessageReceived:
    customer, direction = _customer(message, community_may_write=community_may_write)
    peer_id = message.required("peer_id").ident()
    return _event(
        f"{context.group_id}:message:{_local_id(message, peer_id)}",
        customer,
        direction,
        peer_id,
        unix_seconds(message.required("date")),
        message_summary(message),
        context,
        _media(message),
    )


def _edit(message: Node, context: _Context) -> SocialMessageReceived:
    customer, direction = _customer(message, community_may_write=True)
    peer_id = message.required("peer_id").ident()
    update_time = message.required("update_time")
    return _event(
        f"{context.group_id}:message_edit:{_local_id(message, peer_id)}:{update_time.ident()}",
        customer,
        direction,
        peer_id,
        unix_seconds(update_time),
        summarise(f"[edited] {message_summary(message)}"),
        context,
        _media(message),
    )


def _local_id(message: Node, peer_id: str) -> str:
    """``<peer>:<conversation message id>``, or the global ``id`` of an API older than 5.80."""
    per_peer = message.child("conversation_message_id").optional_ident()
    return f"{peer_id}:{per_peer}" if per_peer is not None else message.required("id").ident()


def _customer(message: Node, *, community_may_write: bool) -> tuple[Node, Direction]:
    """The person a message concerns (its author, or the peer a community wrote to) and its direction."""
    author = message.required("from_id")
    if _vk_id(author) > 0:
        return author, Direction.INBOUND
    if not community_may_write:
        raise IgnoredDelivery("vk message written by a community")
    peer = message.required("peer_id")
    if not 0 < _vk_id(peer) < _GROUP_CHATS:
        raise IgnoredDelivery("vk community message to a group chat or another community")
    return peer, Direction.OUTBOUND


def _wall_reply(comment: Node, context: _Context) -> SocialMessageReceived:
    author = comment.required("from_id")
    if _vk_id(author) <= 0:
        raise IgnoredDelivery("vk wall reply written by a community")
    owner = comment.child("post_owner_id")
    post = f"{(comment.required('owner_id') if owner.is_missing() else owner).ident()}_"
    post += comment.required("post_id").ident()
    return _event(
        f"{context.group_id}:wall_reply:{post}:{comment.required('id').ident()}",
        author,
        Direction.INBOUND,
        f"wall{post}",  # VK's own notation for a post: wall<owner>_<post>
        unix_seconds(comment.required("date")),
        message_summary(comment),
        context,
        _media(comment),
    )


def _vk_id(node: Node) -> int:
    """A VK id: people are positive, communities negative."""
    value = node.ident()
    if not value.isascii() or not value.lstrip("-").isdigit():
        raise InvalidPayload(f"field {node.path} must be a VK id")
    return int(value)


def _event(
    provider_id: str,
    customer: Node,
    direction: Direction,
    conversation: str,
    occurred_at: datetime,
    summary: str,
    context: _Context,
    media: tuple[MediaRef, ...],
) -> SocialMessageReceived:
    with contract_errors("vk notification"):
        return SocialMessageReceived(
            event_id=event_id(PROVIDER, provider_id),
            occurred_at=occurred_at,
            received_at=context.received_at,
            correlation_id=context.correlation_id,
            provider=PROVIDER,
            provider_message_id=provider_id,
            sender=Sender(
                identities=sender_identities(
                    [IdentityCandidate(IdentityKind.HANDLE, customer.ident(), customer.path, NETWORK)],
                    context.default_region,
                )
            ),
            summary=summary,
            direction=direction,
            network=NETWORK,
            conversation_id=conversation,
            media=media,
        )


def _media(message: Node) -> tuple[MediaRef, ...]:
    """The files among ``attachments``, by the URL VK serves them at (public links, no token needed).

    Photos (their largest size), documents, voice messages (``audio_message``, the MP3 link), stickers
    (largest image) and graffiti. Videos and music have no file link in a notification (they need
    ``video.get``/``audio`` API calls with a user token) and are left out.
    """
    refs: list[MediaRef | None] = []
    for attachment in message.child("attachments").items():
        kind = attachment.child("type").optional_text()
        if kind is None or attachment.child(kind).is_missing():
            continue
        body = attachment.child(kind)
        media_id = _vk_media_id(kind, body)
        if kind == "photo":
            refs.append(media_ref(kind, media_id=media_id, url=_largest_url(body.child("sizes"))))
        elif kind == "doc":
            refs.append(
                media_ref(
                    kind,
                    media_id=media_id,
                    url=body.child("url").optional_text(),
                    size=body.child("size"),
                    filename=body.child("title").optional_text(),
                )
            )
        elif kind == "audio_message":
            url = body.child("link_mp3").optional_text()
            refs.append(media_ref(kind, media_id=media_id, url=url, content_type="audio/mpeg"))
        elif kind == "sticker":
            refs.append(media_ref(kind, media_id=media_id, url=_largest_url(body.child("images"))))
        elif kind == "graffiti":
            refs.append(media_ref(kind, media_id=media_id, url=body.child("url").optional_text()))
    return kept(refs)


def _vk_media_id(kind: str, body: Node) -> str | None:
    """VK's own notation, ``<type><owner>_<id>`` (``photo-218370125_457239017``), when both are given."""
    owner, item = body.child("owner_id").value, body.child("id").value
    if isinstance(owner, int) and isinstance(item, int):
        return f"{kind}{owner}_{item}"
    return None


def _largest_url(sizes: Node) -> str | None:
    """The URL of the biggest of a photo's ``sizes`` (or a sticker's ``images``), by pixel count."""
    best: tuple[int, str] | None = None
    for size in sizes.items():
        url = size.child("url").optional_text()
        width, height = size.child("width").value, size.child("height").value
        pixels = width * height if isinstance(width, int) and isinstance(height, int) else 0
        if url is not None and (best is None or pixels > best[0]):
            best = (pixels, url)
    return None if best is None else best[1]
