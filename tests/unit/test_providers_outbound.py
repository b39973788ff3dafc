"""Outbound interactions where the provider reports them: Meta echoes, Telegram Business chats, VK
replies and edits, and agents' replies through our chat widget.

An outbound event is attributed to the customer it was sent to (``sender`` is the customer's side),
so it lands on the same card and in the same conversation as the customer's own messages.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts import (
    ChatMessageReceived,
    Direction,
    Identity,
    IdentityKind,
    InteractionEvent,
    SocialMessageReceived,
    event_id_for,
    parse_event,
)
from hub import samples_chat_social as social
from services.ingress.errors import IgnoredDelivery, InvalidPayload
from services.ingress.translate import chat_widget, meta, telegram, vk

pytestmark = pytest.mark.unit

RECEIVED_AT = datetime(2025, 6, 9, 12, 0, 0, tzinfo=UTC)
SENT_AT = datetime(2025, 6, 9, 11, 59, 30, tzinfo=UTC)
CONTEXT: dict[str, Any] = {"received_at": RECEIVED_AT, "correlation_id": "corr-1", "default_region": "US"}
RETRY: dict[str, Any] = {
    **CONTEXT,
    "correlation_id": "retry",
    "received_at": RECEIVED_AT + timedelta(hours=1),
}
INBOUND, OUTBOUND = Direction.INBOUND, Direction.OUTBOUND


@pytest.fixture
def person() -> social.SocialPerson:
    return social.social_person("outbound")


def handle(provider: str, value: str | int) -> Identity:
    return Identity(kind=IdentityKind.HANDLE, value=str(value), provider=provider)


def as_json(document: object) -> bytes:
    return json.dumps(document).encode()


def assert_round_trips(event: InteractionEvent) -> None:
    """The direction survives the event's JSON form, as the timeline writer reads it from Kafka."""
    parsed = parse_event(json.loads(event.model_dump_json()))
    assert parsed == event
    assert parsed.direction is event.direction


# --- Meta: message_echoes -------------------------------------------------------------------------

# The text echo of Meta's message_echoes reference (common format, Example 1), in a page delivery.
MESSENGER_ECHO_LITERAL = b"""{
  "object": "page",
  "entry": [{
    "id": "108453271947562",
    "time": 1457764198246,
    "messaging": [{
      "sender": {"id": "108453271947562"},
      "recipient": {"id": "24851372840182301"},
      "timestamp": 1457764197627,
      "message": {
        "is_echo": true,
        "app_id": 1517776481860111,
        "metadata": "agent:17",
        "mid": "mid.1457764197618:41d102a3e1ae206a38",
        "text": "Your order has shipped!"
      }
    }]
  }]
}"""


def test_messenger_echo_is_an_outbound_message_to_its_recipient() -> None:
    [event] = meta.translate(MESSENGER_ECHO_LITERAL, **CONTEXT)

    assert isinstance(event, SocialMessageReceived)
    assert event.direction is OUTBOUND
    assert (event.provider, event.network) == ("meta_messenger", "messenger")
    assert event.provider_message_id == "mid.1457764197618:41d102a3e1ae206a38"
    assert event.event_id == event_id_for("meta_messenger", event.provider_message_id)
    assert event.sender.identities == (handle("messenger", "24851372840182301"),)
    assert event.conversation_id == "24851372840182301"
    assert event.summary == "Your order has shipped!"
    assert event.occurred_at == datetime.fromtimestamp(1457764197.627, UTC)
    assert [e.event_id for e in meta.translate(MESSENGER_ECHO_LITERAL, **RETRY)] == [event.event_id]
    assert_round_trips(event)


def test_instagram_echo_of_an_attachment_is_outbound_and_summarised_by_its_type(
    person: social.SocialPerson,
) -> None:
    item = social.meta_echo_item(social.INSTAGRAM_ACCOUNT_ID, person.igsid, "aWdfZAG1faXRlbQ", "x")
    item["message"] = {
        "mid": "aWdfZAG1faXRlbQ",
        "is_echo": True,
        "attachments": [
            {"type": "image", "payload": {"url": "https://lookaside.fbsbx.com/ig_messaging_cdn/1"}}
        ],
    }
    raw = social.meta_messaging("instagram", [(social.INSTAGRAM_ACCOUNT_ID, [item])])

    [event] = meta.translate(raw, **CONTEXT)

    assert (event.direction, event.network, event.summary) == (OUTBOUND, "instagram", "[image]")
    assert event.sender.identities == (handle("instagram", person.igsid),)


