"""Realistic sample webhooks of the chat and social providers: Telegram, VK, Messenger, Instagram.

Shapes follow each provider's documentation (Telegram Bot API ``Update``, business updates of Bot
API 7.2 included; VK Callback API notifications, API version 5.199; Meta Messenger Platform and
Instagram Messaging webhooks, Instagram comment and Page feed ``changes``). A :class:`SocialPerson`
holds one person's ids on each network: the networks never share an id, so nothing here links them
to each other or to :class:`hub.samples.SamplePerson`. Every builder returns
the exact body bytes; the ``*_hook`` helpers wrap them as signed :class:`hub.demo.Webhook` requests.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hub.demo import Webhook
from services.ingress.verify import sign_hex

TELEGRAM_PATH = "/webhooks/chat/telegram"
VK_PATH = "/webhooks/social/vk"
META_PATH = "/webhooks/social/meta"
VK_GROUP_ID = 218_370_125
MESSENGER_PAGE_ID = "108453271947562"
INSTAGRAM_ACCOUNT_ID = "17841405822304914"
_BOT_ID = 7_123_456_789
#: The Telegram Business account of the shop, whose chats our bot is connected to.
TELEGRAM_BUSINESS_OWNER: dict[str, Any] = {
    "id": 5_512_347_003,
    "is_bot": False,
    "first_name": "Example Shop",
    "username": "example_shop",
}
TELEGRAM_BUSINESS_CONNECTION_ID = "AQAAAEtTGgYBAAAA8XkZJX0lOqc"
_BOT = {"id": _BOT_ID, "is_bot": True, "first_name": "Shop", "username": "example_shop_bot"}


@dataclass(frozen=True)
class SocialPerson:
    """One person's ids: Telegram user id and username, VK user id, Messenger PSID, Instagram IGSID
    and username, and the Facebook id a Page's feed shows."""

    first_name: str
    last_name: str
    telegram_id: int
    telegram_username: str
    vk_id: int
    psid: str
    igsid: str
    instagram_username: str
    facebook_id: str


def social_person(seed: int | str) -> SocialPerson:
    """A person whose every id is unique to ``seed`` (hashed) and the same each time it is asked for."""
    digest = hashlib.sha256(f"interaction-hub-social:{seed}".encode()).hexdigest()
    return SocialPerson(
        first_name="Radia",
        last_name="Perlman",
        telegram_id=int(digest[:9], 16) % 6_000_000_000 + 100_000_000,
        telegram_username=f"Radia_{digest[9:17]}",
        vk_id=int(digest[17:25], 16) % 900_000_000 + 1_000_000,
        psid=str(int(digest[25:38], 16) % 10**16 + 2 * 10**16),
        igsid=str(int(digest[38:51], 16) % 10**16 + 3 * 10**16),
        instagram_username=f"radia.{digest[51:57]}",
        facebook_id=str(int(digest[57:64], 16) % 10**15 + 10**15),
    )


def _json(document: object) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _seconds(moment: datetime | None) -> int:
    return int((moment or datetime.now(UTC)).timestamp())


# --- Telegram -------------------------------------------------------------------------------------


def telegram_user(person: SocialPerson, *, is_bot: bool = False) -> dict[str, Any]:
    """A Telegram ``User`` object."""
    return {
        "id": person.telegram_id,
        "is_bot": is_bot,
        "first_name": person.first_name,
        "last_name": person.last_name,
        "username": person.telegram_username,
        "language_code": "en",
    }


def _private_chat(person: SocialPerson) -> dict[str, Any]:
    return {
        "id": person.telegram_id,
        "first_name": person.first_name,
        "last_name": person.last_name,
        "username": person.telegram_username,
        "type": "private",
    }


