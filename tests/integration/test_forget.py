"""The right to erasure end to end over the real PostgreSQL: a customer who emailed (with an attachment and
its raw delivery), chatted, bought, and whom staff described (attributes, a document, a deal, a note) is
forgotten through the API; then no plaintext personal value of theirs is left anywhere in a dump of the
whole database (read models, identity index, stored command answers, rebuild shadows), in an export or
in the blob store, while the chain verifies, counts and amounts are unchanged, rebuilds equal the live
read models, and another customer is untouched."""

from __future__ import annotations

import dataclasses
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from contracts import (
    Attachment,
    ChatMessageReceived,
    EmailReceived,
    Evidence,
    IdentityKind,
    Sender,
    Verification,
    event_id_for,
    normalise_identity,
)
from contracts.personal import ERASED
from hub import samples
from hub.demo import new_tag
from hub.evidence import check_evidence
from hub.replay_projections import SPECS
from plumbing.blobs import FileBlobStore
from plumbing.eventstore.audit import verify_chains
from plumbing.eventstore.postgres import Conn
from plumbing.export import Selection, export
from plumbing.export_verify import verify_export
from plumbing.projection import apply_next_batch
from plumbing.rebuild import rebuild
from projections.analytics.store import AnalyticsProjection
from services.ingress.translate import shopify
from services.timeline.store import record_interaction
from tests.support.access import KeyIssuer
from tests.support.api_app import api_client, bearer, project
from tests.support.sales import open_body, project_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

T0 = datetime(2025, 6, 9, 12, 0, tzinfo=UTC)


@dataclasses.dataclass(frozen=True)
class Person:
    """A sample person with a name no other fixture uses, and the texts they and staff wrote."""

    sample: samples.SamplePerson
    tag: str

    @property
    def secrets(self) -> dict[str, str]:
        """Every plaintext personal value of this person the hub was given."""
        return {
            "email": self.sample.email,
            "phone": self.sample.phone,
            "phone_digits": self.sample.phone.removeprefix("+"),
            "name": self.sample.name,
            "subject": f"Subject {self.tag}",
            "summary": f"Message text {self.tag}",
            "chat": f"Chat text {self.tag}",
            "attachment": f"passport-{self.tag}.pdf",
            "note": f"Note about {self.tag}",
            "deal": f"Deal for {self.tag}",
            "document": f"contract-{self.tag}.pdf",
            "nickname": f"Nick{self.tag}",
        }


def _person(label: str) -> Person:
    tag = new_tag()
    sample = samples.sample_person(f"forget-{label}-{tag}")
    return Person(dataclasses.replace(sample, name=f"Zelda{tag} Quimby{tag}"), tag)


def _sender(person: Person) -> Sender:
    identities = (
        normalise_identity(IdentityKind.EMAIL, person.sample.email),
        normalise_identity(IdentityKind.PHONE, person.sample.phone),
    )
    return Sender(identities=identities, display_name=person.sample.name)


def _envelope(person: Person, kind: str, minute: int, provider: str) -> dict[str, Any]:
    at = T0 + timedelta(minutes=minute)
    message = f"{kind}-{person.tag}"
    return {
        "event_id": event_id_for(provider, message),
        "occurred_at": at,
        "received_at": at,
        "correlation_id": message,
        "provider": provider,
        "provider_message_id": message,
    }


async def _seed(pool: AsyncConnectionPool[Conn], blobs: FileBlobStore, person: Person) -> UUID:
    """An email with an attachment and its raw delivery in the blob store, a chat, a Shopify order."""
    secrets = person.secrets
    raw = f"From: {person.sample.email}\r\nSubject: {secrets['subject']}\r\n\r\n{secrets['summary']}".encode()
    body = await blobs.put(raw)
    attachment = await blobs.put(f"scan of {person.sample.name}".encode())
    evidence = Evidence(
        body=body,
        endpoint="/webhooks/mailgun",
        verification=Verification(scheme="mailgun-hmac", key_index=0, verified_at=T0),
    )
    mail = EmailReceived(
        **_envelope(person, "mail", 1, "mailgun"),
        sender=_sender(person),
        summary=secrets["summary"],
        subject=secrets["subject"],
        to=("shop@example.com",),
        attachments=(
            Attachment(
                filename=secrets["attachment"],
                content_type="application/pdf",
                size_bytes=attachment.size_bytes,
                sha256=attachment.sha256,
            ),
        ),
        evidence=evidence,
    )
    chat = ChatMessageReceived(
        **_envelope(person, "chat", 2, "widget"),
        sender=_sender(person),
        summary=secrets["chat"],
        conversation_id=f"conv-{person.tag}",
    )
    order_raw = samples.shopify_order(
        person.sample, int(person.tag[:8], 16), [("SKU-1", "Teapot", 1, "30.00")]
    )
    (order,) = shopify.translate(order_raw, received_at=T0, correlation_id=person.tag, default_region="US")
    customer: UUID | None = None
    for event in (mail, chat, order):
        customer = (await record_interaction(pool, event)).customer_id
    assert customer is not None
    return customer


