"""VK Callback API notifications -> :class:`SocialMessageReceived` (one notification, at most one event).

A notification is ``{"type", "group_id", "event_id", "v", "secret", "object"}``. We record
``message_new`` (a community message; ``object.message`` since API 5.103, the message itself before)
and ``wall_reply_new`` (a comment under a community post). Messages and comments written by a
community (ours included: VK notifies our own replies too) and every other type are ignored.

Dedupe: VK redelivers a notification until it is answered ``ok``, with the same ``event_id``; but the
same message also reaches every callback server of the group, each with its own ``event_id``. So the
provider message id names the message itself, stable across both: ``<group>:message:<peer>:<conversation
message id>`` (a community bot in a group chat sees ``id`` 0, the per-peer id is always set) and
``<group>:wall_reply:<owner>_<post>:<comment id>``.

``confirmation`` is answered before translation with the configured string (see
``services.ingress.providers.vk``); it only reaches this translator when no string is configured.
"""

from __future__ import annotations

from datetime import datetime

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
from services.ingress.translate._epoch import unix_seconds

PROVIDER = "vk"
NETWORK = "vk"
CONFIRMATION = "confirmation"


def translate(
    raw: bytes, *, received_at: datetime, correlation_id: str, default_region: str
) -> list[SocialMessageReceived]:
    """The event of a ``message_new`` or ``wall_reply_new`` notification; :class:`IgnoredDelivery` else."""
    body = load_json(raw)
    kind = body.required("type").text()
    group_id = body.required("group_id").ident()
    if kind == CONFIRMATION:
        raise IgnoredDelivery("vk confirmation request, but no confirmation string is configured")
    if kind == "message_new":
        found = body.required("object")
        message = found if found.child("message").is_missing() else found.required("message")
        return [_message(message, group_id, received_at, correlation_id, default_region)]
    if kind == "wall_reply_new":
        return [_wall_reply(body.required("object"), group_id, received_at, correlation_id, default_region)]
    raise IgnoredDelivery(f"vk event type {kind[:60]}")


def _message(
    message: Node, group_id: str, received_at: datetime, correlation_id: str, default_region: str
) -> SocialMessageReceived:
    author = _person(message.required("from_id"), "message")
    peer_id = message.required("peer_id").ident()
    per_peer = message.child("conversation_message_id").optional_ident()
    local = f"{peer_id}:{per_peer}" if per_peer is not None else message.required("id").ident()
    return _event(
        f"{group_id}:message:{local}",
        author,
        message,
        peer_id,
        received_at,
        correlation_id,
        default_region,
    )


def _wall_reply(
    comment: Node, group_id: str, received_at: datetime, correlation_id: str, default_region: str
) -> SocialMessageReceived:
    author = _person(comment.required("from_id"), "wall reply")
    owner = comment.child("post_owner_id")
    post = f"{(comment.required('owner_id') if owner.is_missing() else owner).ident()}_"
    post += comment.required("post_id").ident()
    return _event(
        f"{group_id}:wall_reply:{post}:{comment.required('id').ident()}",
        author,
        comment,
        f"wall{post}",  # VK's own notation for a post: wall<owner>_<post>
        received_at,
        correlation_id,
        default_region,
    )


def _person(from_id: Node, what: str) -> Node:
    """VK ids of communities are negative; only people are customers."""
    value = from_id.ident()
    if not value.isascii() or not value.lstrip("-").isdigit():
        raise InvalidPayload(f"field {from_id.path} must be a VK id")
    if int(value) <= 0:
        raise IgnoredDelivery(f"vk {what} written by a community")
    return from_id


def _event(
    provider_id: str,
    author: Node,
    item: Node,
    conversation: str,
    received_at: datetime,
    correlation_id: str,
    default_region: str,
) -> SocialMessageReceived:
    with contract_errors("vk notification"):
        return SocialMessageReceived(
            event_id=event_id(PROVIDER, provider_id),
            occurred_at=unix_seconds(item.required("date")),
            received_at=received_at,
            correlation_id=correlation_id,
            provider=PROVIDER,
            provider_message_id=provider_id,
            sender=Sender(
                identities=sender_identities(
                    [IdentityCandidate(IdentityKind.HANDLE, author.ident(), author.path, NETWORK)],
                    default_region,
                )
            ),
            summary=message_summary(item),
            network=NETWORK,
            conversation_id=conversation,
        )
