"""``hub import customers`` against a real store: found by lookup, shown on the card, sealed, idempotent,
matched and merged by the hub's own identity resolution, and a dry run that writes nothing."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool
from typer.testing import CliRunner, Result

from contracts import ChatMessageReceived, Identity, IdentityKind, Sender, event_id_for, normalise_identity
from hub.cli import app
from plumbing.eventstore.postgres import Conn
from services.timeline.store import record_interaction
from tests.support.access import KeyIssuer
from tests.support.api_app import api_client, bearer, project

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

MAPS = ("--map", "email=E-mail", "--map", "phone=Phone", "--map", "name=Full name", "--map", "birthday=Born")
CSV = (
    "E-mail,Phone,Full name,Born\n"
    "ann@example.com,+1 415 555 0101,Ann Archer,1990-04-01\n"
    "not-an-address,+1 415 555 0102,Bob Broken,\n"
    "cy@example.com,,Cy Cole,\n"
)
ANN_EMAIL = normalise_identity(IdentityKind.EMAIL, "ann@example.com")
ANN_PHONE = normalise_identity(IdentityKind.PHONE, "+14155550101")


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "export.csv"
    path.write_text(text, encoding="utf-8")
    return path


async def _import(database: str, path: Path, *options: str) -> Result:
    return await asyncio.to_thread(
        CliRunner().invoke,
        app,
        ["import", "customers", str(path), *MAPS, "--json", *options],
        env={"HUB_PG_DSN": database},
    )


def _summary(result: Result) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def _count(database: str, query: str) -> int:
    with psycopg.connect(database) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return int(row[0])


def _events(database: str) -> int:
    return _count(database, "SELECT count(*) FROM events")


async def _chat(pool: AsyncConnectionPool[Conn], message_id: str, identity: Identity) -> UUID:
    """A customer the timeline writer made from one chat message carrying ``identity``."""
    at = datetime.now(UTC)
    event = ChatMessageReceived(
        event_id=event_id_for("widget", message_id),
        occurred_at=at,
        received_at=at,
        correlation_id=message_id,
        provider="widget",
        provider_message_id=message_id,
        sender=Sender(identities=(identity,)),
        summary="hello",
        conversation_id=message_id,
    )
    recorded = await record_interaction(pool, event)
    assert recorded.customer_id is not None
    return recorded.customer_id


async def test_imported_customers_are_found_by_lookup_with_their_name_birthday_and_identities(
    database: str, pool: AsyncConnectionPool[Conn], api_keys: KeyIssuer, tmp_path: Path
) -> None:
    result = await _import(database, _file(tmp_path, CSV))

    assert result.exit_code == 3, result.output  # a bad row: reported, the good ones imported
    assert "line 3: E-mail: email: not an email address" in result.stderr
    summary = _summary(result)
    assert summary["bad_rows"] == [{"line": 3, "reason": "E-mail: email: not an email address"}]
    assert (summary["rows"], summary["customers"]["created"], summary["identities_linked"]) == (3, 2, 3)
    await project(pool)
    key = api_keys.issue(roles=["admin"])
    async with api_client(database) as client:
        found = await client.get("/v1/customers", params={"phone": "+1 (415) 555-0101"}, headers=bearer(key))
        missing = await client.get("/v1/customers", params={"phone": "+14155550102"}, headers=bearer(key))
    [card] = found.json()["items"]
    assert card["display_name"] == "Ann Archer"
    assert {view["key"] for view in card["identities"]} == {ANN_EMAIL.key, ANN_PHONE.key}
    assert card["profile"]["birthday"] == "1990-04-01"
    assert missing.json()["items"] == []  # the bad row's phone was not imported either


async def test_personal_values_are_stored_sealed_and_every_event_names_the_import_as_actor(
    database: str, tmp_path: Path
) -> None:
    await _import(database, _file(tmp_path, CSV))

    with psycopg.connect(database) as conn:
        rows = conn.execute("SELECT data::text, metadata FROM events").fetchall()
    assert len(rows) == 6  # Ann: 2 links, name, birthday; Cy: 1 link, name
    for text, metadata in rows:
        assert metadata["actor"] == "import"
        assert "_sealed" in metadata
        for secret in ("ann@example.com", "Ann Archer", "+14155550101", "1990-04-01", "Cy Cole"):
            assert secret not in text


async def test_importing_the_same_file_again_adds_no_events(database: str, tmp_path: Path) -> None:
    path = _file(tmp_path, CSV)
    await _import(database, path)
    events = _events(database)

    again = await _import(database, path)

    assert _events(database) == events
    summary = _summary(again)
    assert (summary["imported_before"], summary["events"], summary["customers"]["created"]) == (2, 0, 0)


async def test_a_row_whose_email_a_customer_holds_adds_to_that_customer(
    database: str, pool: AsyncConnectionPool[Conn], tmp_path: Path
) -> None:
    known = await _chat(pool, "ann-chats", ANN_EMAIL)

    result = await _import(database, _file(tmp_path, CSV))

    summary = _summary(result)
    assert (summary["customers"]["created"], summary["customers"]["updated"]) == (1, 1)
    with psycopg.connect(database) as conn:
        holder = conn.execute(
            "SELECT customer_id FROM identity_index WHERE identity_key = %s", (ANN_PHONE.key,)
        ).fetchone()
    assert holder == (known,)


async def test_a_dry_run_writes_nothing_and_reports_the_merge_the_row_would_cause(
    database: str, pool: AsyncConnectionPool[Conn], tmp_path: Path
) -> None:
    by_email = await _chat(pool, "ann-email", ANN_EMAIL)
    by_phone = await _chat(pool, "ann-phone", ANN_PHONE)
    events, keys = _events(database), _count(database, "SELECT count(*) FROM customer_keys")

    dry = await _import(database, _file(tmp_path, CSV), "--dry-run")

    assert (_events(database), _count(database, "SELECT count(*) FROM customer_keys")) == (events, keys)
    summary = _summary(dry)
    assert summary["dry_run"] is True
    [merge] = summary["merges"]
    assert (merge["line"], merge["survivor"], merge["absorbed"]) == (2, str(by_email), str(by_phone))
    assert summary["events"] > 0  # what it would append

    done = _summary(await _import(database, _file(tmp_path, CSV)))
    assert done["merges"] == summary["merges"]
    assert done["events"] == summary["events"]
