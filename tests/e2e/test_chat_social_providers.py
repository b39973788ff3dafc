"""Telegram, VK, Messenger and Instagram on the real stack: handshakes, ignored updates, outbound
messages and comments, and exactly-once storage."""

from __future__ import annotations

import time

import httpx
import psycopg
import pytest

from contracts import event_id_for
from hub import samples_chat_social as social
from hub.demo import new_tag, send
from tests.support.deployables import RunningHub
from tests.support.kafka import topic_end_offsets
from tests.support.store import interaction_counts

pytestmark = pytest.mark.e2e


def _directions(dsn: str, event_ids: list[str]) -> list[str]:
    """The stored ``direction`` of each event, in the order asked."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT event_id::text, data->>'direction' FROM events WHERE event_id = ANY(%s::uuid[])",
            (event_ids,),
        ).fetchall()
    found = dict(rows)
    return [found.get(event_id, "missing") for event_id in event_ids]


def _wait_for_interactions(dsn: str, expected: int, timeout_s: float = 60.0) -> tuple[int, int]:
    deadline = time.monotonic() + timeout_s
    counts = interaction_counts(dsn)
    while counts[0] < expected and time.monotonic() < deadline:
        time.sleep(0.2)
        counts = interaction_counts(dsn)
    return counts


async def test_chat_and_social_deliveries_are_answered_as_each_provider_needs_and_stored_once(
    hub: RunningHub,
) -> None:
    tag = new_tag()
    person = social.social_person(tag)
    secrets = hub.secrets
    update_id = int(tag[:6], 16)
    ignored = [
        social.telegram_hook(social.telegram_my_chat_member(person, update_id), secrets.telegram),
        social.telegram_hook(social.telegram_bot_message(person, update_id + 1, 1, "beep"), secrets.telegram),
        social.telegram_hook(
            social.telegram_deleted_business_messages(person, update_id + 4, [8]), secrets.telegram
        ),
        social.vk_hook(social.vk_group_join(person, secrets.vk, event_id=f"{tag}-join")),
    ]
    recorded = [
        social.telegram_hook(
            social.telegram_message(person, update_id + 2, 7, "Do you deliver on Sundays?"), secrets.telegram
        ),
        social.vk_hook(
            social.vk_message_new(person, secrets.vk, 3, "Привет! Is the shop open?", event_id=tag)
        ),
        social.meta_hook(
            social.instagram_message(person, f"m_{tag}", "Love the new scarf"), secrets.meta_app
        ),
        # Outbound: the business's replies, as each provider reports them.
        social.telegram_hook(
            social.telegram_business_message(person, update_id + 3, 8, "Yes, 10 to 4", outgoing=True),
            secrets.telegram,
        ),
        social.vk_hook(
            social.vk_message_reply(person, secrets.vk, 4, "Open until 9 pm", event_id=f"{tag}-r")
        ),
        social.meta_hook(
            social.messenger_echo(person, f"m_{tag}_echo", "Thanks for asking!"), secrets.meta_app
        ),
        # A public comment under the account's post.
        social.meta_hook(
            social.instagram_comment(person, f"1791{int(tag[:8], 16)}", "18172143295349192", "Restock?"),
            secrets.meta_app,
        ),
    ]
    directions = ["inbound", "inbound", "inbound", "outbound", "outbound", "outbound", "inbound"]
    vk_at = {1, 4}  # VK answers plain `ok`, never JSON
    marker = social.meta_hook(
        social.messenger_message(person, f"m_{tag}_later", "One more"), secrets.meta_app
    )

    with httpx.Client(timeout=30) as client:
        # Ignored deliveries are acknowledged, and nothing reaches Kafka.
        skipped = [send(client, hub.ports.ingress_url, hook) for hook in ignored]
        offsets = await topic_end_offsets(hub.infra.kafka_bootstrap, hub.topics.interactions)
        confirmation = send(client, hub.ports.ingress_url, social.vk_hook(social.vk_confirmation(secrets.vk)))
        # Every recorded delivery twice, as a provider retrying after a lost answer would.
        first = [send(client, hub.ports.ingress_url, hook) for hook in recorded]
        second = [send(client, hub.ports.ingress_url, hook) for hook in recorded]
        later = send(client, hub.ports.ingress_url, marker)

    assert [a.status_code for a in skipped] == [200, 200, 200, 200]
    assert skipped[0].json()["ignored"] == "telegram update type my_chat_member"
    assert skipped[1].json()["ignored"] == "telegram message from a bot"
    assert skipped[2].json()["ignored"] == "telegram update type deleted_business_messages"
    assert skipped[3].text == "ok"
    assert set(offsets.values()) == {0}
    assert (confirmation.status_code, confirmation.text) == (200, secrets.vk_confirmation)
    assert [a.status_code for a in first + second + [later]] == [200] * (2 * len(recorded) + 1), [
        a.text for a in first + second
    ]
    assert all(first[i].text == second[i].text == "ok" for i in vk_at)
    json_ones = [i for i in range(len(recorded)) if i not in vk_at]
    for once, twice in ((first[i], second[i]) for i in json_ones):
        assert once.json()["accepted"] == 1
        assert once.json()["event_ids"] == twice.json()["event_ids"]

    # Eight distinct messages were published fifteen times; the store keeps each once, with its direction.
    distinct = len(recorded) + 1
    assert _wait_for_interactions(hub.dsn, distinct) == (distinct, distinct)
    time.sleep(1.0)  # a late duplicate would show up now
    assert interaction_counts(hub.dsn) == (distinct, distinct)
    published = await topic_end_offsets(hub.infra.kafka_bootstrap, hub.topics.interactions)
    assert sum(published.values()) == 2 * len(recorded) + 1
    # VK answers no ids: its messages' ids are derived from group, peer and per-peer message id.
    vk_ids = {
        i: str(event_id_for("vk", f"{social.VK_GROUP_ID}:message:{person.vk_id}:{cmid}"))
        for i, cmid in ((1, 3), (4, 4))
    }
    stored = [vk_ids[i] if i in vk_at else first[i].json()["event_ids"][0] for i in range(len(recorded))]
    assert _directions(hub.dsn, stored) == directions