def telegram_message_object(
    person: SocialPerson, message_id: int, text: str | None, *, sent_at: datetime | None = None
) -> dict[str, Any]:
    """A Telegram ``Message`` the person wrote to the bot in their private chat."""
    message: dict[str, Any] = {
        "message_id": message_id,
        "from": telegram_user(person),
        "chat": _private_chat(person),
        "date": _seconds(sent_at),
    }
    if text is not None:
        message["text"] = text
    return message


def telegram_update(update_id: int, kind: str, payload: dict[str, Any]) -> bytes:
    """An ``Update`` of any type: ``{"update_id": …, kind: payload}``."""
    return _json({"update_id": update_id, kind: payload})


def telegram_message(
    person: SocialPerson, update_id: int, message_id: int, text: str, *, sent_at: datetime | None = None
) -> bytes:
    """A ``message`` update: the person wrote ``text`` to the bot."""
    return telegram_update(
        update_id, "message", telegram_message_object(person, message_id, text, sent_at=sent_at)
    )


def telegram_edited_message(
    person: SocialPerson,
    update_id: int,
    message_id: int,
    text: str,
    *,
    sent_at: datetime | None = None,
    edited_at: datetime | None = None,
) -> bytes:
    """An ``edited_message`` update: the person changed message ``message_id`` to ``text``."""
    message = telegram_message_object(person, message_id, text, sent_at=sent_at)
    message["edit_date"] = _seconds(edited_at)
    return telegram_update(update_id, "edited_message", message)


def telegram_callback_query(
    person: SocialPerson, update_id: int, query_id: str, data: str, *, message_id: int, sent_at: datetime
) -> bytes:
    """A ``callback_query`` update: the person pressed a button under the bot's message ``message_id``."""
    message = {
        "message_id": message_id,
        "from": _BOT,
        "chat": _private_chat(person),
        "date": _seconds(sent_at),
        "text": "Would you like a call back?",
        "reply_markup": {"inline_keyboard": [[{"text": "Yes, please", "callback_data": data}]]},
    }
    query = {
        "id": query_id,
        "from": telegram_user(person),
        "message": message,
        "chat_instance": "-4386617375915427104",
        "data": data,
    }
    return telegram_update(update_id, "callback_query", query)


def telegram_bot_message(person: SocialPerson, update_id: int, message_id: int, text: str) -> bytes:
    """A ``message`` update written by a bot (another bot in a group the bot is in)."""
    message = telegram_message_object(person, message_id, text)
    message["from"] = telegram_user(person, is_bot=True)
    return telegram_update(update_id, "message", message)


def telegram_my_chat_member(person: SocialPerson, update_id: int) -> bytes:
    """A ``my_chat_member`` update: the person blocked the bot."""
    payload = {
        "chat": _private_chat(person),
        "from": telegram_user(person),
        "date": _seconds(None),
        "old_chat_member": {"user": _BOT, "status": "member"},
        "new_chat_member": {"user": _BOT, "status": "kicked", "until_date": 0},
    }
    return telegram_update(update_id, "my_chat_member", payload)


def telegram_business_message(
    person: SocialPerson,
    update_id: int,
    message_id: int,
    text: str,
    *,
    outgoing: bool = False,
    by_bot: bool = False,
    sent_at: datetime | None = None,
    edited_at: datetime | None = None,
) -> bytes:
    """A ``business_message`` (``edited_business_message`` when ``edited_at`` is given) in the private
    chat of the shop's business account with the person.

    ``outgoing``: the shop wrote it (``from`` is the account owner; with ``by_bot``, our bot sent it on
    the owner's behalf and ``sender_business_bot`` names it); otherwise the person wrote it.
    """
    message = telegram_message_object(person, message_id, text, sent_at=sent_at)
    message["business_connection_id"] = TELEGRAM_BUSINESS_CONNECTION_ID
    if outgoing:
        message["from"] = TELEGRAM_BUSINESS_OWNER
        if by_bot:
            message["sender_business_bot"] = _BOT
    if edited_at is None:
        return telegram_update(update_id, "business_message", message)
    message["edit_date"] = _seconds(edited_at)
    return telegram_update(update_id, "edited_business_message", message)


