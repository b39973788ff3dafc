"""Telegram, VK and Instagram on the real stack: handshakes, ignored updates, and exactly-once storage."""

from __future__ import annotations

import time

import httpx
import pytest

from hub import samples_chat_social as social
from hub.demo import new_tag, send
from tests.support.deployables import RunningHub
from tests.support.kafka import topic_end_offsets
from tests.support.store import interaction_counts

pytestmark = pytest.mark.e2e


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
    ]
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

    assert [a.status_code for a in skipped] == [200, 200, 200]
    assert skipped[0].json()["ignored"] == "telegram update type my_chat_member"
    assert skipped[1].json()["ignored"] == "telegram message from a bot"
    assert skipped[2].text == "ok"
    assert set(offsets.values()) == {0}
    assert (confirmation.status_code, confirmation.text) == (200, secrets.vk_confirmation)
    assert [a.status_code for a in first + second + [later]] == [200] * 7
    assert first[1].text == second[1].text == "ok"  # VK: plain `ok`, never JSON
    for once, twice in ((first[0], second[0]), (first[2], second[2])):
        assert once.json()["accepted"] == 1
        assert once.json()["event_ids"] == twice.json()["event_ids"]

    # Four distinct messages were published seven times; the store keeps each once.
    assert _wait_for_interactions(hub.dsn, 4) == (4, 4)
    time.sleep(1.0)  # a late duplicate would show up now
    assert interaction_counts(hub.dsn) == (4, 4)
    published = await topic_end_offsets(hub.infra.kafka_bootstrap, hub.topics.interactions)
    assert sum(published.values()) == 7
