"""Translators name the files a message carried (``media``), per provider, without ever carrying bytes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from contracts import ChatMessageReceived, MediaRef, SocialMessageReceived, parse_event
from hub import samples_chat_social as social
from services.ingress.translate import meta_messaging, meta_whatsapp, telegram, vk
from tests.support import media_payloads as payloads

pytestmark = pytest.mark.unit

CONTEXT: dict[str, Any] = {
    "received_at": datetime(2025, 6, 9, 12, 0, tzinfo=UTC),
    "correlation_id": "corr-1",
    "default_region": "US",
}
CDN = "https://scontent.xx.fbcdn.net/v/t1.15752-9"
VK_CDN = "https://sun9-12.userapi.com/impg"


@pytest.fixture
def person() -> social.SocialPerson:
    return social.social_person("media")


def _one(
    events: list[ChatMessageReceived] | list[SocialMessageReceived],
) -> ChatMessageReceived | SocialMessageReceived:
    [event] = events
    return event


# --- Telegram ------------------------------------------------------------------------------------


def test_telegram_photo_is_referenced_by_its_largest_size(person: social.SocialPerson) -> None:
    raw = payloads.telegram_with(person, 900, 41, photo=payloads.TELEGRAM_PHOTO_SIZES, caption="This one")

    event = _one(telegram.translate(raw, **CONTEXT))

    assert event.media == (MediaRef(kind="photo", media_id="AgACAgIAAxkBAAIBQ2Z-large", size_bytes=66120),)
    assert event.summary == "[photo] This one"


def test_telegram_document_keeps_its_name_type_and_size(person: social.SocialPerson) -> None:
    raw = payloads.telegram_with(person, 901, 42, document=payloads.TELEGRAM_DOCUMENT)

    event = _one(telegram.translate(raw, **CONTEXT))

    assert event.media == (
        MediaRef(
            kind="document",
            media_id="BQACAgIAAxkBAAIBRGZ-doc",
            content_type="application/pdf",
            size_bytes=48213,
            filename="invoice-1042.pdf",
        ),
    )


def test_telegram_voice_message_is_referenced(person: social.SocialPerson) -> None:
    raw = payloads.telegram_with(person, 902, 43, voice=payloads.TELEGRAM_VOICE)

    [ref] = _one(telegram.translate(raw, **CONTEXT)).media

    assert (ref.kind, ref.media_id, ref.content_type) == ("voice", "AwACAgIAAxkBAAIBRWZ-voice", "audio/ogg")


def test_telegram_animation_sent_also_as_document_is_referenced_once(person: social.SocialPerson) -> None:
    raw = payloads.telegram_with(
        person, 903, 44, animation=payloads.TELEGRAM_ANIMATION, document=payloads.TELEGRAM_ANIMATION
    )

    media = _one(telegram.translate(raw, **CONTEXT)).media

    assert [(ref.kind, ref.media_id) for ref in media] == [("animation", "CgACAgIAAxkBAAIBRmZ-anim")]


def test_telegram_text_message_and_edited_photo_carry_media_accordingly(person: social.SocialPerson) -> None:
    text = _one(telegram.translate(social.telegram_message(person, 904, 45, "hi"), **CONTEXT))
    message = social.telegram_message_object(person, 46, None)
    message.update(photo=payloads.TELEGRAM_PHOTO_SIZES, edit_date=message["date"] + 5)
    edited = _one(telegram.translate(social.telegram_update(905, "edited_message", message), **CONTEXT))

    assert text.media == ()
    assert [ref.media_id for ref in edited.media] == ["AgACAgIAAxkBAAIBQ2Z-large"]


# --- Messenger and Instagram ---------------------------------------------------------------------


def test_messenger_file_attachments_are_referenced_by_url_and_shares_are_not(
    person: social.SocialPerson,
) -> None:
    attachments = [
        payloads.meta_file("image", f"{CDN}/photo.jpg?_nc_cat=1&oh=abc", sticker_id=369239263222822),
        payloads.meta_file("file", f"{CDN}/order.pdf?oh=def"),
        {"type": "template", "payload": {"template_type": "generic", "elements": []}},
        {"type": "fallback", "payload": {"url": "https://example.com/shared-article"}, "title": "Shared"},
    ]

    event = _one(
        meta_messaging.translate(payloads.messenger_with(person, "m_media1", attachments), **CONTEXT)
    )

    assert event.media == (
        MediaRef(kind="image", url=f"{CDN}/photo.jpg?_nc_cat=1&oh=abc"),
        MediaRef(kind="file", url=f"{CDN}/order.pdf?oh=def"),
    )
    assert event.summary == "[image]"


def test_instagram_image_and_audio_are_referenced(person: social.SocialPerson) -> None:
    url = "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=17905&signature=Abc"
    attachments = [payloads.meta_file("image", url), payloads.meta_file("audio", url + "&a=1")]

    event = _one(
        meta_messaging.translate(payloads.instagram_with(person, "ig_media1", attachments), **CONTEXT)
    )

    assert [(ref.kind, ref.url) for ref in event.media] == [("image", url), ("audio", url + "&a=1")]


def test_a_link_that_is_not_http_or_too_long_is_left_out_and_the_message_kept(
    person: social.SocialPerson,
) -> None:
    attachments = [
        payloads.meta_file("image", "file:///etc/passwd"),
        payloads.meta_file("image", f"{CDN}/{'x' * 2001}"),
        payloads.meta_file("video", f"{CDN}/clip.mp4"),
    ]

    event = _one(
        meta_messaging.translate(payloads.messenger_with(person, "m_media2", attachments), **CONTEXT)
    )

    assert event.media == (MediaRef(kind="video", url=f"{CDN}/clip.mp4"),)


def test_at_most_ten_files_are_referenced(person: social.SocialPerson) -> None:
    attachments = [payloads.meta_file("image", f"{CDN}/{n}.jpg") for n in range(14)]

    event = _one(
        meta_messaging.translate(payloads.messenger_with(person, "m_media3", attachments), **CONTEXT)
    )

    assert [ref.url for ref in event.media] == [f"{CDN}/{n}.jpg" for n in range(10)]


# --- WhatsApp ------------------------------------------------------------------------------------


def test_whatsapp_image_is_referenced_by_media_id_with_its_type() -> None:
    media = {"caption": "size?", "mime_type": "image/jpeg", "sha256": "Ua5Q...", "id": "1037543291543636"}
    raw = payloads.whatsapp_with("16315551181", "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUZ", "image", media)

    event = _one(meta_whatsapp.translate(raw, **CONTEXT))

    assert event.media == (MediaRef(kind="image", media_id="1037543291543636", content_type="image/jpeg"),)
    assert event.summary == "[image]"


def test_whatsapp_document_keeps_its_file_name_and_text_has_no_media() -> None:
    media = {"filename": "quote.pdf", "mime_type": "application/pdf", "sha256": "x", "id": "2209871"}
    raw = payloads.whatsapp_with("16315551181", "wamid.doc1", "document", media)
    text = json.loads(raw)
    message = text["entry"][0]["changes"][0]["value"]["messages"][0]
    message.update(type="text", text={"body": "hello"})
    del message["document"]

    [ref] = _one(meta_whatsapp.translate(raw, **CONTEXT)).media
    plain = _one(meta_whatsapp.translate(json.dumps(text).encode(), **CONTEXT))

    assert (ref.kind, ref.media_id, ref.filename, ref.content_type) == (
        "document",
        "2209871",
        "quote.pdf",
        "application/pdf",
    )
    assert plain.media == ()


# --- VK ------------------------------------------------------------------------------------------


def test_vk_photo_doc_and_voice_are_referenced_by_their_links_and_video_is_not(
    person: social.SocialPerson,
) -> None:
    attachments = [
        payloads.vk_photo(VK_CDN),
        payloads.vk_doc("https://vk.com"),
        payloads.vk_audio_message("https://psv4.userapi.com"),
        payloads.vk_video(),
    ]

    event = _one(vk.translate(payloads.vk_with(person, 71, attachments, event_id="ev1"), **CONTEXT))

    assert event.media == (
        MediaRef(kind="photo", media_id="photo4242_457239017", url=f"{VK_CDN}/photo-w.jpg"),
        MediaRef(
            kind="doc",
            media_id="doc4242_671234",
            url="https://vk.com/doc4242_671234?hash=8d1c&dl=GE3D:1749470370&api=1",
            size_bytes=30211,
            filename="order.pdf",
        ),
        MediaRef(
            kind="audio_message",
            media_id="audio_message4242_671235",
            url="https://psv4.userapi.com/voice.mp3",
            content_type="audio/mpeg",
        ),
    )
    assert event.summary == "[photo]"


def test_vk_wall_comment_with_a_photo_references_it(person: social.SocialPerson) -> None:
    raw = json.loads(social.vk_wall_reply_new(person, "s", 5521, 88, "look", event_id="e"))
    raw["object"]["attachments"] = [payloads.vk_photo(VK_CDN)]

    event = _one(vk.translate(json.dumps(raw).encode(), **CONTEXT))

    assert [ref.url for ref in event.media] == [f"{VK_CDN}/photo-w.jpg"]


# --- The contract --------------------------------------------------------------------------------


def test_events_stored_before_media_were_referenced_still_parse(person: social.SocialPerson) -> None:
    event = _one(telegram.translate(social.telegram_message(person, 906, 47, "old"), **CONTEXT))
    stored = event.model_dump(mode="json")
    del stored["media"]

    assert parse_event(stored) == event


def test_a_media_reference_must_name_the_file() -> None:
    with pytest.raises(ValueError, match="media_id or a url"):
        MediaRef(kind="photo")