def test_echo_and_the_customers_message_share_one_card_identity_and_conversation(
    person: social.SocialPerson,
) -> None:
    [question] = meta.translate(social.messenger_message(person, "m_q", "Is it in stock?"), **CONTEXT)
    [answer] = meta.translate(social.messenger_echo(person, "m_a", "Yes, size M too"), **CONTEXT)

    assert (question.direction, answer.direction) == (INBOUND, OUTBOUND)
    assert question.sender.identities == answer.sender.identities
    assert question.conversation_id == answer.conversation_id == person.psid


def test_meta_echo_without_a_recipient_is_refused_naming_the_field(person: social.SocialPerson) -> None:
    item = social.meta_echo_item(social.MESSENGER_PAGE_ID, person.psid, "m_e", "Hello")
    del item["recipient"]
    raw = social.meta_messaging("page", [(social.MESSENGER_PAGE_ID, [item])])
    with pytest.raises(InvalidPayload, match=r"^field entry\[0\]\.messaging\[0\]\.recipient is missing$"):
        meta.translate(raw, **CONTEXT)


# --- Telegram Business: business_message / edited_business_message -------------------------------

# A business_message update as Bot API 7.2 documents it: the customer writes to the business account.
TELEGRAM_BUSINESS_LITERAL = b"""{
  "update_id": 873219001,
  "business_message": {
    "business_connection_id": "AQAAAEtTGgYBAAAA8XkZJX0lOqc",
    "message_id": 2201,
    "from": {"id": 358011112, "is_bot": false, "first_name": "Ada", "last_name": "Lovelace",
             "username": "Ada_L", "language_code": "en"},
    "chat": {"id": 358011112, "first_name": "Ada", "last_name": "Lovelace", "username": "Ada_L",
             "type": "private"},
    "date": 1749470370,
    "text": "Can I pick it up today?"
  }
}"""


def test_telegram_business_message_from_the_customer_is_inbound_in_the_business_chat() -> None:
    [event] = telegram.translate(TELEGRAM_BUSINESS_LITERAL, **CONTEXT)

    assert isinstance(event, ChatMessageReceived)
    assert event.direction is INBOUND
    assert event.provider_message_id == "873219001:business_message:358011112:2201"
    assert event.event_id == event_id_for("telegram", event.provider_message_id)
    assert event.conversation_id == "business:358011112"  # not the bot chat that shares the id
    assert set(event.sender.identities) == {handle("telegram", 358011112), handle("telegram", "@ada_l")}
    assert (event.summary, event.sender.display_name) == ("Can I pick it up today?", "Ada Lovelace")
    assert event.occurred_at == datetime.fromtimestamp(1749470370, UTC)
    assert [e.event_id for e in telegram.translate(TELEGRAM_BUSINESS_LITERAL, **RETRY)] == [event.event_id]


@pytest.mark.parametrize("by_bot", [False, True], ids=["the owner", "our bot for the owner"])
def test_telegram_business_message_written_by_the_business_is_outbound_to_the_chat(
    by_bot: bool, person: social.SocialPerson
) -> None:
    raw = social.telegram_business_message(
        person, 873219002, 2202, "Yes, until 7 pm", outgoing=True, by_bot=by_bot, sent_at=SENT_AT
    )

    [event] = telegram.translate(raw, **CONTEXT)

    assert event.direction is OUTBOUND
    # The customer is the chat; nothing of the business account becomes theirs.
    assert set(event.sender.identities) == {
        handle("telegram", person.telegram_id),
        handle("telegram", "@" + person.telegram_username.lower()),
    }
    assert event.sender.display_name == f"{person.first_name} {person.last_name}"
    assert event.conversation_id == f"business:{person.telegram_id}"
    assert (event.summary, event.occurred_at) == ("Yes, until 7 pm", SENT_AT)
    assert_round_trips(event)


def test_telegram_business_owner_sharing_their_contact_card_does_not_give_the_customer_their_phone(
    person: social.SocialPerson,
) -> None:
    document = json.loads(social.telegram_business_message(person, 5, 2203, "x", outgoing=True))
    message = document["business_message"]
    del message["text"]
    owner = social.TELEGRAM_BUSINESS_OWNER
    message["contact"] = {"phone_number": "14155550100", "first_name": "Shop", "user_id": owner["id"]}

    [event] = telegram.translate(as_json(document), **CONTEXT)

    assert event.direction is OUTBOUND
    assert all(identity.kind is IdentityKind.HANDLE for identity in event.sender.identities)


