"""Telegram Bot API webhook ``Update`` -> :class:`ChatMessageReceived` (one update, at most one event).

An update carries ``update_id`` and exactly one optional field naming its type. We record what a
person wrote or pressed: ``message``, ``edited_message`` and ``callback_query`` (an inline-keyboard
button), and the chats of a Telegram Business account that connected our bot (Bot API 7.2+):
``business_message`` and ``edited_business_message``. Every other type (``my_chat_member``, ``poll``,
``channel_post``, ``business_connection``, ``deleted_business_messages``…) is acknowledged and ignored,
as are service messages (members joining, pinned messages…) and, outside business chats, messages
written by bots (our own bot's included): a bot is never the customer.

Business chats are private chats of the business account with one customer, so the chat *is* the
customer: ``chat.id`` is the customer's user id. The update does not say who owns the account (that
is the ``user`` of the ``BusinessConnection``, sent in another update), but a message whose ``from.id``
differs from ``chat.id`` was written by the business side (the owner, an employee, or our bot on their
behalf with ``sender_business_bot`` set): it is an **outbound** interaction, attributed to the
customer taken from ``chat``. Telegram says a business chat is independent of a bot chat that may
share its id, so its conversation id is ``business:<chat id>``.

Dedupe: the provider message id starts with ``update_id``, which Telegram keeps when it redelivers an
update, followed by what the update is about (``<type>:<chat>:<message>`` and, for an edit, the edit
date), so every edit is its own event and a redelivered update is the same event.
"""

from __future__ import annotations

from datetime import datetime

from contracts import ChatMessageReceived, Direction, IdentityKind, MediaRef, Sender
from services.ingress.errors import IgnoredDelivery, InvalidPayload
from services.ingress.translate._common import (
    IdentityCandidate,
    Node,
    clip,
    contract_errors,
    event_id,
    load_json,
    sender_identities,
    summarise,
)
from services.ingress.translate._epoch import unix_seconds
from services.ingress.translate._media import kept, media_ref

PROVIDER = "telegram"
BUSINESS_KINDS = ("business_message", "edited_business_message")
MESSAGE_KINDS = ("message", "edited_message", *BUSINESS_KINDS)
EDIT_KINDS = ("edited_message", "edited_business_message")
CALLBACK_KIND = "callback_query"

#: Content a message may carry besides text, in the order we name it in the summary.
_CONTENT = (
    "photo",
    "video",
    "animation",
    "audio",
    "document",
    "voice",
    "video_note",
    "sticker",
    "contact",
    "location",
    "venue",
    "poll",
    "dice",
    "game",
    "story",
    "invoice",
)
#: Content that is a file the bot can fetch with ``getFile`` (``photo`` is a list of sizes of one image).
#: An animation also comes as ``document`` with the same ``file_id``: it is referenced once.
_FILES = ("photo", "video", "animation", "audio", "document", "voice", "video_note", "sticker")
#: Service messages: something happened in the chat, nobody wrote anything.
_SERVICE = (
    "new_chat_members",
    "left_chat_member",
    "new_chat_title",
    "new_chat_photo",
    "delete_chat_photo",
    "group_chat_created",
    "supergroup_chat_created",
    "channel_chat_created",
    "message_auto_delete_timer_changed",
    "migrate_to_chat_id",
    "migrate_from_chat_id",
    "pinned_message",
    "forum_topic_created",
    "forum_topic_closed",
    "forum_topic_reopened",
    "video_chat_started",
    "video_chat_ended",
)


def translate(
    raw: bytes, *, received_at: datetime, correlation_id: str, default_region: str
) -> list[ChatMessageReceived]:
    """The one event of a message update (plain or business, new or edited) or a ``callback_query``.

    Raises :class:`IgnoredDelivery` for every other update type, service messages, and messages bots
    wrote outside business chats.
    """
    update = load_json(raw)
    update_id = update.required("update_id").ident()
    kind = _update_type(update)
    if kind in MESSAGE_KINDS:
        event = _message_event(
            update.required(kind), kind, update_id, received_at, correlation_id, default_region
        )
    elif kind == CALLBACK_KIND:
        event = _callback_event(update.required(kind), update_id, received_at, correlation_id, default_region)
    else:
        raise IgnoredDelivery(f"telegram update type {kind[:60]}")
    return [event]


def _update_type(update: Node) -> str:
    """The name of the one optional field besides ``update_id``."""
    present = [key for key in _keys(update) if key != "update_id" and not update.child(key).is_missing()]
    if not present:
        raise InvalidPayload("update carries no update type")
    handled = [key for key in present if key in (*MESSAGE_KINDS, CALLBACK_KIND)]
    return handled[0] if handled else present[0]


def _keys(node: Node) -> list[str]:
    if not isinstance(node.value, dict):
        raise InvalidPayload(f"field {node.path or 'body'} must be an object")
    return [str(key) for key in node.value]


def _message_event(
    message: Node,
    kind: str,
    update_id: str,
    received_at: datetime,
    correlation_id: str,
    default_region: str,
) -> ChatMessageReceived:
    sender, direction = _customer(message, kind, default_region)
    if any(not message.child(key).is_missing() for key in _SERVICE):
        raise IgnoredDelivery("telegram service message")
    chat_id = message.required("chat").required("id").ident()
    message_id = message.required("message_id").ident()
    provider_id = f"{update_id}:{kind}:{chat_id}:{message_id}"
    occurred_at = unix_seconds(message.required("date"))
    summary = _summary(message)
    if kind in EDIT_KINDS:
        edit_date = message.required("edit_date")
        provider_id += f":{edit_date.ident()}"
        occurred_at = unix_seconds(edit_date)
        summary = summarise(f"[edited] {summary}")
    with contract_errors("telegram message"):
        return ChatMessageReceived(
            event_id=event_id(PROVIDER, provider_id),
            occurred_at=occurred_at,
            received_at=received_at,
            correlation_id=correlation_id,
            provider=PROVIDER,
            provider_message_id=provider_id,
            sender=sender,
            summary=summary,
            conversation_id=f"business:{chat_id}" if kind in BUSINESS_KINDS else chat_id,
            direction=direction,
            media=_media(message),
        )