def telegram_deleted_business_messages(person: SocialPerson, update_id: int, message_ids: list[int]) -> bytes:
    """A ``deleted_business_messages`` update: messages vanished from the business chat with the person."""
    payload = {
        "business_connection_id": TELEGRAM_BUSINESS_CONNECTION_ID,
        "chat": _private_chat(person),
        "message_ids": message_ids,
    }
    return telegram_update(update_id, "deleted_business_messages", payload)


def telegram_business_connection(update_id: int, *, enabled: bool = True) -> bytes:
    """A ``business_connection`` update: the shop connected (or disconnected) our bot."""
    payload = {
        "id": TELEGRAM_BUSINESS_CONNECTION_ID,
        "user": TELEGRAM_BUSINESS_OWNER,
        "user_chat_id": TELEGRAM_BUSINESS_OWNER["id"],
        "date": _seconds(None),
        "can_reply": True,
        "is_enabled": enabled,
    }
    return telegram_update(update_id, "business_connection", payload)


def telegram_hook(body: bytes, secret: str) -> Webhook:
    return Webhook(
        TELEGRAM_PATH,
        body,
        {"X-Telegram-Bot-Api-Secret-Token": secret, "Content-Type": "application/json"},
    )


# --- VK -------------------------------------------------------------------------------------------


def vk_notification(kind: str, obj: dict[str, Any] | None, secret: str, *, event_id: str) -> bytes:
    """A Callback API notification as VK posts it (``object`` omitted for ``confirmation``)."""
    document: dict[str, Any] = {"group_id": VK_GROUP_ID, "type": kind, "event_id": event_id, "v": "5.199"}
    if obj is not None:
        document["object"] = obj
    document["secret"] = secret
    return _json(document)


def vk_confirmation(secret: str) -> bytes:
    return vk_notification("confirmation", None, secret, event_id="")


def vk_message_new(
    person: SocialPerson,
    secret: str,
    conversation_message_id: int,
    text: str,
    *,
    event_id: str,
    sent_at: datetime | None = None,
) -> bytes:
    """``message_new``: the person wrote ``text`` to the community (API 5.103+: ``object.message``)."""
    message = {
        "date": _seconds(sent_at),
        "from_id": person.vk_id,
        "id": conversation_message_id + 1000,
        "out": 0,
        "attachments": [],
        "conversation_message_id": conversation_message_id,
        "fwd_messages": [],
        "important": False,
        "is_hidden": False,
        "peer_id": person.vk_id,
        "random_id": 0,
        "text": text,
    }
    client_info = {
        "button_actions": ["text", "vkpay", "open_app", "location", "open_link", "callback"],
        "keyboard": True,
        "inline_keyboard": True,
        "carousel": True,
        "lang_id": 0,
    }
    return vk_notification(
        "message_new", {"message": message, "client_info": client_info}, secret, event_id=event_id
    )


def vk_wall_reply_new(
    person: SocialPerson,
    secret: str,
    comment_id: int,
    post_id: int,
    text: str,
    *,
    event_id: str,
    sent_at: datetime | None = None,
) -> bytes:
    """``wall_reply_new``: the person commented ``text`` under the community's post ``post_id``."""
    comment = {
        "id": comment_id,
        "from_id": person.vk_id,
        "post_id": post_id,
        "owner_id": -VK_GROUP_ID,
        "parents_stack": [],
        "date": _seconds(sent_at),
        "text": text,
        "thread": {"count": 0},
        "post_owner_id": -VK_GROUP_ID,
    }
    return vk_notification("wall_reply_new", comment, secret, event_id=event_id)