@pytest.mark.parametrize("outgoing", [False, True], ids=["customer", "business"])
def test_telegram_edited_business_message_is_a_new_event_at_the_edit_time(
    outgoing: bool, person: social.SocialPerson
) -> None:
    original = social.telegram_business_message(person, 1, 2204, "See you at 5", outgoing=outgoing)
    edited_at = SENT_AT + timedelta(minutes=3)
    edit = social.telegram_business_message(
        person, 2, 2204, "See you at 6", outgoing=outgoing, sent_at=SENT_AT, edited_at=edited_at
    )

    [first] = telegram.translate(original, **CONTEXT)
    [second] = telegram.translate(edit, **CONTEXT)

    assert second.event_id != first.event_id
    assert second.provider_message_id == (
        f"2:edited_business_message:{person.telegram_id}:2204:{int(edited_at.timestamp())}"
    )
    assert (second.occurred_at, second.summary) == (edited_at, "[edited] See you at 6")
    assert second.direction is first.direction is (OUTBOUND if outgoing else INBOUND)
    assert second.conversation_id == first.conversation_id


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (
            lambda p: social.telegram_deleted_business_messages(p, 11, [2201, 2202]),
            "telegram update type deleted_business_messages",
        ),
        (lambda p: social.telegram_business_connection(12), "telegram update type business_connection"),
        # Outside business chats a bot's message is still nobody's: our own bot's included.
        (lambda p: social.telegram_bot_message(p, 13, 46, "beep"), "telegram message from a bot"),
    ],
)
def test_telegram_business_bookkeeping_updates_and_plain_bot_messages_are_ignored(
    build: Any, reason: str, person: social.SocialPerson
) -> None:
    with pytest.raises(IgnoredDelivery, match=f"^{reason}$"):
        telegram.translate(build(person), **CONTEXT)


def test_telegram_business_message_from_the_business_outside_a_private_chat_is_ignored(
    person: social.SocialPerson,
) -> None:
    document = json.loads(social.telegram_business_message(person, 14, 2205, "Hi all", outgoing=True))
    document["business_message"]["chat"] = {"id": -1002233445566, "title": "Shop fans", "type": "supergroup"}
    with pytest.raises(IgnoredDelivery, match=r"^telegram business message outside a private chat$"):
        telegram.translate(as_json(document), **CONTEXT)


# --- VK: message_reply / message_edit --------------------------------------------------------------

# A message_reply notification (API 5.199): ``object`` is the message the community sent.
VK_REPLY_LITERAL = b"""{
  "group_id": 218370125,
  "type": "message_reply",
  "event_id": "f2c9a1d3c4b5a6978877665544332211aabbccdd",
  "v": "5.199",
  "object": {
    "date": 1749470400,
    "from_id": -218370125,
    "id": 1832,
    "out": 1,
    "version": 10003541,
    "attachments": [],
    "conversation_message_id": 18,
    "fwd_messages": [],
    "important": false,
    "is_hidden": false,
    "peer_id": 447120356,
    "random_id": 1923741,
    "text": "Yes, we are open until 9 pm.",
    "admin_author_id": 1209831
  },
  "secret": "s"
}"""


def test_vk_message_reply_is_an_outbound_message_to_the_peer() -> None:
    [event] = vk.translate(VK_REPLY_LITERAL, **CONTEXT)

    assert isinstance(event, SocialMessageReceived)
    assert event.direction is OUTBOUND
    assert event.provider_message_id == "218370125:message:447120356:18"
    assert event.event_id == event_id_for("vk", event.provider_message_id)
    assert event.sender.identities == (handle("vk", 447120356),)
    assert event.conversation_id == "447120356"
    assert event.summary == "Yes, we are open until 9 pm."
    assert event.occurred_at == datetime.fromtimestamp(1749470400, UTC)
    other_server = VK_REPLY_LITERAL.replace(b"f2c9a1d3", b"0000aaaa")
    assert [e.event_id for e in vk.translate(other_server, **RETRY)] == [event.event_id]
    assert_round_trips(event)


def test_vk_reply_and_the_persons_message_share_identity_and_conversation(
    person: social.SocialPerson,
) -> None:
    [question] = vk.translate(social.vk_message_new(person, "s", 3, "Open today?", event_id="a"), **CONTEXT)
    [answer] = vk.translate(social.vk_message_reply(person, "s", 4, "Until 9 pm", event_id="b"), **CONTEXT)

    assert (question.direction, answer.direction) == (INBOUND, OUTBOUND)
    assert question.sender.identities == answer.sender.identities
    assert question.conversation_id == answer.conversation_id
    assert question.event_id != answer.event_id


def test_vk_community_reply_into_a_group_chat_names_no_customer_and_is_ignored() -> None:
    document = json.loads(VK_REPLY_LITERAL)
    document["object"]["peer_id"] = 2_000_000_007
    with pytest.raises(IgnoredDelivery, match=r"^vk community message to a group chat or another community$"):
        vk.translate(as_json(document), **CONTEXT)


