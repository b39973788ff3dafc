"""Webhook payloads of messages that carry files, shaped as each provider documents them.

Telegram Bot API ``Message`` (``photo`` as a list of ``PhotoSize``, ``document``, ``voice``,
``animation``, which also comes as ``document``), Messenger/Instagram ``messaging`` items with
``attachments[].payload.url``, WhatsApp Cloud API ``image``/``document`` messages naming a media ``id``,
and VK ``message_new`` with ``photo`` (``sizes``), ``doc``, ``audio_message`` and ``video`` attachments.
CDN hosts are parameters, so integration tests can point them at a local stand-in.
"""

from __future__ import annotations

import json
from typing import Any

from hub import samples_chat_social as social

TELEGRAM_PHOTO_SIZES = [
    {
        "file_id": "AgACAgIAAxkBAAIBQ2Z-small",
        "file_unique_id": "AQADs",
        "file_size": 1433,
        "width": 90,
        "height": 67,
    },
    {
        "file_id": "AgACAgIAAxkBAAIBQ2Z-large",
        "file_unique_id": "AQADl",
        "file_size": 66120,
        "width": 1280,
        "height": 960,
    },
    {
        "file_id": "AgACAgIAAxkBAAIBQ2Z-medium",
        "file_unique_id": "AQADm",
        "file_size": 19321,
        "width": 320,
        "height": 240,
    },
]
TELEGRAM_DOCUMENT = {
    "file_name": "invoice-1042.pdf",
    "mime_type": "application/pdf",
    "file_id": "BQACAgIAAxkBAAIBRGZ-doc",
    "file_unique_id": "AgADdoc",
    "file_size": 48213,
}
TELEGRAM_VOICE = {
    "duration": 3,
    "mime_type": "audio/ogg",
    "file_id": "AwACAgIAAxkBAAIBRWZ-voice",
    "file_unique_id": "AgADvoice",
    "file_size": 9120,
}
TELEGRAM_ANIMATION = {
    "file_name": "dance.mp4",
    "mime_type": "video/mp4",
    "duration": 2,
    "width": 320,
    "height": 320,
    "file_id": "CgACAgIAAxkBAAIBRmZ-anim",
    "file_unique_id": "AgADanim",
    "file_size": 120044,
}


def telegram_with(person: social.SocialPerson, update_id: int, message_id: int, **content: Any) -> bytes:
    """A ``message`` update whose message carries ``content`` (``photo=[…]``, ``caption=…``…), no text."""
    message = social.telegram_message_object(person, message_id, None)
    message.update(content)
    return social.telegram_update(update_id, "message", message)


def meta_attachment_item(
    sender_id: str, recipient_id: str, mid: str, attachments: list[dict[str, Any]]
) -> dict[str, Any]:
    """One ``messaging`` item whose message has ``attachments`` and no text."""
    return {
        "sender": {"id": sender_id},
        "recipient": {"id": recipient_id},
        "timestamp": 1_749_470_370_123,
        "message": {"mid": mid, "attachments": attachments},
    }


def meta_file(kind: str, url: str, **payload: Any) -> dict[str, Any]:
    """A Messenger/Instagram attachment: ``{"type": kind, "payload": {"url": url, …}}``."""
    return {"type": kind, "payload": {"url": url, **payload}}


def messenger_with(person: social.SocialPerson, mid: str, attachments: list[dict[str, Any]]) -> bytes:
    item = meta_attachment_item(person.psid, social.MESSENGER_PAGE_ID, mid, attachments)
    return social.meta_messaging("page", [(social.MESSENGER_PAGE_ID, [item])])


def instagram_with(person: social.SocialPerson, mid: str, attachments: list[dict[str, Any]]) -> bytes:
    item = meta_attachment_item(person.igsid, social.INSTAGRAM_ACCOUNT_ID, mid, attachments)
    return social.meta_messaging("instagram", [(social.INSTAGRAM_ACCOUNT_ID, [item])])


def whatsapp_with(wa_id: str, message_id: str, kind: str, media: dict[str, Any]) -> bytes:
    """A WhatsApp ``messages`` change with one ``kind`` message (``image``, ``document``…) of ``media``."""
    message = {"from": wa_id, "id": message_id, "timestamp": "1749470370", "type": kind, kind: media}
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": "Kerry Fisher"}, "wa_id": wa_id}],
        "messages": [message],
    }
    return json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}],
        }
    ).encode()


def vk_photo(base: str, photo_id: int = 457239017) -> dict[str, Any]:
    """A ``photo`` attachment with three sizes; the largest (``w``) is ``<base>/photo-w.jpg``."""
    return {
        "type": "photo",
        "photo": {
            "album_id": -3,
            "date": 1749470370,
            "id": photo_id,
            "owner_id": 4242,
            "access_key": "9f2a7c1b0e",
            "sizes": [
                {"height": 75, "type": "s", "width": 56, "url": f"{base}/photo-s.jpg"},
                {"height": 1280, "type": "w", "width": 960, "url": f"{base}/photo-w.jpg"},
                {"height": 604, "type": "x", "width": 453, "url": f"{base}/photo-x.jpg"},
            ],
            "text": "",
            "has_tags": False,
        },
    }


def vk_doc(base: str) -> dict[str, Any]:
    return {
        "type": "doc",
        "doc": {
            "id": 671234,
            "owner_id": 4242,
            "title": "order.pdf",
            "size": 30211,
            "ext": "pdf",
            "date": 1749470370,
            "type": 1,
            "url": f"{base}/doc4242_671234?hash=8d1c&dl=GE3D:1749470370&api=1",
            "access_key": "b1c2d3",
        },
    }


def vk_audio_message(base: str) -> dict[str, Any]:
    return {
        "type": "audio_message",
        "audio_message": {
            "id": 671235,
            "owner_id": 4242,
            "duration": 4,
            "waveform": [0, 3, 7, 12, 9, 2],
            "link_ogg": f"{base}/voice.ogg",
            "link_mp3": f"{base}/voice.mp3",
            "access_key": "c2d3e4",
        },
    }


def vk_video() -> dict[str, Any]:
    """A video: VK gives no file link in a notification."""
    return {"type": "video", "video": {"id": 456239018, "owner_id": 4242, "title": "clip", "duration": 9}}


def vk_with(
    person: social.SocialPerson,
    conversation_message_id: int,
    attachments: list[dict[str, Any]],
    *,
    event_id: str,
) -> bytes:
    """``message_new`` from the person with ``attachments`` and no text."""
    raw = json.loads(social.vk_message_new(person, "s", conversation_message_id, "", event_id=event_id))
    raw["object"]["message"]["attachments"] = attachments
    return json.dumps(raw).encode()
