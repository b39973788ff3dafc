"""A delivery that is not signed by the provider never reaches Kafka or the store."""

from __future__ import annotations

import httpx
import pytest

from hub import samples
from hub.demo import conversation, new_tag
from tests.support.deployables import RunningHub
from tests.support.kafka import topic_end_offsets
from tests.support.store import interaction_counts

pytestmark = [pytest.mark.security, pytest.mark.e2e]


async def test_a_forged_signature_gets_401_and_nothing_reaches_kafka_or_the_store(hub: RunningHub) -> None:
    tag = new_tag()
    hooks = conversation(samples.sample_person(tag), hub.secrets, tag)
    async with httpx.AsyncClient(timeout=30) as client:
        answers = []
        for hook in hooks:
            name = next(h for h in hook.headers if h.lower() != "content-type")
            forged = {**hook.headers, name: hook.headers[name][:-4] + "AAAA"}
            answers.append(
                await client.post(hub.ports.ingress_url + hook.path, content=hook.body, headers=forged)
            )
        unsigned = await client.post(hub.ports.ingress_url + hooks[0].path, content=hooks[0].body)

    assert [a.status_code for a in answers] == [401, 401, 401, 401]
    assert all(a.json()["error"]["code"] == "invalid_signature" for a in answers)
    assert unsigned.status_code == 401
    assert set((await topic_end_offsets(hub.infra.kafka_bootstrap, hub.topics.interactions)).values()) == {0}
    assert interaction_counts(hub.dsn) == (0, 0)


async def test_an_oversized_body_gets_413_and_a_bad_payload_422(hub: RunningHub) -> None:
    from services.ingress.verify import sign_hex

    huge = b"{" + b" " * 2_000_000 + b"}"
    junk = b'{"message_id": 1}'
    async with httpx.AsyncClient(timeout=30) as client:
        too_big = await client.post(
            hub.ports.ingress_url + "/webhooks/chat/widget",
            content=huge,
            headers={"X-Hub-Signature-256": sign_hex(huge, hub.secrets.widget)},
        )
        invalid = await client.post(
            hub.ports.ingress_url + "/webhooks/chat/widget",
            content=junk,
            headers={"X-Hub-Signature-256": sign_hex(junk, hub.secrets.widget)},
        )

    assert too_big.status_code == 413
    assert too_big.json()["error"]["code"] == "body_too_large"
    assert invalid.status_code == 422
    assert invalid.json()["error"]["code"] == "invalid_payload"
    assert set((await topic_end_offsets(hub.infra.kafka_bootstrap, hub.topics.interactions)).values()) == {0}