@pytest.mark.parametrize("outgoing", [False, True], ids=["the person's", "the community's"])
def test_vk_message_edit_is_a_new_event_per_edit_in_the_direction_of_its_author(
    outgoing: bool, person: social.SocialPerson
) -> None:
    first_edit, second_edit = SENT_AT + timedelta(minutes=1), SENT_AT + timedelta(minutes=2)

    [one] = vk.translate(
        social.vk_message_edit(
            person, "s", 9, "at 5?", outgoing=outgoing, event_id="e1", sent_at=SENT_AT, edited_at=first_edit
        ),
        **CONTEXT,
    )
    [two] = vk.translate(
        social.vk_message_edit(
            person, "s", 9, "at 6?", outgoing=outgoing, event_id="e2", sent_at=SENT_AT, edited_at=second_edit
        ),
        **CONTEXT,
    )

    assert one.provider_message_id == (
        f"{social.VK_GROUP_ID}:message_edit:{person.vk_id}:9:{int(first_edit.timestamp())}"
    )
    assert one.event_id != two.event_id
    assert (one.occurred_at, one.summary) == (first_edit, "[edited] at 5?")
    assert one.direction is two.direction is (OUTBOUND if outgoing else INBOUND)
    assert one.sender.identities == (handle("vk", person.vk_id),)


def test_vk_message_edit_without_its_update_time_is_refused_naming_the_field(
    person: social.SocialPerson,
) -> None:
    document = json.loads(social.vk_message_edit(person, "s", 9, "x", outgoing=True, event_id="e"))
    del document["object"]["update_time"]
    with pytest.raises(InvalidPayload, match=r"^field object\.update_time is missing$"):
        vk.translate(as_json(document), **CONTEXT)


# --- Our chat widget: an agent's reply ------------------------------------------------------------

WIDGET_MESSAGE_ID = "2b7e51c0-6a0b-4f7e-93f0-5c1c8f0e2a10"
WIDGET_REPLY: dict[str, object] = {
    "message_id": WIDGET_MESSAGE_ID,
    "conversation_id": "conv-20250609-0042",
    "sent_at": "2025-06-09T14:06:02.500+02:00",
    "text": "Yes! Blue mugs are back since Monday.",
    "visitor": {"visitor_id": "v_8c1d", "email": "sam@example.com", "name": "Sam"},
    "author": {"type": "agent", "agent_id": "agent-17"},
}


def test_widget_reply_by_an_agent_is_outbound_to_the_visitor() -> None:
    [event] = chat_widget.translate(as_json(WIDGET_REPLY), **CONTEXT)

    assert event.direction is OUTBOUND
    assert event.sender.identities == (
        handle("widget", "v_8c1d"),
        Identity(kind=IdentityKind.EMAIL, value="sam@example.com"),
    )
    assert (event.sender.display_name, event.conversation_id) == ("Sam", "conv-20250609-0042")
    assert event.event_id == event_id_for("widget", WIDGET_MESSAGE_ID)
    assert [e.event_id for e in chat_widget.translate(as_json(WIDGET_REPLY), **RETRY)] == [event.event_id]
    assert_round_trips(event)


def test_widget_reply_carries_the_agent_who_wrote_it_and_a_visitor_message_none() -> None:
    [reply] = chat_widget.translate(as_json(WIDGET_REPLY), **CONTEXT)
    anonymous = {**WIDGET_REPLY, "author": {"type": "agent"}}
    visitor = {**WIDGET_REPLY, "author": {"type": "visitor", "agent_id": "agent-17"}}

    assert reply.agent_id == "agent-17"
    assert [chat_widget.translate(as_json(p), **CONTEXT)[0].agent_id for p in (anonymous, visitor)] == [
        None,
        None,
    ]


@pytest.mark.parametrize(
    "author", [None, {"type": "visitor"}], ids=["no author (every payload before it)", "visitor"]
)
def test_widget_message_without_an_agent_author_stays_inbound(author: dict[str, str] | None) -> None:
    payload = {key: value for key, value in WIDGET_REPLY.items() if key != "author"}
    if author is not None:
        payload["author"] = author

    [event] = chat_widget.translate(as_json(payload), **CONTEXT)

    assert event.direction is INBOUND


@pytest.mark.parametrize(
    ("author", "message"),
    [
        ({"type": "bot"}, "field author.type must be one of visitor, agent"),
        ({"agent_id": "agent-17"}, "field author.type is missing"),
        ("agent", "field author must be an object"),
    ],
)
def test_widget_author_that_is_not_a_visitor_or_agent_is_refused_naming_the_field(
    author: object, message: str
) -> None:
    with pytest.raises(InvalidPayload, match=f"^{message}$"):
        chat_widget.translate(as_json({**WIDGET_REPLY, "author": author}), **CONTEXT)