def vk_private_message(
    person: SocialPerson,
    conversation_message_id: int,
    text: str,
    *,
    outgoing: bool,
    sent_at: datetime | None = None,
) -> dict[str, Any]:
    """A VK private message between the person and the community (``out`` 1: the community wrote it,
    as admin 1 when a person at the community did)."""
    message: dict[str, Any] = {
        "date": _seconds(sent_at),
        "from_id": -VK_GROUP_ID if outgoing else person.vk_id,
        "id": conversation_message_id + 1000,
        "out": 1 if outgoing else 0,
        "version": 10_000_000 + conversation_message_id,
        "attachments": [],
        "conversation_message_id": conversation_message_id,
        "fwd_messages": [],
        "important": False,
        "is_hidden": False,
        "peer_id": person.vk_id,
        "random_id": 0,
        "text": text,
    }
    if outgoing:
        message["admin_author_id"] = 1
    return message


def vk_message_reply(
    person: SocialPerson,
    secret: str,
    conversation_message_id: int,
    text: str,
    *,
    event_id: str,
    sent_at: datetime | None = None,
) -> bytes:
    """``message_reply``: the community wrote ``text`` to the person (``object`` is the message itself)."""
    message = vk_private_message(person, conversation_message_id, text, outgoing=True, sent_at=sent_at)
    return vk_notification("message_reply", message, secret, event_id=event_id)


def vk_message_edit(
    person: SocialPerson,
    secret: str,
    conversation_message_id: int,
    text: str,
    *,
    outgoing: bool,
    event_id: str,
    sent_at: datetime | None = None,
    edited_at: datetime | None = None,
) -> bytes:
    """``message_edit``: message ``conversation_message_id`` now reads ``text``, edited at ``edited_at``."""
    message = vk_private_message(person, conversation_message_id, text, outgoing=outgoing, sent_at=sent_at)
    message["update_time"] = _seconds(edited_at)
    return vk_notification("message_edit", message, secret, event_id=event_id)


def vk_group_join(person: SocialPerson, secret: str, *, event_id: str) -> bytes:
    """``group_join``: the person joined the community (not an interaction)."""
    return vk_notification(
        "group_join", {"user_id": person.vk_id, "join_type": "join"}, secret, event_id=event_id
    )


def vk_hook(body: bytes) -> Webhook:
    """VK authenticates inside the body: no header to add."""
    return Webhook(VK_PATH, body, {"Content-Type": "application/json"})


# --- Messenger and Instagram ---------------------------------------------------------------------


def meta_text_item(
    sender_id: str, recipient_id: str, mid: str, text: str, *, sent_at: datetime | None = None
) -> dict[str, Any]:
    """One ``messaging`` item carrying an inbound text message."""
    return {
        "sender": {"id": sender_id},
        "recipient": {"id": recipient_id},
        "timestamp": _seconds(sent_at) * 1000 + 123,
        "message": {"mid": mid, "text": text},
    }


def meta_echo_item(account_id: str, recipient_id: str, mid: str, text: str) -> dict[str, Any]:
    """An echo of a message the page or account sent (``message.is_echo``)."""
    return {
        "sender": {"id": account_id},
        "recipient": {"id": recipient_id},
        "timestamp": _seconds(None) * 1000,
        "message": {"mid": mid, "is_echo": True, "app_id": 1517776481860111, "text": text},
    }


def meta_delivery_item(sender_id: str, account_id: str, mids: list[str]) -> dict[str, Any]:
    """A delivery receipt for messages we sent."""
    watermark = _seconds(None) * 1000
    return {
        "sender": {"id": sender_id},
        "recipient": {"id": account_id},
        "delivery": {"mids": mids, "watermark": watermark},
    }


def meta_read_item(sender_id: str, account_id: str) -> dict[str, Any]:
    """A read receipt for messages we sent."""
    watermark = _seconds(None) * 1000
    return {
        "sender": {"id": sender_id},
        "recipient": {"id": account_id},
        "timestamp": watermark + 200,
        "read": {"watermark": watermark},
    }


