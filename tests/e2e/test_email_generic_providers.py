"""Mailgun, SendGrid and generic Standard Webhooks deliveries on the real stack."""

from __future__ import annotations

import time

import httpx
import pytest

from hub import samples
from hub import samples_email_generic as mail
from hub.demo import new_tag, send, wait_for_card
from tests.support.deployables import RunningHub
from tests.support.kafka import topic_end_offsets
from tests.support.store import interaction_counts

pytestmark = pytest.mark.e2e


def test_mailgun_sendgrid_and_generic_deliveries_land_once_each_on_the_card(hub: RunningHub) -> None:
    tag = new_tag()
    person = samples.sample_person(tag)
    hooks = mail.email_and_generic_conversation(person, hub.secrets, tag)
    with httpx.Client(timeout=30, headers=hub.api_headers) as client:
        answers = [
            (send(client, hub.ports.ingress_url, h), send(client, hub.ports.ingress_url, h)) for h in hooks
        ]
        for first, again in answers:
            assert first.status_code == again.status_code == 200, first.text
            assert first.json()["accepted"] == 1
            assert first.json()["event_ids"] == again.json()["event_ids"]
        card = wait_for_card(client, hub.ports.api_url, person.email, interactions=3)

    assert card["interaction_count"] == 3
    assert {name: stats["count"] for name, stats in card["channels"].items()} == {"email": 2, "chat": 1}
    assert person.email in card["emails"]
    assert interaction_counts(hub.dsn) == (3, 3)


async def test_a_stale_standard_webhooks_timestamp_gets_401_and_nothing_reaches_kafka(
    hub: RunningHub,
) -> None:
    person = samples.sample_person(new_tag())
    body = mail.generic_message(person, "stale-1", "Replayed from an hour ago")
    stale = mail.generic_webhook(body, hub.secrets.generic, timestamp=int(time.time()) - 3600)
    async with httpx.AsyncClient(timeout=30) as client:
        answer = await client.post(
            hub.ports.ingress_url + stale.path, content=stale.body, headers=stale.headers
        )

    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "stale_timestamp"
    assert set((await topic_end_offsets(hub.infra.kafka_bootstrap, hub.topics.interactions)).values()) == {0}
    assert interaction_counts(hub.dsn) == (0, 0)
