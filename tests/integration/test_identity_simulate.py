"""``hub identity simulate`` against a real store: which customers candidate rules would merge or split."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest
from psycopg_pool import AsyncConnectionPool
from typer.testing import CliRunner

from contracts import ChatMessageReceived, Identity, IdentityKind, Sender, event_id_for, normalise_identity
from contracts.identity_rules import load_identity_rules
from hub.cli import app
from plumbing.eventstore.postgres import Conn
from services.timeline.store import record_interaction

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

T0 = datetime(2025, 6, 9, 12, 0, tzinfo=UTC)
ALICE = normalise_identity(IdentityKind.EMAIL, "alice@example.com")
BOB = normalise_identity(IdentityKind.EMAIL, "bob@example.com")
DAN = normalise_identity(IdentityKind.EMAIL, "dan@example.com")
DAN_HANDLE = normalise_identity(IdentityKind.HANDLE, "v_dan", provider="widget")
PHONE = normalise_identity(IdentityKind.PHONE, "+14155550123")

PHONES_DO_NOT_MERGE = "[kinds.phone]\nmerge = false\n"
PHONES_MERGE = "[kinds.phone]\nmerge = true\n"


def _chat(message_id: str, *identities: Identity, minute: int) -> ChatMessageReceived:
    at = T0 + timedelta(minutes=minute)
    return ChatMessageReceived(
        event_id=event_id_for("widget", message_id),
        occurred_at=at,
        received_at=at,
        correlation_id=message_id,
        provider="widget",
        provider_message_id=message_id,
        sender=Sender(identities=identities),
        summary="hello",
        conversation_id="conv",
    )


async def _write_store(pool: AsyncConnectionPool[Conn], rules_file: Path) -> dict[str, UUID]:
    """A family (Alice and Bob share a phone) and Dan (an email and a handle, tied by one message)."""
    rules = load_identity_rules(rules_file)
    sent = [
        ("alice", (ALICE, PHONE)),
        ("bob", (BOB,)),
        ("bob-pays", (BOB, PHONE)),
        ("dan", (DAN,)),
        ("dan-chat", (DAN_HANDLE,)),
        ("dan-both", (DAN, DAN_HANDLE)),
    ]
    customers = {}
    for minute, (name, identities) in enumerate(sent):
        recorded = await record_interaction(pool, _chat(name, *identities, minute=minute), rules)
        assert recorded.customer_id is not None
        customers[name] = recorded.customer_id
    return customers


def _file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


async def _simulate(database: str, *args: str | Path) -> dict[str, object]:
    result = await asyncio.to_thread(
        CliRunner().invoke,
        app,
        ["identity", "simulate", *map(str, args), "--json"],
        env={"HUB_PG_DSN": database},
    )
    assert result.exit_code == 0, result.output
    parsed: dict[str, object] = json.loads(result.output)
    return parsed


async def test_rules_that_let_phones_merge_would_merge_the_family_and_nothing_else(
    pool: AsyncConnectionPool[Conn], database: str, tmp_path: Path
) -> None:
    current = _file(tmp_path, "current.toml", PHONES_DO_NOT_MERGE)
    customers = await _write_store(pool, current)
    assert customers["bob-pays"] == customers["bob"] != customers["alice"]

    report = await _simulate(
        database, "--rules", _file(tmp_path, "c.toml", PHONES_MERGE), "--current", current
    )

    assert report["interactions"] == 6
    assert report["customers"] == {"current": 3, "candidate": 2}
    assert report["counts"] == {"merges": 1, "customers_merged": 2, "splits": 0}
    assert report["merges"] == [
        {
            "customers": sorted([str(customers["alice"]), str(customers["bob"])]),
            "into": str(customers["alice"]),
            "interactions": 3,
        }
    ]
    assert report["splits"] == []


async def test_rules_that_stop_phones_merging_would_split_the_family_back(
    pool: AsyncConnectionPool[Conn], database: str, tmp_path: Path
) -> None:
    current = _file(tmp_path, "current.toml", PHONES_MERGE)
    customers = await _write_store(pool, current)
    assert customers["bob-pays"] == customers["alice"], "today the payment merged Bob into Alice"

    report = await _simulate(
        database, "--rules", _file(tmp_path, "c.toml", PHONES_DO_NOT_MERGE), "--current", current
    )

    assert report["customers"] == {"current": 2, "candidate": 3}
    assert report["counts"] == {"merges": 0, "customers_merged": 0, "splits": 1}
    assert report["splits"] == [
        {
            "customer": str(customers["alice"]),
            "into": sorted(
                [
                    {"customer": str(customers["alice"]), "interactions": 1},
                    {"customer": str(customers["bob"]), "interactions": 2},
                ],
                key=lambda part: str(part["customer"]),
            ),
        }
    ]


async def test_the_same_rules_change_nothing_and_the_text_report_says_so(
    pool: AsyncConnectionPool[Conn], database: str, tmp_path: Path
) -> None:
    current = _file(tmp_path, "current.toml", PHONES_MERGE)
    await _write_store(pool, current)

    result = await asyncio.to_thread(
        CliRunner().invoke,
        app,
        ["identity", "simulate", "--rules", str(current)],
        env={"HUB_PG_DSN": database, "HUB_IDENTITY_RULES": str(current)},
    )

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "replayed 6 interactions",
        "customers: 2 with the current rules, 2 with the candidates",
        "would merge: 0 group(s) of 0 customers",
        "would split: 0 customer(s)",
    ]


async def test_a_bad_candidate_file_is_refused_before_anything_is_read(database: str, tmp_path: Path) -> None:
    result = await asyncio.to_thread(
        CliRunner().invoke,
        app,
        ["identity", "simulate", "--rules", str(_file(tmp_path, "bad.toml", "[kinds.fax]\n"))],
        env={"HUB_PG_DSN": database},
    )
    assert result.exit_code == 2
    assert "invalid identity rules" in result.output