def _customer(message: Node, kind: str, default_region: str) -> tuple[Sender, Direction]:
    """Whom the message concerns, and which way it went.

    Outside business chats the author is the customer, and a bot never is. In a business chat the
    chat is the customer: anyone else writing there is the business side, writing to them.
    """
    user = message.child("from")
    if user.is_missing():
        raise IgnoredDelivery("telegram message without a user sender")
    chat = message.required("chat")
    if kind in BUSINESS_KINDS and user.required("id").ident() != chat.required("id").ident():
        if chat.child("type").optional_text() not in (None, "private"):
            raise IgnoredDelivery("telegram business message outside a private chat")
        return _sender(chat, default_region), Direction.OUTBOUND
    _refuse_bots(user, "message")
    return _sender(user, default_region, _own_phone(message, user)), Direction.INBOUND


def _callback_event(
    query: Node, update_id: str, received_at: datetime, correlation_id: str, default_region: str
) -> ChatMessageReceived:
    user = query.required("from")
    _refuse_bots(user, "callback query")
    query_id = query.required("id").ident()
    message = query.child("message")
    if message.is_missing():  # a button under an inline-mode message: no chat, only its instance
        conversation = f"inline:{query.required('chat_instance').ident()}"
    else:
        conversation = message.required("chat").required("id").ident()
    choice = query.child("data").optional_text() or query.child("game_short_name").optional_text()
    provider_id = f"{update_id}:{CALLBACK_KIND}:{query_id}"
    with contract_errors("telegram callback query"):
        return ChatMessageReceived(
            event_id=event_id(PROVIDER, provider_id),
            occurred_at=received_at,  # a callback query carries no date of its own
            received_at=received_at,
            correlation_id=correlation_id,
            provider=PROVIDER,
            provider_message_id=provider_id,
            sender=_sender(user, default_region),
            summary=summarise(f"[button] {choice}" if choice else "[button]"),
            conversation_id=conversation,
        )


def _refuse_bots(user: Node, what: str) -> None:
    if user.child("is_bot").value is True:
        raise IgnoredDelivery(f"telegram {what} from a bot")


def _sender(user: Node, default_region: str, phone: str | None = None) -> Sender:
    """The Telegram user id, the ``@username`` when set (lower-cased: Telegram ignores case), a phone
    number the user shared as their own contact card. ``user`` is a ``User`` or a private ``Chat``,
    which name their person with the same fields."""
    id_node = user.required("id")
    username = user.child("username")
    name = " ".join(
        part
        for part in (user.child("first_name").optional_text(), user.child("last_name").optional_text())
        if part
    )
    handle = username.optional_text()
    identities = sender_identities(
        [
            IdentityCandidate(IdentityKind.HANDLE, id_node.ident(), id_node.path, PROVIDER),
            IdentityCandidate(
                IdentityKind.HANDLE,
                None if handle is None else "@" + handle.lstrip("@").lower(),
                username.path,
                PROVIDER,
            ),
            IdentityCandidate(IdentityKind.PHONE, phone, "message.contact.phone_number"),
        ],
        default_region,
    )
    with contract_errors("telegram sender"):  # a name with a NUL character is refused here
        return Sender(
            identities=identities,
            display_name=clip(name or None, 200),
            language=clip(user.child("language_code").optional_text(), 35),  # the user's app language
        )


def _own_phone(message: Node, user: Node) -> str | None:
    """The number of a contact card the sender shared *of themselves* (``request_contact`` button)."""
    contact = message.child("contact")
    if contact.is_missing():
        return None
    owner = contact.child("user_id").optional_ident()
    phone = contact.child("phone_number").optional_text()
    if owner is None or phone is None or owner != user.required("id").ident():
        return None
    return phone if phone.startswith("+") else "+" + phone


def _media(message: Node) -> tuple[MediaRef, ...]:
    """The files of the message by ``file_id`` (fetched later with ``getFile``); of a photo, its
    largest size."""
    refs: list[MediaRef | None] = []
    for kind in _FILES:
        node = message.child(kind)
        if kind == "photo":
            sizes = node.items()
            if not sizes:
                continue
            node = max(sizes, key=_pixels)
        if node.is_missing():
            continue
        refs.append(
            media_ref(
                kind,
                media_id=node.child("file_id").optional_text(),
                content_type=node.child("mime_type").optional_text(),
                size=node.child("file_size"),
                filename=node.child("file_name").optional_text(),
            )
        )
    return kept(refs)


def _pixels(size: Node) -> int:
    width, height = size.child("width").value, size.child("height").value
    return width * height if isinstance(width, int) and isinstance(height, int) else 0


def _summary(message: Node) -> str:
    """The text; ``[<content>] caption`` for media; ``[<content>]`` without a caption."""
    text = message.child("text").optional_text()
    if text is not None:
        return summarise(text)
    content = next((key for key in _CONTENT if not message.child(key).is_missing()), "message")
    caption = message.child("caption").optional_text()
    return summarise(f"[{content}] {caption}" if caption else f"[{content}]")
