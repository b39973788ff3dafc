"""Every stored interaction points at the exact bytes the provider sent, kept content-addressed."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import psycopg
import pytest

from contracts import InteractionEvent, parse_event
from hub import samples
from hub import samples_email_generic as mail
from hub.demo import new_tag, send, wait_for_card
from hub.evidence import check_evidence, retranslate
from plumbing.blobs import FileBlobStore
from services.ingress.settings import IngressSettings
from tests.support.deployables import RunningHub
from tests.support.store import opened

pytestmark = pytest.mark.e2e


def _stored_event(dsn: str, event_id: str) -> dict[str, Any]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT event_id, data, metadata FROM events WHERE event_id = %s", (event_id,)
        ).fetchone()
        assert row is not None, f"event {event_id} is not in the store"
        opened(conn, [(row[0], row[1], row[2])])  # what the event says: sealed personal fields opened
    data: dict[str, Any] = row[1]
    return data


async def test_an_email_with_attachments_keeps_its_raw_body_and_files_and_how_it_was_verified(
    hub: RunningHub,
) -> None:
    tag = new_tag()
    person = samples.sample_person(tag)
    mailgun = mail.mailgun_webhook(
        person,
        f"<evidence-{tag}@mail.example.com>",
        "Invoice",
        "See attached.",
        hub.secrets.mailgun,
        attachments=(mail.INVOICE, mail.PHOTO),
    )
    sendgrid = mail.sendgrid_webhook(
        *mail.sendgrid_raw(person, f"<evidence-sg-{tag}@mail.example.com>", "Raw", "Raw body"),
        hub.secrets.sendgrid,
        how="key",
    )
    with httpx.Client(timeout=30) as provider:  # no API key: SendGrid's own credential must decide
        answers = [send(provider, hub.ports.ingress_url, hook) for hook in (mailgun, sendgrid)]
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    with httpx.Client(timeout=30, headers=hub.api_headers) as client:
        wait_for_card(client, hub.ports.api_url, person.email, interactions=2)

    blobs = FileBlobStore(hub.blob_dir)
    stored = _stored_event(hub.dsn, answers[0].json()["event_ids"][0])
    evidence = stored["evidence"]
    assert evidence["body"] == {
        "sha256": hashlib.sha256(mailgun.body).hexdigest(),
        "size_bytes": len(mailgun.body),
    }
    assert await blobs.get(evidence["body"]["sha256"]) == mailgun.body
    assert evidence["endpoint"] == mail.MAILGUN_PATH
    assert evidence["headers"]["content-type"] == mailgun.headers["Content-Type"]
    assert evidence["verification"]["scheme"] == "hmac-sha256-hex:signature(timestamp+token)"
    assert evidence["verification"]["key_index"] == 0
    files = {a["filename"]: a["sha256"] for a in stored["attachments"]}
    assert await blobs.get(files[mail.INVOICE.filename]) == mail.INVOICE.data
    assert await blobs.get(files[mail.PHOTO.filename]) == mail.PHOTO.data

    raw = _stored_event(hub.dsn, answers[1].json()["event_ids"][0])["evidence"]
    assert await blobs.get(raw["body"]["sha256"]) == sendgrid.body
    assert hub.secrets.sendgrid not in raw["url"]  # the ?key= secret is not recorded
    assert "authorization" not in raw["headers"]


async def test_a_redelivered_webhook_stores_its_evidence_once(hub: RunningHub) -> None:
    tag = new_tag()
    person = samples.sample_person(tag)
    hook = mail.mailgun_webhook(
        person, f"<twice-{tag}@mail.example.com>", "Twice", "Sent twice.", hub.secrets.mailgun
    )
    with httpx.Client(timeout=30, headers=hub.api_headers) as client:
        assert send(client, hub.ports.ingress_url, hook).status_code == 200
        assert send(client, hub.ports.ingress_url, hook).status_code == 200
        wait_for_card(client, hub.ports.api_url, person.email, interactions=1)

    files = [path for path in (hub.blob_dir / "sha256").rglob("*") if path.is_file()]
    assert [path.name for path in files] == [hashlib.sha256(hook.body).hexdigest()]


async def test_evidence_check_finds_a_missing_and_an_altered_blob_and_retranslation_reproduces_events(
    hub: RunningHub,
) -> None:
    tag = new_tag()
    person = samples.sample_person(tag)
    hooks = [
        mail.mailgun_webhook(
            person, f"<check-{n}-{tag}@mail.example.com>", "Hi", f"Text {n}", hub.secrets.mailgun
        )
        for n in range(3)
    ]
    with httpx.Client(timeout=30) as provider:
        ids = [send(provider, hub.ports.ingress_url, hook).json()["event_ids"][0] for hook in hooks]
    with httpx.Client(timeout=30, headers=hub.api_headers) as client:
        wait_for_card(client, hub.ports.api_url, person.email, interactions=3)
    blobs = FileBlobStore(hub.blob_dir)

    clean = await check_evidence(hub.dsn, blobs)
    stored = parse_event(_stored_event(hub.dsn, ids[0]))
    assert isinstance(stored, InteractionEvent) and stored.evidence is not None
    replayed = retranslate(stored, await blobs.get(stored.evidence.body.sha256), IngressSettings())
    first, second = (hashlib.sha256(hook.body).hexdigest() for hook in hooks[:2])
    blobs.path_of(first).unlink()
    blobs.path_of(second).write_bytes(b"altered")
    damaged = await check_evidence(hub.dsn, blobs)

    assert (clean.interactions, clean.without_evidence, clean.blobs, clean.intact) == (3, 0, 3, True)
    assert replayed.same, replayed.differences
    assert (damaged.missing, damaged.corrupt, damaged.intact) == ([first], [second], False)
