"""Comments on the business's posts, from Meta's ``changes`` webhooks -> :class:`SocialMessageReceived`.

A public comment is an interaction like a direct message: a person spoke to the business, in the
thread of a post instead of a chat. Two sources, both ``entry[].changes[]`` items of a webhook whose
signature and batching :mod:`~services.ingress.translate.meta_messaging` already handles:

- Instagram (``object: instagram``), fields ``comments`` and ``live_comments``: ``value`` is
  ``{id, text, from: {id, username}, media: {id, media_product_type}, parent_id?}``. ``from.id`` is
  the commenter's Instagram-scoped id (IGSID), the same id their direct messages carry, so comments
  and messages of one person meet on ``handle:instagram:<IGSID>``; the username adds
  ``handle:instagram:@<username>``. Conversation: the media id. The payload has no time of its own:
  ``entry.time`` (when Meta sent it) stands in.
- Facebook Page (``object: page``), field ``feed`` with ``item: comment`` and ``verb: add``: ``value``
  is ``{comment_id, post_id, parent_id, from: {id, name}, message, created_time}``. Network
  ``facebook``, not ``messenger``: ``from.id`` is the person's Facebook id as the Graph API shows it
  to our app, not the page-scoped id (PSID) Messenger uses, so calling it a Messenger handle would
  claim a link that does not exist. The provider stays the Page webhook's, ``meta_messenger``: it
  names the subscription the raw delivery came from. Conversation: the post id.

The provider message id is the comment id. Comments written by the Page or account itself (its
replies), other feed items (posts, reactions, likes, shares) and edits or removals are skipped: none
is a customer speaking. A Page comment without ``from`` (Meta withholds some authors) names nobody
and is skipped too.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from contracts import IdentityKind, Sender, SocialMessageReceived
from services.ingress.translate._common import (
    IdentityCandidate,
    Node,
    clip,
    contract_errors,
    event_id,
    sender_identities,
    summarise,
)
from services.ingress.translate._epoch import unix_millis, unix_seconds

INSTAGRAM_FIELDS: dict[str, str] = {"comments": "comment", "live_comments": "live comment"}
"""Instagram subscription fields that carry comments -> how the summary names them."""
FEED_FIELD = "feed"
FACEBOOK = "facebook"
INSTAGRAM = "instagram"
#: ``entry.time`` is in seconds for ``changes``, in milliseconds beside ``messaging``: tell them apart.
_MILLIS_FROM = 10**11


class Context(NamedTuple):
    """Where the delivery came from, and what every event of it shares."""

    provider: str
    received_at: datetime
    correlation_id: str
    default_region: str


def event(kind: str, entry: Node, change: Node, context: Context) -> SocialMessageReceived | None:
    """The event of one change of a webhook of ``object`` ``kind``, or ``None`` when it is no
    customer's comment."""
    field = change.child("field").optional_text()
    if kind == INSTAGRAM and field in INSTAGRAM_FIELDS:
        return _instagram(entry, change.required("value"), INSTAGRAM_FIELDS[field], context)
    if kind == "page" and field == FEED_FIELD:
        return _page(entry, change.required("value"), context)
    return None


def _instagram(entry: Node, value: Node, what: str, context: Context) -> SocialMessageReceived | None:
    author = value.required("from")
    author_id = author.required("id")
    if author_id.ident() == entry.required("id").ident():
        return None  # the account's own reply
    username = author.child("username")
    handle = username.optional_text()
    return _event(
        comment_id=value.required("id").ident(),
        network=INSTAGRAM,
        candidates=[
            IdentityCandidate(IdentityKind.HANDLE, author_id.ident(), author_id.path, INSTAGRAM),
            IdentityCandidate(
                IdentityKind.HANDLE,
                None if handle is None else "@" + handle.lstrip("@").lower(),
                username.path,
                INSTAGRAM,
            ),
        ],
        display_name=handle,
        summary=_summary(what, value.child("text")),
        conversation=value.required("media").required("id").ident(),
        occurred_at=_entry_time(entry.required("time")),
        context=context,
    )


def _page(entry: Node, value: Node, context: Context) -> SocialMessageReceived | None:
    if value.child("item").optional_text() != "comment" or value.child("verb").optional_text() != "add":
        return None
    author = value.child("from")
    if author.is_missing():
        return None
    author_id = author.required("id")
    if author_id.ident() == entry.required("id").ident():
        return None  # the Page's own comment
    created = value.child("created_time")
    return _event(
        comment_id=value.required("comment_id").ident(),
        network=FACEBOOK,
        candidates=[IdentityCandidate(IdentityKind.HANDLE, author_id.ident(), author_id.path, FACEBOOK)],
        display_name=author.child("name").optional_text(),
        summary=_summary("comment", value.child("message")),
        conversation=value.required("post_id").ident(),
        occurred_at=_entry_time(entry.required("time")) if created.is_missing() else unix_seconds(created),
        context=context,
    )


def _entry_time(node: Node) -> datetime:
    if isinstance(node.value, int) and node.value >= _MILLIS_FROM:
        return unix_millis(node)
    return unix_seconds(node)


def _summary(what: str, text: Node) -> str:
    """``[comment] <text>``; ``[comment]`` alone for a photo, GIF or sticker comment."""
    content = text.optional_text()
    return summarise(f"[{what}] {content}" if content else f"[{what}]")


def _event(
    *,
    comment_id: str,
    network: str,
    candidates: list[IdentityCandidate],
    display_name: str | None,
    summary: str,
    conversation: str,
    occurred_at: datetime,
    context: Context,
) -> SocialMessageReceived:
    with contract_errors(f"{network} comment"):
        return SocialMessageReceived(
            event_id=event_id(context.provider, comment_id),
            occurred_at=occurred_at,
            received_at=context.received_at,
            correlation_id=context.correlation_id,
            provider=context.provider,
            provider_message_id=comment_id,
            sender=Sender(
                identities=sender_identities(candidates, context.default_region),
                display_name=clip(display_name, 200),
            ),
            summary=summary,
            network=network,
            conversation_id=conversation,
        )
