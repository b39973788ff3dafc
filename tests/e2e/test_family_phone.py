"""Two people sharing a family phone are not glued together when the identity rules forbid it.

Real stack: webhooks -> ingress -> Kafka -> timeline writer (with a rules file where phones may not
merge) -> event store -> card projection -> read API. Ann and Ben each email, then each pays at the
till with their own email and the family phone; a call from that phone goes to its oldest holder.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub import samples
from hub import samples_pos_voice as pos
from hub.demo import DEMO_BASKET, Webhook, new_tag, send
from hub.stack import Infra
from services.ingress.verify import sign_base64, sign_hex
from tests.support.deployables import RunningHub
from tests.support.rebuild import (
    card_read_model,
    copy_log,
    project_all,
    wait_until_projected,
    wait_until_stored,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

RULES = """
version = 1
[kinds.phone]
merge = false
max_customers_per_value = 3
"""


@pytest.fixture
def family_hub(infra: Infra, database: str, tmp_path: Path) -> Any:
    rules = tmp_path / "identity-rules.toml"
    rules.write_text(RULES, encoding="utf-8")
    running = RunningHub(
        infra=infra, dsn=database, run_dir=tmp_path / "run", extra_env={"HUB_IDENTITY_RULES": str(rules)}
    )
    running.start()
    yield running
    running.stop()


def _deliver(client: httpx.Client, hub: RunningHub, hook: Webhook) -> str:
    answer = send(client, hub.ports.ingress_url, hook)
    assert answer.status_code == 200, answer.text
    (event_id,) = answer.json()["event_ids"]
    return str(event_id)


def _email(hub: RunningHub, person: samples.SamplePerson, tag: str) -> Webhook:
    body = samples.email_message(person, f"<{tag}@mail.example.com>", "Hello", "Any news?")
    return Webhook("/webhooks/email/mta", body, {"X-Hub-Signature-256": sign_hex(body, hub.secrets.mta)})


def _till(hub: RunningHub, person: samples.SamplePerson, order_id: int) -> Webhook:
    body = samples.shopify_order(person, order_id, DEMO_BASKET, source_name="pos")
    return Webhook(
        "/webhooks/pos/shopify", body, {"X-Shopify-Hmac-Sha256": sign_base64(body, hub.secrets.shopify)}
    )


def _call(hub: RunningHub, person: samples.SamplePerson, tag: str) -> Webhook:
    call = pos.twilio_call(person, pos.call_sid(tag))
    url = hub.ports.ingress_url + "/webhooks/voice/twilio"
    return Webhook(
        "/webhooks/voice/twilio", pos.form_body(call), pos.twilio_headers(url, call, hub.secrets.twilio)
    )


def _events(card: dict[str, Any]) -> set[str]:
    return {view["event_id"] for view in card["recent_interactions"]}


def test_a_family_phone_is_held_by_both_people_and_never_merges_them(
    family_hub: RunningHub, fresh_database: str
) -> None:
    hub, tag = family_hub, new_tag()
    ann, ben = samples.sample_person(f"ann-{tag}"), samples.sample_person(f"ben-{tag}")
    ben_at_home = dataclasses.replace(ben, phone=ann.phone)  # Ben pays with the family phone
    # Each step waits until stored: the webhooks are keyed by different identities, so Kafka may hand
    # them to the writer in any order, and the story needs Ann older and both holding the phone first.
    with httpx.Client(timeout=30) as client:
        ann_mail = _deliver(client, hub, _email(hub, ann, f"{tag}-a"))
        wait_until_stored(hub.dsn, [ann_mail])
        ben_mail = _deliver(client, hub, _email(hub, ben, f"{tag}-b"))
        ann_till = _deliver(client, hub, _till(hub, ann, int(tag, 16) % 10**11))
        ben_till = _deliver(client, hub, _till(hub, ben_at_home, int(tag, 16) % 10**11 + 1))
        wait_until_stored(hub.dsn, [ben_mail, ann_till, ben_till])
        call = _deliver(client, hub, _call(hub, ann, tag))
    wait_until_stored(hub.dsn, [call])
    wait_until_projected(hub.dsn, "customer_card")

    with httpx.Client(base_url=hub.ports.api_url, headers=hub.api_headers, timeout=30) as api:
        (ann_card,) = api.get("/v1/customers", params={"email": ann.email}).json()["items"]
        (ben_card,) = api.get("/v1/customers", params={"email": ben.email}).json()["items"]
        holders = api.get("/v1/customers", params={"phone": ann.phone}).json()["items"]

    assert ann_card["customer_id"] != ben_card["customer_id"]
    assert ann_card["merged_from"] == ben_card["merged_from"] == []
    assert ann_card["merge_history"] == ben_card["merge_history"] == []
    assert _events(ann_card) == {ann_mail, ann_till, call}  # a call known only by the phone: oldest holder
    assert _events(ben_card) == {ben_mail, ben_till}
    assert ann.phone in ann_card["phones"] and ann.phone in ben_card["phones"]
    assert sorted(card["customer_id"] for card in holders) == sorted(
        [ann_card["customer_id"], ben_card["customer_id"]]
    )

    copy_log(hub.dsn, fresh_database)
    project_all(fresh_database)
    assert card_read_model(fresh_database) == card_read_model(hub.dsn)