def meta_messaging(kind: str, entries: list[tuple[str, list[dict[str, Any]]]]) -> bytes:
    """A batch: ``kind`` is ``page`` (Messenger) or ``instagram``; ``entries`` are (account id, items)."""
    now = _seconds(None) * 1000
    return _json(
        {
            "object": kind,
            "entry": [{"id": account, "time": now, "messaging": items} for account, items in entries],
        }
    )


def messenger_message(person: SocialPerson, mid: str, text: str, *, sent_at: datetime | None = None) -> bytes:
    """A Messenger delivery with one text message from the person to the page."""
    item = meta_text_item(person.psid, MESSENGER_PAGE_ID, mid, text, sent_at=sent_at)
    return meta_messaging("page", [(MESSENGER_PAGE_ID, [item])])


def instagram_message(person: SocialPerson, mid: str, text: str, *, sent_at: datetime | None = None) -> bytes:
    """An Instagram delivery with one direct message from the person to the professional account."""
    item = meta_text_item(person.igsid, INSTAGRAM_ACCOUNT_ID, mid, text, sent_at=sent_at)
    return meta_messaging("instagram", [(INSTAGRAM_ACCOUNT_ID, [item])])


def messenger_echo(person: SocialPerson, mid: str, text: str) -> bytes:
    """A Messenger delivery with the echo of one message the page sent to the person."""
    item = meta_echo_item(MESSENGER_PAGE_ID, person.psid, mid, text)
    return meta_messaging("page", [(MESSENGER_PAGE_ID, [item])])


def instagram_comment_change(
    person: SocialPerson,
    comment_id: str,
    media_id: str,
    text: str,
    *,
    field: str = "comments",
    product_type: str = "FEED",
) -> dict[str, Any]:
    """A ``comments`` (or ``live_comments``) change: the person commented ``text`` on media ``media_id``."""
    return {
        "field": field,
        "value": {
            "id": comment_id,
            "from": {"id": person.igsid, "username": person.instagram_username},
            "media": {"id": media_id, "media_product_type": product_type},
            "text": text,
        },
    }


def page_feed_comment_change(
    person: SocialPerson, comment_id: str, post_id: str, text: str, *, sent_at: datetime | None = None
) -> dict[str, Any]:
    """A Page ``feed`` change: the person commented ``text`` under the page's post ``post_id``."""
    return {
        "field": "feed",
        "value": {
            "from": {"id": person.facebook_id, "name": f"{person.first_name} {person.last_name}"},
            "post": {"status_type": "added_photos", "is_published": True, "id": post_id},
            "message": text,
            "post_id": post_id,
            "comment_id": comment_id,
            "created_time": _seconds(sent_at),
            "item": "comment",
            "parent_id": post_id,
            "verb": "add",
        },
    }


def meta_changes(
    kind: str, entries: list[tuple[str, list[dict[str, Any]]]], *, sent_at: datetime | None = None
) -> bytes:
    """A ``changes`` batch: ``kind`` is ``page`` or ``instagram``; ``entries`` are (account id, changes).

    ``entry.time`` of a change notification is in seconds (messaging entries use milliseconds).
    """
    return _json(
        {
            "object": kind,
            "entry": [
                {"id": account, "time": _seconds(sent_at), "changes": changes} for account, changes in entries
            ],
        }
    )


def instagram_comment(
    person: SocialPerson, comment_id: str, media_id: str, text: str, *, sent_at: datetime | None = None
) -> bytes:
    """An Instagram delivery with one comment of the person on the professional account's media."""
    change = instagram_comment_change(person, comment_id, media_id, text)
    return meta_changes("instagram", [(INSTAGRAM_ACCOUNT_ID, [change])], sent_at=sent_at)


def meta_hook(body: bytes, app_secret: str) -> Webhook:
    return Webhook(
        META_PATH,
        body,
        {"X-Hub-Signature-256": sign_hex(body, app_secret), "Content-Type": "application/json"},
    )