async def _ok(answer: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def _staff_describes(
    client: httpx.AsyncClient, rep: dict[str, str], customer: UUID, person: Person
) -> None:
    """Attributes (one with an idempotency key, whose answer is stored), a document, a deal, a note."""
    secrets, url = person.secrets, f"/v1/customers/{customer}"
    keyed = {**rep, "Idempotency-Key": f"name-{person.tag}"}
    await _ok(await client.put(f"{url}/attributes/name", json={"value": secrets["nickname"]}, headers=keyed))
    await _ok(await client.put(f"{url}/attributes/birthday", json={"value": "1971-02-03"}, headers=rep))
    await _ok(
        await client.post(
            f"{url}/documents",
            params={"filename": secrets["document"]},
            content=f"signed by {person.sample.name}".encode(),
            headers={**rep, "Content-Type": "application/pdf"},
        ),
        201,
    )
    deal = open_body(customer, owner_id="alice", title=secrets["deal"])
    await _ok(await client.post("/v1/deals", json=deal, headers=rep), 201)
    note = {"customer_id": str(customer), "text": secrets["note"]}
    await _ok(await client.post("/v1/notes", json=note, headers=rep), 201)


async def _project_everything(pool: AsyncConnectionPool[Conn], dsn: str) -> None:
    await project(pool)
    await project_pipeline(dsn)
    while await apply_next_batch(pool, AnalyticsProjection(), 500):
        pass


def _dump(dsn: str) -> str:
    """The whole database as SQL text (every schema, every table), as an operator would back it up."""
    done = subprocess.run(
        ["pg_dump", "--no-owner", "--no-privileges", "--dbname", dsn],
        capture_output=True,
        check=True,
        text=True,
        timeout=120,
    )
    return done.stdout


def _found(text: str, person: Person) -> dict[str, str]:
    lowered = text.lower()
    return {name: value for name, value in person.secrets.items() if value.lower() in lowered}


async def _card(client: httpx.AsyncClient, admin: dict[str, str], customer: UUID) -> dict[str, Any]:
    return await _ok(await client.get(f"/v1/customers/{customer}", headers=admin))


def _figures(card: dict[str, Any]) -> tuple[Any, ...]:
    return (
        card["interaction_count"],
        card["purchase_count"],
        card["purchase_totals"],
        {name: stats["count"] for name, stats in card["channels"].items()},
        card["document_count"],
    )


async def test_a_forgotten_customer_leaves_no_plaintext_anywhere_and_the_log_still_verifies(
    database: str, pool: AsyncConnectionPool[Conn], api_keys: KeyIssuer, tmp_path: Path
) -> None:
    blobs = FileBlobStore(tmp_path / "blobs")
    gone, kept = _person("gone"), _person("kept")
    gone_id, kept_id = await _seed(pool, blobs, gone), await _seed(pool, blobs, kept)
    rep = bearer(api_keys.issue(roles=["sales_rep"], principal_id="alice", team="north"))
    admin = bearer(api_keys.issue(roles=["admin"], principal_id="dpo"))
    async with api_client(database, blob_dir=blobs.root) as client:
        for customer, person in ((gone_id, gone), (kept_id, kept)):
            await _project_everything(pool, database)
            await _staff_describes(client, rep, customer, person)
        await _project_everything(pool, database)
        before = await _card(client, admin, gone_id)
        assert _found(_dump(database), gone).keys() == gone.secrets.keys()  # the test can see plaintext

        refused = await client.post(f"/v1/customers/{gone_id}/forget", json={"reason": "x"}, headers=rep)
        unknown = await client.post(
            f"/v1/customers/{uuid.uuid4()}/forget", json={"reason": "x"}, headers=admin
        )
        free_text = await client.post(
            f"/v1/customers/{gone_id}/forget", json={"reason": f"asked by {gone.sample.name}"}, headers=admin
        )
        forgotten = await _ok(
            await client.post(f"/v1/customers/{gone_id}/forget", json={"reason": "DSR-1"}, headers=admin), 201
        )
        await _project_everything(pool, database)
        after = await _card(client, admin, gone_id)
        kept_card = await _card(client, admin, kept_id)

    assert refused.status_code == 403 and unknown.status_code == 404 and free_text.status_code == 422
    assert forgotten["forgotten_ids"] == [str(gone_id)] and forgotten["keys_destroyed"] == 1
    assert forgotten["blobs_erased"] == 3  # raw delivery, attachment, uploaded document

    # counts and amounts stay; personal fields read as erased; the other customer is untouched
    assert _figures(after) == _figures(before)
    assert after["display_name"] == ERASED and after["identities"] == []
    assert {view["summary"] for view in after["recent_interactions"]} == {ERASED}
    assert kept_card["display_name"] == kept.secrets["nickname"]

    dump = _dump(database)
    assert _found(dump, gone) == {}
    assert _found(dump, kept).keys() >= {"email", "name", "note", "deal", "document", "nickname"}

    async with pool.connection() as conn, conn.transaction():
        assert (await verify_chains(conn)).intact

    # rebuilds fold the erased fields into exactly the live read models, and keep no plaintext either
    for name in ("customer_card", "pipeline"):
        report = await rebuild(database, SPECS[name])
        assert report.identical, [row.describe() for table in report.tables for row in table.rows]
    assert _found(_dump(database), gone) == {}

    # the export: ciphertext as stored (the chain covers it), "opened" shows the fields erased
    folder = tmp_path / "export"
    async with await psycopg.AsyncConnection.connect(database) as conn:
        await export(conn, Selection(customer_id=gone_id), folder, blobs)
    exported = "\n".join(path.read_text(errors="replace") for path in folder.rglob("*") if path.is_file())
    assert _found(exported, gone) == {} and ERASED in exported
    assert verify_export(folder).ok

    # the raw deliveries only the forgotten customer referenced are gone, and reported as erased
    evidence = await check_evidence(database, blobs)
    assert evidence.intact and len(evidence.erased) == 2 and not evidence.missing
    stored = b"".join(path.read_bytes() for path in blobs.root.rglob("*") if path.is_file())
    assert gone.sample.name.encode() not in stored and kept.sample.name.encode() in stored


async def test_hub_customer_forget_destroys_the_keys_and_refuses_an_unknown_customer(
    database: str, pool: AsyncConnectionPool[Conn], tmp_path: Path
) -> None:
    import asyncio
    import json

    from typer.testing import CliRunner

    from hub.cli import app

    blobs = FileBlobStore(tmp_path / "blobs")
    person = _person("cli")
    customer = await _seed(pool, blobs, person)
    env = {"HUB_PG_DSN": database, "HUB_BLOB_DIR": str(blobs.root)}

    def run(*args: str) -> Any:
        return CliRunner().invoke(app, ["customer", "forget", *args], env=env)

    done = await asyncio.to_thread(run, str(customer), "--reason", "DSR-2", "--actor", "dpo")
    unknown = await asyncio.to_thread(run, str(uuid.uuid4()), "--reason", "DSR-3")

    assert done.exit_code == 0, done.output
    summary = json.loads(done.output[done.output.index("{\n") :])  # after any log line
    assert (summary["forgotten_ids"], summary["keys_destroyed"]) == ([str(customer)], 1)
    assert len(summary["blobs_erased"]) == 2
    assert unknown.exit_code == 1
    await project(pool)
    with psycopg.connect(database) as conn:
        cards = conn.execute("SELECT card::text FROM customer_cards").fetchall()
    assert _found(cards[0][0], person) == {}


def test_tables_whose_old_rows_hold_forgotten_keys_are_vacuumed_at_autovacuums_next_round(
    database: str,
) -> None:
    """The API forgets as a runtime role, which PostgreSQL does not let VACUUM: autovacuum must take the
    dead row versions (wrapped keys, identity keys) of a forget at once, not after 50 of them."""
    wanted = {"autovacuum_vacuum_threshold=0", "autovacuum_vacuum_scale_factor=0"}
    with psycopg.connect(database) as conn:
        options = dict(
            conn.execute(
                "SELECT relname, reloptions FROM pg_class WHERE relname = ANY(%s) AND relkind = 'r'",
                (["customer_keys", "identity_index", "transaction_references"],),
            ).fetchall()
        )
    assert set(options) == {"customer_keys", "identity_index", "transaction_references"}
    assert all(wanted <= set(found or ()) for found in options.values()), options
