"""Telegram, VK, Messenger and Instagram: translation, verification, and the ingress answers they need."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from starlette.datastructures import Headers

from contracts import (
    ChatMessageReceived,
    Direction,
    Identity,
    IdentityKind,
    SocialMessageReceived,
    event_id_for,
)
from hub import samples
from hub import samples_chat_social as social
from services.ingress import app as ingress_app
from services.ingress.delivery import Delivery
from services.ingress.endpoints import ENDPOINTS
from services.ingress.errors import IgnoredDelivery, InvalidPayload, InvalidSignature, UnsupportedEventType
from services.ingress.providers import telegram as telegram_provider
from services.ingress.providers import vk as vk_provider
from services.ingress.settings import IngressSettings
from services.ingress.translate import TRANSLATORS, meta, meta_messaging, telegram, vk
from services.ingress.verify import sign_hex

pytestmark = pytest.mark.unit

RECEIVED_AT = datetime(2025, 6, 9, 12, 0, 0, tzinfo=UTC)
SENT_AT = datetime(2025, 6, 9, 11, 59, 30, tzinfo=UTC)
CONTEXT: dict[str, Any] = {"received_at": RECEIVED_AT, "correlation_id": "corr-1", "default_region": "US"}
CURRENT, PREVIOUS = "tg-current_0123456789abcdef", "tg-previous_fedcba9876543210"
INBOUND, OUTBOUND = Direction.INBOUND, Direction.OUTBOUND
SECRETS = [SecretStr(CURRENT), SecretStr(PREVIOUS)]


@pytest.fixture
def person() -> social.SocialPerson:
    return social.social_person(11)


def handle(provider: str, value: str | int) -> Identity:
    return Identity(kind=IdentityKind.HANDLE, value=str(value), provider=provider)


def identities(event: ChatMessageReceived | SocialMessageReceived) -> set[Identity]:
    return set(event.sender.identities)


# --- Telegram: translation ------------------------------------------------------------------------


def test_telegram_message_is_one_chat_event_keyed_by_its_update(person: social.SocialPerson) -> None:
    raw = social.telegram_message(person, 873215001, 42, "Is the  blue\njacket in stock?", sent_at=SENT_AT)

    [event] = telegram.translate(raw, **CONTEXT)

    assert isinstance(event, ChatMessageReceived)
    assert event.provider == "telegram"
    assert event.provider_message_id == f"873215001:message:{person.telegram_id}:42"
    assert event.event_id == event_id_for("telegram", event.provider_message_id)
    assert event.conversation_id == str(person.telegram_id)
    assert identities(event) == {
        handle("telegram", person.telegram_id),
        handle("telegram", "@" + person.telegram_username.lower()),
    }
    assert event.sender.display_name == "Radia Perlman"
    assert event.summary == "Is the blue jacket in stock?"
    assert (event.occurred_at, event.received_at, event.correlation_id) == (SENT_AT, RECEIVED_AT, "corr-1")
    assert [e.event_id for e in telegram.translate(raw, **{**CONTEXT, "correlation_id": "retry"})] == [
        event.event_id
    ]


def test_telegram_edit_is_a_new_event_at_the_edit_time(person: social.SocialPerson) -> None:
    original = social.telegram_message(person, 873215001, 42, "Blue jacket?", sent_at=SENT_AT)
    edited_at = SENT_AT + timedelta(minutes=2)
    edit = social.telegram_edited_message(
        person, 873215002, 42, "Blue jacket, size M?", sent_at=SENT_AT, edited_at=edited_at
    )

    [first] = telegram.translate(original, **CONTEXT)
    [second] = telegram.translate(edit, **CONTEXT)

    assert second.event_id != first.event_id
    assert second.provider_message_id == (
        f"873215002:edited_message:{person.telegram_id}:42:{int(edited_at.timestamp())}"
    )
    assert second.occurred_at == edited_at
    assert second.summary == "[edited] Blue jacket, size M?"
    assert second.conversation_id == first.conversation_id


def test_telegram_button_press_is_a_chat_event_with_its_data(person: social.SocialPerson) -> None:
    raw = social.telegram_callback_query(
        person, 873215003, "4382bfdwdsb323b2d9", "call_back:yes", message_id=41, sent_at=SENT_AT
    )

    [event] = telegram.translate(raw, **CONTEXT)

    assert event.provider_message_id == "873215003:callback_query:4382bfdwdsb323b2d9"
    assert event.summary == "[button] call_back:yes"
    assert event.conversation_id == str(person.telegram_id)
    assert event.occurred_at == RECEIVED_AT  # callback queries carry no date
    assert handle("telegram", person.telegram_id) in identities(event)


def test_telegram_contact_card_of_the_sender_adds_their_phone(person: social.SocialPerson) -> None:
    message = social.telegram_message_object(person, 43, None, sent_at=SENT_AT)
    message["contact"] = {"phone_number": "14155550123", "first_name": "Radia", "user_id": person.telegram_id}
    someone_else = social.telegram_message_object(person, 44, None, sent_at=SENT_AT)
    someone_else["contact"] = {"phone_number": "14155550199", "first_name": "Bob", "user_id": 1}

    [own] = telegram.translate(social.telegram_update(1, "message", message), **CONTEXT)
    [other] = telegram.translate(social.telegram_update(2, "message", someone_else), **CONTEXT)

    assert Identity(kind=IdentityKind.PHONE, value="+14155550123") in identities(own)
    assert own.summary == "[contact]"
    assert all(i.kind is IdentityKind.HANDLE for i in identities(other))


def test_telegram_photo_with_caption_is_summarised_with_its_kind(person: social.SocialPerson) -> None:
    message = social.telegram_message_object(person, 45, None, sent_at=SENT_AT)
    message["photo"] = [{"file_id": "AgACAgIAAxk", "file_unique_id": "AQAD", "width": 90, "height": 67}]
    message["caption"] = "This one"

    [event] = telegram.translate(social.telegram_update(3, "message", message), **CONTEXT)

    assert event.summary == "[photo] This one"


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (lambda p: social.telegram_my_chat_member(p, 5), "telegram update type my_chat_member"),
        (
            lambda p: social.telegram_update(6, "poll", {"id": "5", "question": "?", "options": []}),
            "telegram update type poll",
        ),
        (
            lambda p: social.telegram_update(
                7, "channel_post", {"message_id": 1, "date": 1, "chat": {"id": -1}}
            ),
            "telegram update type channel_post",
        ),
        (lambda p: social.telegram_bot_message(p, 8, 46, "beep"), "telegram message from a bot"),
        (
            lambda p: social.telegram_update(
                9,
                "message",
                {
                    **social.telegram_message_object(p, 47, None),
                    "new_chat_members": [{"id": 5, "is_bot": False}],
                },
            ),
            "telegram service message",
        ),
    ],
)
def test_telegram_updates_that_are_not_customer_messages_are_ignored_with_a_reason(
    build: Callable[[social.SocialPerson], bytes], reason: str, person: social.SocialPerson
) -> None:
    with pytest.raises(IgnoredDelivery, match=f"^{reason}$"):
        telegram.translate(build(person), **CONTEXT)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"update_id": 1}, "update carries no update type"),
        ({"message": {}}, "field update_id is missing"),
        (
            {"update_id": 1, "message": {"message_id": 1, "from": {"id": 5}, "date": 1}},
            "field message.chat is missing",
        ),
        (
            {"update_id": 1, "message": {"message_id": 1, "from": {"id": 5}, "chat": {"id": 5}, "date": "x"}},
            "field message.date must be unix seconds",
        ),
    ],
)
def test_telegram_malformed_updates_are_refused_naming_the_field(document: object, message: str) -> None:
    with pytest.raises(InvalidPayload, match=message):
        telegram.translate(json.dumps(document).encode(), **CONTEXT)


# --- VK: translation ------------------------------------------------------------------------------


def test_vk_message_new_is_a_social_event_keyed_by_the_message_not_the_notification(
    person: social.SocialPerson,
) -> None:
    raw = social.vk_message_new(person, "s", 17, "Hello from VK", event_id="a1b2", sent_at=SENT_AT)
    other_server = social.vk_message_new(person, "s", 17, "Hello from VK", event_id="ffff", sent_at=SENT_AT)

    [event] = vk.translate(raw, **CONTEXT)
    [again] = vk.translate(other_server, **CONTEXT)

    assert isinstance(event, SocialMessageReceived)
    assert (event.provider, event.network) == ("vk", "vk")
    assert event.provider_message_id == f"{social.VK_GROUP_ID}:message:{person.vk_id}:17"
    assert event.event_id == event_id_for("vk", event.provider_message_id) == again.event_id
    assert event.conversation_id == str(person.vk_id)
    assert identities(event) == {handle("vk", person.vk_id)}
    assert (event.summary, event.occurred_at) == ("Hello from VK", SENT_AT)


def test_vk_message_new_of_old_api_versions_has_the_message_as_object(person: social.SocialPerson) -> None:
    legacy = {"id": 300, "date": int(SENT_AT.timestamp()), "peer_id": person.vk_id, "from_id": person.vk_id}
    raw = social.vk_notification(
        "message_new", {**legacy, "text": "", "attachments": [{"type": "photo"}]}, "s", event_id="e"
    )

    [event] = vk.translate(raw, **CONTEXT)

    assert event.provider_message_id == f"{social.VK_GROUP_ID}:message:300"
    assert event.summary == "[photo]"


def test_vk_wall_reply_is_a_social_event_in_the_post_conversation(person: social.SocialPerson) -> None:
    raw = social.vk_wall_reply_new(
        person, "s", 5521, 88, "When does the sale end?", event_id="e", sent_at=SENT_AT
    )

    [event] = vk.translate(raw, **CONTEXT)

    assert event.conversation_id == f"wall-{social.VK_GROUP_ID}_88"
    assert event.provider_message_id == f"{social.VK_GROUP_ID}:wall_reply:-{social.VK_GROUP_ID}_88:5521"
    assert identities(event) == {handle("vk", person.vk_id)}
    assert event.summary == "When does the sale end?"


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (lambda p: social.vk_group_join(p, "s", event_id="e"), "vk event type group_join"),
        (
            lambda p: social.vk_confirmation("s"),
            "vk confirmation request, but no confirmation string is configured",
        ),
        (
            lambda p: social.vk_notification(
                "message_new",
                {"message": {"id": 1, "date": 1, "peer_id": 5, "from_id": -social.VK_GROUP_ID, "text": "hi"}},
                "s",
                event_id="e",
            ),
            "vk message written by a community",
        ),
        (
            lambda p: social.vk_notification(
                "wall_reply_new",
                {"id": 1, "date": 1, "post_id": 2, "owner_id": -1, "from_id": -1, "text": "thanks!"},
                "s",
                event_id="e",
            ),
            "vk wall reply written by a community",
        ),
    ],
)
def test_vk_notifications_that_are_not_customer_messages_are_ignored(
    build: Callable[[social.SocialPerson], bytes], reason: str, person: social.SocialPerson
) -> None:
    with pytest.raises(IgnoredDelivery, match=f"^{reason}$"):
        vk.translate(build(person), **CONTEXT)


def test_vk_message_without_a_sender_is_refused_naming_the_field() -> None:
    raw = social.vk_notification(
        "message_new", {"message": {"id": 1, "date": 1, "peer_id": 5}}, "s", event_id="e"
    )
    with pytest.raises(InvalidPayload, match=r"^field object\.message\.from_id is missing$"):
        vk.translate(raw, **CONTEXT)


# --- Messenger and Instagram: translation ---------------------------------------------------------


def _batch(
    kind: str, person_id: Callable[[social.SocialPerson], str], account: str
) -> tuple[bytes, list[str]]:
    """Two entries: inbound messages of two people, an echo of our reply, a delivery and a read."""
    alice, bob = social.social_person("alice"), social.social_person("bob")
    first = [
        social.meta_text_item(person_id(alice), account, "m_1", "Hi", sent_at=SENT_AT),
        social.meta_echo_item(account, person_id(alice), "m_echo_1", "Hello! How can we help?"),
        social.meta_delivery_item(person_id(alice), account, ["m_echo_1"]),
        social.meta_text_item(person_id(bob), account, "m_2", "Opening hours?", sent_at=SENT_AT),
    ]
    second = [
        social.meta_read_item(person_id(bob), account),
        social.meta_text_item(
            person_id(alice), account, "m_3", "Thanks", sent_at=SENT_AT + timedelta(seconds=5)
        ),
    ]
    return social.meta_messaging(kind, [(account, first), (account, second)]), [
        person_id(alice),
        person_id(alice),
        person_id(bob),
        person_id(alice),
    ]


@pytest.mark.parametrize(
    ("kind", "person_id", "account", "provider", "network"),
    [
        ("page", lambda p: p.psid, social.MESSENGER_PAGE_ID, "meta_messenger", "messenger"),
        ("instagram", lambda p: p.igsid, social.INSTAGRAM_ACCOUNT_ID, "meta_instagram", "instagram"),
    ],
)
def test_meta_messaging_batch_gives_one_event_per_message_either_way_and_skips_receipts(
    kind: str, person_id: Callable[[social.SocialPerson], str], account: str, provider: str, network: str
) -> None:
    raw, people = _batch(kind, person_id, account)
    mids = ["m_1", "m_echo_1", "m_2", "m_3"]

    events = meta.translate(raw, **CONTEXT)

    assert [e.provider_message_id for e in events] == mids
    assert all(isinstance(e, SocialMessageReceived) for e in events)
    assert {(e.provider, e.network) for e in events} == {(provider, network)}
    assert [e.event_id for e in events] == [event_id_for(provider, mid) for mid in mids]
    assert [e.direction for e in events] == [INBOUND, OUTBOUND, INBOUND, INBOUND]
    # The echo is attributed to its recipient, in the same conversation as their own messages.
    assert [e.sender.identities for e in events] == [(handle(network, s),) for s in people]
    assert [e.conversation_id for e in events] == people
    assert [e.summary for e in events] == ["Hi", "Hello! How can we help?", "Opening hours?", "Thanks"]
    assert events[0].occurred_at == SENT_AT + timedelta(milliseconds=123)


# --- Instagram comments and Facebook Page feed comments ---------------------------------------------

# A comments notification as Meta's Instagram webhook examples show it (entry.time in seconds).
INSTAGRAM_COMMENT_LITERAL = b"""{
  "object": "instagram",
  "entry": [{
    "id": "17841405822304914",
    "time": 1749470400,
    "changes": [{
      "field": "comments",
      "value": {
        "from": {"id": "31234567890123456", "username": "Radia.Sews"},
        "media": {"id": "18172143295349192", "media_product_type": "FEED"},
        "id": "17919697626119712",
        "text": "Do you ship the  red scarf to Canada?"
      }
    }]
  }]
}"""


def test_instagram_comment_is_a_social_event_in_the_media_conversation() -> None:
    [event] = meta.translate(INSTAGRAM_COMMENT_LITERAL, **CONTEXT)

    assert isinstance(event, SocialMessageReceived)
    assert (event.provider, event.network, event.direction) == ("meta_instagram", "instagram", INBOUND)
    assert event.provider_message_id == "17919697626119712"
    assert event.event_id == event_id_for("meta_instagram", "17919697626119712")
    assert event.conversation_id == "18172143295349192"
    assert identities(event) == {
        handle("instagram", "31234567890123456"),
        handle("instagram", "@radia.sews"),
    }
    assert event.sender.display_name == "Radia.Sews"
    assert event.summary == "[comment] Do you ship the red scarf to Canada?"
    assert event.occurred_at == datetime.fromtimestamp(1749470400, UTC)  # entry.time: the payload has none
    retried = {**CONTEXT, "correlation_id": "retry"}
    assert [e.event_id for e in meta.translate(INSTAGRAM_COMMENT_LITERAL, **retried)] == [event.event_id]


def test_instagram_comment_and_direct_message_of_one_person_share_the_igsid_handle(
    person: social.SocialPerson,
) -> None:
    [message] = meta.translate(social.instagram_message(person, "m_dm", "Hi"), **CONTEXT)
    [comment] = meta.translate(social.instagram_comment(person, "1791", "1817", "Lovely!"), **CONTEXT)

    assert handle("instagram", person.igsid) in identities(message) & identities(comment)
    assert comment.conversation_id == "1817" != message.conversation_id


def test_instagram_batch_mixes_messages_and_comments_in_payload_order_and_skips_the_rest(
    person: social.SocialPerson,
) -> None:
    account = social.INSTAGRAM_ACCOUNT_ID
    own_reply = social.instagram_comment_change(person, "1793", "1817", "Thank you!")
    own_reply["value"]["from"] = {"id": account, "username": "example_shop"}
    changes = [
        social.instagram_comment_change(person, "1791", "1817", "Live now?", field="live_comments"),
        own_reply,
        {"field": "mentions", "value": {"media_id": "1817", "comment_id": "1794"}},
        social.instagram_comment_change(person, "1792", "1817", ""),
    ]
    document = json.loads(social.meta_changes("instagram", [(account, changes)], sent_at=SENT_AT))
    document["entry"].insert(0, json.loads(social.instagram_message(person, "m_dm", "Hi"))["entry"][0])

    events = meta.translate(json.dumps(document).encode(), **CONTEXT)

    assert [(e.provider_message_id, e.summary) for e in events] == [
        ("m_dm", "Hi"),
        ("1791", "[live comment] Live now?"),
        ("1792", "[comment]"),
    ]
    assert events[1].occurred_at == SENT_AT.replace(microsecond=0)


def test_instagram_delivery_of_only_the_accounts_own_comments_is_ignored(person: social.SocialPerson) -> None:
    account = social.INSTAGRAM_ACCOUNT_ID
    own_reply = social.instagram_comment_change(person, "1793", "1817", "Thank you!")
    own_reply["value"]["from"] = {"id": account, "username": "example_shop"}
    with pytest.raises(IgnoredDelivery, match=r"^instagram delivery without messages or comments$"):
        meta.translate(social.meta_changes("instagram", [(account, [own_reply])]), **CONTEXT)


def test_instagram_comment_without_its_media_is_refused_naming_the_field(person: social.SocialPerson) -> None:
    change = social.instagram_comment_change(person, "1791", "1817", "Hi")
    del change["value"]["media"]
    raw = social.meta_changes("instagram", [(social.INSTAGRAM_ACCOUNT_ID, [change])])
    with pytest.raises(InvalidPayload, match=r"^field entry\[0\]\.changes\[0\]\.value\.media is missing$"):
        meta.translate(raw, **CONTEXT)


def test_page_feed_comment_is_a_facebook_social_event_in_the_post_conversation(
    person: social.SocialPerson,
) -> None:
    post = f"{social.MESSENGER_PAGE_ID}_1022334455667788"
    change = social.page_feed_comment_change(
        person, f"{post[-16:]}_99001", post, "What sizes?", sent_at=SENT_AT
    )

    [event] = meta.translate(social.meta_changes("page", [(social.MESSENGER_PAGE_ID, [change])]), **CONTEXT)

    assert (event.provider, event.network, event.direction) == ("meta_messenger", "facebook", INBOUND)
    assert event.provider_message_id == "1022334455667788_99001"
    assert event.event_id == event_id_for("meta_messenger", "1022334455667788_99001")
    assert event.conversation_id == post
    # A Graph API user id, not a Messenger PSID: a handle of its own network.
    assert identities(event) == {handle("facebook", person.facebook_id)}
    assert event.sender.display_name == "Radia Perlman"
    assert (event.summary, event.occurred_at) == ("[comment] What sizes?", SENT_AT.replace(microsecond=0))


@pytest.mark.parametrize(
    "change",
    [
        {"item": "reaction", "verb": "add", "reaction_type": "like", "post_id": "1_2", "from": {"id": "7"}},
        {"item": "comment", "verb": "edited", "comment_id": "2_3", "post_id": "1_2", "from": {"id": "7"}},
        {"item": "comment", "verb": "remove", "comment_id": "2_3", "post_id": "1_2", "from": {"id": "7"}},
        {"item": "status", "verb": "add", "post_id": "1_2", "message": "New arrivals", "from": {"id": "7"}},
        {"item": "comment", "verb": "add", "comment_id": "2_3", "post_id": "1_2", "message": "Anonymous"},
        {
            "item": "comment",
            "verb": "add",
            "comment_id": "2_4",
            "post_id": "1_2",
            "message": "Thanks for asking!",
            "from": {"id": social.MESSENGER_PAGE_ID, "name": "Example Shop"},
        },
    ],
    ids=["reaction", "edit", "removal", "post", "no author", "the page's own reply"],
)
def test_page_feed_changes_that_are_not_a_customers_new_comment_are_skipped(change: dict[str, Any]) -> None:
    raw = social.meta_changes("page", [(social.MESSENGER_PAGE_ID, [{"field": "feed", "value": change}])])
    with pytest.raises(IgnoredDelivery, match=r"^messenger delivery without messages or comments$"):
        meta.translate(raw, **CONTEXT)


def test_messenger_and_instagram_ids_of_the_same_mid_do_not_collide(person: social.SocialPerson) -> None:
    [on_messenger] = meta.translate(social.messenger_message(person, "m_same", "a"), **CONTEXT)
    [on_instagram] = meta.translate(social.instagram_message(person, "m_same", "a"), **CONTEXT)

    assert on_messenger.event_id != on_instagram.event_id


def test_meta_messaging_delivery_of_only_receipts_and_unsent_messages_is_ignored(
    person: social.SocialPerson,
) -> None:
    unsent = social.meta_text_item(person.psid, social.MESSENGER_PAGE_ID, "m_gone", "oops")
    unsent["message"] = {"mid": "m_gone", "is_deleted": True}
    items = [
        unsent,
        social.meta_delivery_item(person.psid, social.MESSENGER_PAGE_ID, ["m_echo"]),
        social.meta_read_item(person.psid, social.MESSENGER_PAGE_ID),
    ]
    with pytest.raises(IgnoredDelivery, match=r"^messenger delivery without messages or comments$"):
        meta.translate(social.meta_messaging("page", [(social.MESSENGER_PAGE_ID, items)]), **CONTEXT)


def test_meta_dispatch_keeps_whatsapp_and_refuses_other_objects(person: social.SocialPerson) -> None:
    whatsapp = samples.whatsapp_message(samples.sample_person(3), "wamid.x", "Hi", sent_at=SENT_AT)

    [event] = meta.translate(whatsapp, **CONTEXT)

    assert (event.provider, event.network) == ("meta_whatsapp", "whatsapp")
    with pytest.raises(UnsupportedEventType):
        meta.translate(b'{"object": "permissions", "entry": []}', **CONTEXT)
    with pytest.raises(InvalidPayload, match=r"^field entry\[0\]\.messaging\[0\]\.message\.mid is missing$"):
        meta.translate(
            social.meta_messaging(
                "instagram", [("1", [{"sender": {"id": "2"}, "timestamp": 1, "message": {}}])]
            ),
            **CONTEXT,
        )


def test_every_new_provider_is_in_the_translator_registry() -> None:
    assert TRANSLATORS["telegram"] is telegram.translate
    assert TRANSLATORS["vk"] is vk.translate
    assert TRANSLATORS["meta_messenger"] is TRANSLATORS["meta_instagram"] is meta_messaging.translate
    assert {"/webhooks/chat/telegram", "/webhooks/social/vk", "/webhooks/social/meta"} <= {
        e.path for e in ENDPOINTS
    }


# --- verification matrices ------------------------------------------------------------------------


def _tweak(secret: str) -> str:
    """The secret with its last character changed."""
    return secret[:-1] + ("A" if secret[-1] != "A" else "B")


TELEGRAM_ROWS: list[tuple[str, dict[str, str], bool]] = [
    ("no header", {}, False),
    ("empty header", {"X-Telegram-Bot-Api-Secret-Token": ""}, False),
    ("wrong secret", {"X-Telegram-Bot-Api-Secret-Token": "not-the-secret"}, False),
    ("one byte changed", {"X-Telegram-Bot-Api-Secret-Token": _tweak(CURRENT)}, False),
    ("prefix of the secret", {"X-Telegram-Bot-Api-Secret-Token": CURRENT[:-1]}, False),
    ("secret with a space", {"X-Telegram-Bot-Api-Secret-Token": CURRENT + " x"}, False),
    ("secret in another header", {"X-Hub-Signature-256": CURRENT}, False),
    ("current secret", {"X-Telegram-Bot-Api-Secret-Token": CURRENT}, True),
    ("previous secret (rotation)", {"x-telegram-bot-api-secret-token": PREVIOUS}, True),
]


def _accepted(verify: Callable[[Delivery, Sequence[SecretStr]], int], delivery: Delivery) -> bool:
    try:
        verify(delivery, SECRETS)
    except InvalidSignature:
        return False
    return True


def test_telegram_accepts_exactly_the_deliveries_carrying_a_configured_secret_token() -> None:
    body = b'{"update_id": 1, "message": {}}'
    results = {
        name: _accepted(telegram_provider.verify, Delivery(body, Headers(headers)))
        for name, headers, _ in TELEGRAM_ROWS
    }
    assert results == {name: valid for name, _, valid in TELEGRAM_ROWS}


def _vk_body(secret: object = None, *, drop: bool = False) -> bytes:
    document: dict[str, object] = {"group_id": 1, "type": "message_new", "event_id": "e", "object": {}}
    if not drop:
        document["secret"] = secret
    return json.dumps(document).encode()


VK_ROWS: list[tuple[str, bytes, bool]] = [
    ("no secret field", _vk_body(drop=True), False),
    ("null secret", _vk_body(None), False),
    ("numeric secret", _vk_body(12345), False),
    ("wrong secret", _vk_body("not-the-secret"), False),
    ("one byte changed", _vk_body(_tweak(CURRENT)), False),
    ("malformed JSON", _vk_body(CURRENT)[:-1], False),
    ("JSON array", json.dumps([{"secret": CURRENT}]).encode(), False),
    ("not UTF-8", b'{"secret": "\xff"}', False),
    (
        "duplicate secret keys",
        f'{{"type": "message_new", "secret": "forged", "secret": "{CURRENT}"}}'.encode(),
        False,
    ),
    ("current secret", _vk_body(CURRENT), True),
    ("previous secret (rotation)", _vk_body(PREVIOUS), True),
]


def test_vk_accepts_exactly_the_notifications_carrying_a_configured_secret() -> None:
    results = {name: _accepted(vk_provider.verify, Delivery(body, Headers({}))) for name, body, _ in VK_ROWS}
    assert results == {name: valid for name, _, valid in VK_ROWS}


def test_meta_messaging_bodies_are_checked_with_the_app_secret_like_whatsapp(
    person: social.SocialPerson,
) -> None:
    [endpoint] = [e for e in ENDPOINTS if e.path == "/webhooks/social/meta"]
    body = social.instagram_message(person, "m_1", "Hi")
    rows = {
        "signed by current": (body, sign_hex(body, CURRENT), True),
        "signed by previous": (body, sign_hex(body, PREVIOUS), True),
        "body changed after signing": (body.replace(b"Hi", b"Ho"), sign_hex(body, CURRENT), False),
        "signed by another secret": (body, sign_hex(body, "other"), False),
    }
    results = {
        name: _accepted(endpoint.verify, Delivery(raw, Headers({"X-Hub-Signature-256": signature})))
        for name, (raw, signature, _) in rows.items()
    }
    assert results == {name: valid for name, (_, _, valid) in rows.items()}


# --- the ingress answers (no Kafka: none of these deliveries publishes) ----------------------------


@pytest.fixture
def client() -> TestClient:
    settings = IngressSettings(
        telegram_secrets=SECRETS, vk_secrets=SECRETS, vk_confirmation=SecretStr("1a2b3c4d")
    )
    return TestClient(ingress_app.build_app(settings))  # no ``with``: the Kafka lifespan does not run


def test_vk_confirmation_is_answered_with_the_configured_string_in_plain_text(client: TestClient) -> None:
    answer = client.post(social.VK_PATH, content=social.vk_confirmation(PREVIOUS))
    forged = client.post(social.VK_PATH, content=social.vk_confirmation("guess"))

    assert answer.status_code == 200
    assert answer.text == "1a2b3c4d"
    assert answer.headers["content-type"].startswith("text/plain")
    assert forged.status_code == 401
    assert forged.json()["error"]["code"] == "invalid_signature"


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("1a2b3c4d", {"*": "1a2b3c4d"}),
        (" 12345:abc123, 67890:def456 ", {"12345": "abc123", "67890": "def456"}),
        ("00012345:abc123", {"12345": "abc123"}),
        ("", {}),
    ],
)
def test_vk_confirmation_setting_is_one_string_or_group_pairs(setting: str, expected: dict[str, str]) -> None:
    parsed = IngressSettings(vk_confirmation=setting).vk_confirmation
    assert {group: code.get_secret_value() for group, code in parsed.items()} == expected


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ("12345:abc123,def456", "group_id:string pairs"),
        ("12345:abc123,x1:def456", "group_id:string pairs"),
        ("12345:", "group_id:string pairs"),
        ("12345:abc123,012345:def456", "names a group_id twice"),
    ],
)
def test_vk_confirmation_setting_of_another_shape_is_refused(setting: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        IngressSettings(vk_confirmation=setting)


def test_vk_confirmation_answers_each_community_its_own_string_and_refuses_unknown_groups() -> None:
    settings = IngressSettings(
        vk_secrets=SECRETS, vk_confirmation=f"{social.VK_GROUP_ID}:1a2b3c4d,67890:def456"
    )
    client = TestClient(ingress_app.build_app(settings))

    def confirm(group_id: object) -> Any:
        document = json.loads(social.vk_confirmation(CURRENT))
        document["group_id"] = group_id
        return client.post(social.VK_PATH, content=json.dumps(document).encode())

    ours, other, unknown = confirm(social.VK_GROUP_ID), confirm(67890), confirm(11111)

    assert (ours.status_code, ours.text) == (200, "1a2b3c4d")
    assert (other.status_code, other.text) == (200, "def456")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "unknown_vk_group"
    assert "def456" not in unknown.text and "1a2b3c4d" not in unknown.text
    assert confirm("not a group").status_code == 404


def test_vk_ignored_notification_is_answered_ok_and_unreadable_body_401(
    client: TestClient, person: social.SocialPerson
) -> None:
    ignored = client.post(social.VK_PATH, content=social.vk_group_join(person, CURRENT, event_id="e"))
    garbage = client.post(social.VK_PATH, content=b"type=confirmation")

    assert (ignored.status_code, ignored.text) == (200, "ok")
    assert garbage.status_code == 401


def test_telegram_ignored_update_is_answered_with_the_json_reason(
    client: TestClient, person: social.SocialPerson
) -> None:
    hook = social.telegram_hook(social.telegram_my_chat_member(person, 5), CURRENT)
    answer = client.post(hook.path, content=hook.body, headers=hook.headers)
    unsigned = client.post(hook.path, content=hook.body)

    assert answer.status_code == 200
    assert answer.json() == {"accepted": 0, "event_ids": [], "ignored": "telegram update type my_chat_member"}
    assert unsigned.status_code == 401


def test_channels_without_secrets_are_disabled() -> None:
    bare = TestClient(ingress_app.build_app(IngressSettings()))
    assert bare.post(social.TELEGRAM_PATH, content=b"{}").status_code == 404
    assert bare.post(social.VK_PATH, content=b"{}").status_code == 404
