"""``hub audit export`` and ``hub audit verify-export`` end to end over the real store: what a reader reads
in an export is proven against the hash chain (the issue's attack: change an amount in the readable copy
and recompute every unkeyed hash), and after a lawful forget the erased evidence is reported as erased,
not missing, while a blob lost without an erasure still fails."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from psycopg_pool import AsyncConnectionPool
from typer.testing import CliRunner

from contracts import (
    BlobRef,
    Evidence,
    IdentityKind,
    Money,
    PurchaseLine,
    PurchaseRecorded,
    Sender,
    Verification,
    event_id_for,
    normalise_identity,
)
from hub.cli import app
from plumbing.blobs import FileBlobStore
from plumbing.eventstore.postgres import Conn
from services.timeline.store import record_interaction
from tests.support.audit import chat_with_evidence, email
from tests.support.export_files import forge_line, read_lines

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


@dataclass
class Cli:
    dsn: str
    blobs: FileBlobStore

    async def __call__(self, *args: str | Path | UUID | int) -> tuple[int, str]:
        env = {"HUB_PG_DSN": self.dsn, "HUB_BLOB_DIR": str(self.blobs.root)}
        result = await asyncio.to_thread(CliRunner().invoke, app, list(map(str, args)), env=env)
        return result.exit_code, result.output


@pytest.fixture
def cli(database: str, tmp_path: Path) -> Cli:
    return Cli(database, FileBlobStore(tmp_path / "blobs"))


async def _purchase(pool: AsyncConnectionPool[Conn], blobs: FileBlobStore, tag: str) -> UUID:
    """A verified Shopify order of 30.00 USD by a person with a phone number, its raw body in ``blobs``."""
    now = datetime.now(UTC)
    ref = await blobs.put(f'{{"id": "{tag}", "total_price": "30.00"}}'.encode())
    money = Money(amount=Decimal("30.00"), currency="USD")
    event = PurchaseRecorded(
        event_id=event_id_for("shopify", f"order-{tag}"),
        occurred_at=now,
        received_at=now,
        correlation_id=tag,
        provider="shopify",
        provider_message_id=f"order-{tag}",
        sender=Sender(
            identities=(normalise_identity(IdentityKind.PHONE, "+14155550123"),), display_name="Ann Smith"
        ),
        summary="#1001: 1 x Teapot",
        order_id=tag,
        lines=(PurchaseLine(name="Teapot", quantity=Decimal(1), unit_price=money, total=money),),
        total=money,
        evidence=Evidence(
            body=BlobRef(sha256=ref.sha256, size_bytes=ref.size_bytes),
            endpoint="/webhooks/shopify",
            verification=Verification(scheme="shopify-hmac", key_index=0, verified_at=now),
        ),
    )
    recorded = await record_interaction(pool, event)
    assert recorded.customer_id is not None
    return recorded.customer_id


def _line_of(folder: Path, event_type: str) -> int:
    return next(n for n, line in enumerate(read_lines(folder), start=1) if line["event_type"] == event_type)


async def test_an_amount_changed_in_the_readable_copy_fails_verification_after_every_hash_is_recomputed(
    pool: AsyncConnectionPool[Conn], cli: Cli, tmp_path: Path
) -> None:
    customer = await _purchase(pool, cli.blobs, f"o-{uuid.uuid4().hex[:8]}")
    out = tmp_path / "export"
    code, output = await cli("audit", "export", "--customer", customer, out)
    assert code == 0, output
    code, output = await cli("audit", "verify-export", out)
    assert code == 0, output
    line = _line_of(out, "interaction.pos.purchase")
    assert read_lines(out)[line - 1]["opened"]["data"]["total"]["amount"] == "30.00"

    def cheaper(record: dict[str, Any]) -> None:
        record["opened"]["data"]["total"]["amount"] = "3.00"  # what a reader of the export sees

    forge_line(out, line, cheaper)  # and every line hash, the list's hash, the file's hash and size
    code, output = await cli("audit", "verify-export", out)

    assert code == 1, output
    assert f"PROBLEM line {line} (position" in output
    assert "opened.data differs from the hashed content" in output


async def test_an_opened_personal_value_changed_in_an_export_fails_naming_the_line(
    pool: AsyncConnectionPool[Conn], cli: Cli, tmp_path: Path
) -> None:
    customer = await _purchase(pool, cli.blobs, f"o-{uuid.uuid4().hex[:8]}")
    out = tmp_path / "export"
    assert (await cli("audit", "export", "--customer", customer, out))[0] == 0
    code, output = await cli("audit", "verify-export", out)
    assert code == 0 and "personal values proven: 0 " not in output, output
    line = _line_of(out, "interaction.pos.purchase")

    def other_phone(record: dict[str, Any]) -> None:
        record["opened"]["data"]["sender"]["identities"][0]["value"] = "+14155550199"

    forge_line(out, line, other_phone)
    code, output = await cli("audit", "verify-export", out)

    assert code == 1, output
    assert f"PROBLEM line {line} (position" in output
    assert "opened.data.sender.identities[0].value is not the value the chain sealed" in output


async def test_after_a_lawful_forget_the_erased_evidence_is_reported_erased_and_the_export_verifies(
    pool: AsyncConnectionPool[Conn], cli: Cli, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:6]
    customer, chat = await chat_with_evidence(pool, cli.blobs, f"f-{tag}", "Call me", email(f"f-{tag}"))
    assert chat.evidence is not None
    erased = chat.evidence.body.sha256
    code, output = await cli("customer", "forget", customer, "--reason", "DSR-7", "--actor", "dpo")
    assert code == 0, output
    assert not any(cli.blobs.root.rglob(erased))

    whole, before_forget = tmp_path / "customer", tmp_path / "range"
    code, output = await cli("audit", "export", "--customer", customer, whole)
    assert code == 0, output
    assert "0 missing, 0 corrupt, 1 erased by a forget" in output
    first = read_lines(whole)[0]["position"]
    forget_at = read_lines(whole)[_line_of(whole, "customer.forgotten") - 1]["position"]
    code, output = await cli(
        "audit", "export", "--from-position", first, "--to-position", forget_at - 1, before_forget
    )
    assert code == 0, output

    for folder in (whole, before_forget):
        manifest = json.loads((folder / "manifest.json").read_text())
        assert (manifest["blobs"]["missing"], manifest["blobs"]["erased"]) == ([], [erased])
        code, output = await cli("audit", "verify-export", folder)
        assert code == 0, output
        assert "erased blobs: 1 " in output and " ok" in output
    assert _line_of(whole, "customer.forgotten")  # the erasure is a line of the customer's export...
    erasures = json.loads((before_forget / "manifest.json").read_text())["blobs"]["erasures"]
    assert [record["event_type"] for record in erasures] == ["customer.forgotten"]  # ...or in the manifest

    # an erasure record edited to cover for a blob it did not erase is refused
    manifest = json.loads((before_forget / "manifest.json").read_text())
    manifest["blobs"]["erasures"][0]["data"]["reason"] = "DSR-8"
    (before_forget / "manifest.json").write_text(json.dumps(manifest))
    code, output = await cli("audit", "verify-export", before_forget)
    assert code == 1, output
    assert "manifest.json erasure 1: the line's fields differ from the hashed content" in output
    assert f"blob {erased}: referenced but not in the export" in output


async def test_a_blob_missing_without_an_erasure_fails_the_export_and_its_verification(
    pool: AsyncConnectionPool[Conn], cli: Cli, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:6]
    customer, chat = await chat_with_evidence(pool, cli.blobs, f"m-{tag}", "Hello", email(f"m-{tag}"))
    assert chat.evidence is not None
    lost = chat.evidence.body.sha256
    for path in cli.blobs.root.rglob(lost):
        path.unlink()  # lost, not forgotten
    out = tmp_path / "export"

    code, output = await cli("audit", "export", "--customer", customer, out)
    assert code == 1, output
    assert "1 missing" in output
    as_exported = await cli("audit", "verify-export", out)  # the manifest lists it as missing
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["blobs"]["erased"] = manifest["blobs"].pop("missing")  # claiming the loss was an erasure
    (out / "manifest.json").write_text(json.dumps(manifest))
    as_claimed = await cli("audit", "verify-export", out)

    for code, output in (as_exported, as_claimed):
        assert code == 1, output
        assert f"PROBLEM blob {lost}: referenced but not in the export, and no erasure says why" in output
