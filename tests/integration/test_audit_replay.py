"""Auditors over the real store: a customer's raw timeline (merged-in streams, evidence, actors), the
pipeline as of a past point, and evidence exports checked offline."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool
from typer.testing import CliRunner

from hub.cli import app
from plumbing.blobs import FileBlobStore
from plumbing.eventstore.postgres import Conn
from tests.support.access import issue_key_async
from tests.support.api_app import api_client, bearer
from tests.support.audit import chat_with_evidence, email, merge
from tests.support.sales import issue_staff, open_body, project_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]
EVENTS_ROUTE = "/v1/audit/customers/{customer_id}/events"


@dataclass
class Audit:
    dsn: str
    blob_dir: Path
    client: httpx.AsyncClient
    auditor: dict[str, str]
    survivor: UUID
    absorbed: UUID
    bystander: UUID
    blob_hashes: set[str]

    async def events(self, customer_id: UUID, **params: Any) -> httpx.Response:
        url = EVENTS_ROUTE.replace("{customer_id}", str(customer_id))
        return await self.client.get(url, params=params, headers=self.auditor)

    async def cli(self, *args: str | Path) -> tuple[int, str]:
        env = {"HUB_PG_DSN": self.dsn, "HUB_BLOB_DIR": str(self.blob_dir)}
        result = await asyncio.to_thread(CliRunner().invoke, app, list(map(str, args)), env=env)
        return result.exit_code, result.output


@pytest.fixture
async def audit(database: str, pool: AsyncConnectionPool[Conn], tmp_path: Path) -> AsyncIterator[Audit]:
    blob_dir = tmp_path / "blobs"
    blobs = FileBlobStore(blob_dir)
    tag = uuid.uuid4().hex[:6]
    survivor, first = await chat_with_evidence(
        pool, blobs, f"a1-{tag}", "Is the sofa in stock?", email(f"a-{tag}")
    )
    absorbed, second = await chat_with_evidence(
        pool, blobs, f"b1-{tag}", "Delivery on Monday?", email(f"b-{tag}")
    )
    _, third = await chat_with_evidence(pool, blobs, f"b2-{tag}", "Thanks!", email(f"b-{tag}"))
    bystander, _ = await chat_with_evidence(pool, blobs, f"c1-{tag}", "Unrelated", email(f"c-{tag}"))
    await merge(pool, survivor, absorbed, actor="boss")
    issued = await issue_key_async(database, "auditor-1", ["auditor"])
    hashes = {e.evidence.body.sha256 for e in (first, second, third) if e.evidence}
    async with api_client(database) as client:
        yield Audit(database, blob_dir, client, bearer(issued.key), survivor, absorbed, bystander, hashes)


async def test_an_auditor_reads_every_event_of_a_customer_with_merged_in_streams_in_store_order(
    audit: Audit,
) -> None:
    answer = await audit.events(audit.survivor)

    assert answer.status_code == 200, answer.text
    page = answer.json()
    items = page["items"]
    positions = [item["position"] for item in items]
    assert positions == sorted(positions)
    streams = {item["stream_id"] for item in items}
    assert streams == {f"customer-{audit.survivor}", f"customer-{audit.absorbed}"}
    assert set(page["streams"]) == streams
    interactions = [item for item in items if item["event_type"] == "interaction.chat.received"]
    assert len(interactions) == 3  # the survivor's message and both of the absorbed customer's
    assert {item["evidence"]["sha256"] for item in interactions} == audit.blob_hashes
    assert all(item["evidence"]["verification"]["scheme"].startswith("hmac") for item in interactions)
    assert all(item["provider"] == "widget" and item["provider_message_id"] for item in interactions)
    assert all(len(item["chain_hash"]) == 64 for item in items)
    (absorbed,) = [item for item in items if item["event_type"] == "customer.absorbed"]
    assert (absorbed["actor"], absorbed["merge"]["rule"]) == ("boss", "staff")
    assert absorbed["merge"]["absorbed_id"] == str(audit.absorbed)
    assert str(audit.bystander) not in answer.text


async def test_the_raw_timeline_pages_without_gaps_or_repeats(audit: Audit) -> None:
    whole = (await audit.events(audit.survivor)).json()["items"]
    paged: list[dict[str, Any]] = []
    after = 0
    while True:
        page = (await audit.events(audit.survivor, after=after, limit=2)).json()
        paged += page["items"]
        if page["next_after"] is None:
            break
        after = page["next_after"]

    assert [item["event_id"] for item in paged] == [item["event_id"] for item in whole]


async def test_audit_reads_are_recorded_and_other_roles_are_refused(audit: Audit) -> None:
    rep = await issue_staff(audit.dsn, [("rep-1", "sales_rep", "north")])
    refused = await audit.client.get(
        EVENTS_ROUTE.replace("{customer_id}", str(audit.survivor)), headers=rep.headers("rep-1")
    )
    unknown = uuid.uuid4()
    missing = await audit.events(unknown)
    await audit.events(audit.survivor)

    assert refused.status_code == 403
    assert missing.status_code == 404
    with psycopg.connect(audit.dsn) as conn:
        rows = conn.execute(
            "SELECT principal_id, customer_id, outcome FROM access_log WHERE route = %s ORDER BY id",
            (f"GET {EVENTS_ROUTE}",),
        ).fetchall()
    assert rows == [
        ("rep-1", audit.survivor, "forbidden"),
        ("auditor-1", unknown, "not_found"),
        ("auditor-1", audit.survivor, "ok"),
    ]


async def test_the_cli_prints_the_same_raw_timeline(audit: Audit) -> None:
    code, output = await audit.cli("audit", "timeline", audit.survivor, "--json")
    api = (await audit.events(audit.survivor)).json()["items"]

    assert code == 0, output
    assert [json.loads(line)["event_id"] for line in output.splitlines()] == [
        item["event_id"] for item in api
    ]


def _tamper(path: Path, line: int, old: str, new: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    assert old in lines[line - 1]
    lines[line - 1] = lines[line - 1].replace(old, new)
    path.write_text("".join(lines), encoding="utf-8")


async def test_an_export_verifies_offline_and_a_tampered_line_is_named(audit: Audit, tmp_path: Path) -> None:
    out = tmp_path / "export"
    code, output = await audit.cli("audit", "export", "--customer", audit.survivor, out)
    assert code == 0, output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["chain_verification"]["intact"] is True
    assert {f["sha256"] for f in manifest["blobs"]["files"]} == audit.blob_hashes
    assert manifest["events"]["count"] == len((out / "events.jsonl").read_text().splitlines())

    code, output = await audit.cli("audit", "verify-export", out)
    assert code == 0, output

    lines = (out / "events.jsonl").read_text().splitlines()
    target = next(n for n, line in enumerate(lines, start=1) if "Delivery on Monday?" in line)
    # the summary is personal: the chain covers its ciphertext (the line's "opened" shows the text)
    sealed = json.loads(lines[target - 1])["data"]["summary"]
    assert json.loads(lines[target - 1])["opened"]["data"]["summary"] == "Delivery on Monday?"
    _tamper(out / "events.jsonl", target, sealed, sealed[::-1])
    code, output = await audit.cli("audit", "verify-export", out)

    assert code == 1
    assert f"line {target} " in output
    assert "does not match its recorded hash" in output
    assert "sha256(prev_hash || content) is not its hash" in output


async def test_an_altered_evidence_blob_in_an_export_is_named(audit: Audit, tmp_path: Path) -> None:
    out = tmp_path / "export"
    code, output = await audit.cli("audit", "export", "--customer", audit.survivor, out)
    assert code == 0, output
    blob = sorted(audit.blob_hashes)[0]
    (out / "blobs" / blob).write_bytes(b"something else")

    code, output = await audit.cli("audit", "verify-export", out)

    assert code == 1
    assert f"blob {blob}: its bytes do not hash to its name" in output


async def test_a_range_export_holds_every_position_of_the_range(audit: Audit, tmp_path: Path) -> None:
    with psycopg.connect(audit.dsn) as conn:
        row = conn.execute("SELECT min(position), max(position) FROM events").fetchone()
    assert row is not None
    first, last = row[0] + 1, row[1] - 1
    out = tmp_path / "range"
    code, output = await audit.cli("audit", "export", "--from-position", first, "--to-position", last, out)
    assert code == 0, output
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["events"]["first_position"], manifest["events"]["last_position"]) == (first, last)
    assert (await audit.cli("audit", "verify-export", out))[0] == 0

    lines = (out / "events.jsonl").read_text().splitlines(keepends=True)
    (out / "events.jsonl").write_text("".join(lines[:2] + lines[3:]))  # one event removed
    code, output = await audit.cli("audit", "verify-export", out)
    assert code == 1
    assert "SHA-256 or size differs" in output


async def test_the_pipeline_as_of_a_past_point_equals_what_the_live_api_answered_then(
    audit: Audit,
) -> None:
    staff = await issue_staff(audit.dsn, [("boss", "sales_manager", None)])
    period = {"since": "2000-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z"}

    async def live() -> dict[str, Any]:
        await project_pipeline(audit.dsn)
        answer = await audit.client.get("/v1/pipelines/retail", params=period, headers=staff.headers("boss"))
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    async def command(path: str, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
        answer = await audit.client.post(path, json=body, headers=staff.headers("boss"))
        assert answer.status_code == status, answer.text
        result: dict[str, Any] = answer.json()
        return result

    first = (await command("/v1/deals", open_body(audit.survivor, amount="1000", owner_id="alice"), 201))[
        "deal_id"
    ]
    await command("/v1/deals", open_body(audit.absorbed, amount="40", currency="USD", owner_id="alice"), 201)
    await command(f"/v1/deals/{first}/stage", {"expected_version": 0, "stage_id": "offer"})
    then = await live()
    await command(f"/v1/deals/{first}/win", {"expected_version": 1})
    await command("/v1/deals", open_body(audit.survivor, amount="5", owner_id="alice"), 201)
    now = await live()

    for answered in (then, now):
        position = answered["as_of_position"]
        replayed = await audit.client.get(
            "/v1/audit/pipelines/retail", params={"as_of": str(position), **period}, headers=audit.auditor
        )
        assert replayed.status_code == 200, replayed.text
        body = replayed.json()
        assert body["as_of_position"] == position
        assert {k: v for k, v in body.items() if not k.startswith("as_of")} == {
            k: v for k, v in answered.items() if k != "as_of_position"
        }
        by_time = await audit.client.get(
            "/v1/audit/pipelines/retail",
            params={"as_of": body["as_of_time"], **period},
            headers=audit.auditor,
        )
        assert by_time.json() == body
    assert then["stages"] != now["stages"]

    code, output = await audit.cli(
        "replay", "pipeline", "--as-of", then["as_of_position"], "--pipeline", "retail"
    )
    assert code == 0, output
    (cli,) = json.loads(output)
    assert cli["stages"] == then["stages"] and cli["forecast"] == then["forecast"]


async def test_a_bad_as_of_is_a_422_and_an_unknown_pipeline_a_404(audit: Audit) -> None:
    bad = await audit.client.get(
        "/v1/audit/pipelines/retail", params={"as_of": "yesterday"}, headers=audit.auditor
    )
    naive = await audit.client.get(
        "/v1/audit/pipelines/retail", params={"as_of": "2025-01-01T00:00:00"}, headers=audit.auditor
    )
    unknown = await audit.client.get("/v1/audit/pipelines/nope", params={"as_of": "1"}, headers=audit.auditor)

    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "invalid_as_of")
    assert naive.status_code == 422
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "pipeline_not_found")
