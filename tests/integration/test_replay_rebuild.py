"""Verified rebuilds over the real store: a projection rebuilt from position zero into a shadow schema
equals the live one after a scenario, a deliberately broken live row is named, and a switch is atomic."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool
from typer.testing import CliRunner

from hub.cli import app
from hub.replay_projections import SPECS
from plumbing.blobs import FileBlobStore
from plumbing.eventstore.model import RecordedEvent
from plumbing.eventstore.postgres import Conn
from plumbing.projection import apply_next_batch, checkpoint
from plumbing.rebuild import Progress, RebuildRunning, rebuild
from projections.customer_card.store import CustomerCardProjection
from projections.pipeline.store import PipelineProjection
from services.timeline.store import record_interaction
from tests.support.audit import chat_with_evidence, email, merge
from tests.support.sales import Staff, issue_staff, open_body, sales_client

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@dataclass
class Scenario:
    dsn: str
    pool: AsyncConnectionPool[Conn]
    client: httpx.AsyncClient
    staff: Staff
    deals: list[str]

    async def project_live(self, batch_size: int = 3) -> None:
        """Both projections as the deployables run them, in small batches (the rebuild uses large ones)."""
        for projection in (CustomerCardProjection(), PipelineProjection()):
            while await apply_next_batch(self.pool, projection, batch_size):
                pass

    async def command(self, path: str, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
        answer = await self.client.post(path, json=body, headers=self.staff.headers("boss"))
        assert answer.status_code == status, answer.text
        result: dict[str, Any] = answer.json()
        return result


@pytest.fixture
async def scenario(database: str, pool: AsyncConnectionPool[Conn], tmp_path: Path) -> AsyncIterator[Scenario]:
    blobs = FileBlobStore(tmp_path / "blobs")
    tag = uuid.uuid4().hex[:6]
    people = [email(f"{tag}-{n}") for n in range(4)]
    customers = []
    for n, person in enumerate(people):
        customer, event = await chat_with_evidence(pool, blobs, f"m{n}-{tag}", f"hello {n}", person)
        customers.append(customer)
        if n == 1:
            await record_interaction(pool, event)  # a duplicate delivery: stored once
    await merge(pool, customers[0], customers[1])
    await merge(pool, customers[2], customers[3], actor="boss")
    staff = await issue_staff(database, [("boss", "sales_manager", None)])
    async with sales_client(database) as client:
        built = Scenario(database, pool, client, staff, [])
        for n, customer in enumerate(customers):
            body = open_body(customer, amount=f"{n + 1}00", owner_id="alice")
            built.deals.append((await built.command("/v1/deals", body, 201))["deal_id"])
        await built.command(f"/v1/deals/{built.deals[0]}/stage", {"expected_version": 0, "stage_id": "offer"})
        await built.command(f"/v1/deals/{built.deals[1]}/lose", {"expected_version": 0, "reason": "price"})
        await built.command("/v1/notes", {"deal_id": built.deals[2], "text": "called"}, 201)
        await built.command(
            "/v1/tasks",
            {"customer_id": str(customers[3]), "kind": "call_back", "title": "Call", "assignee": "alice"}
            | {"due_at": "2030-01-01T09:00:00Z"},
            201,
        )
        await chat_with_evidence(pool, blobs, f"late-{tag}", "one more", people[1])  # after the merge
        await built.project_live()
        yield built


async def test_a_rebuild_of_each_projection_equals_the_live_one(scenario: Scenario) -> None:
    seen: list[Progress] = []
    for name in ("pipeline", "customer_card"):
        report = await rebuild(scenario.dsn, SPECS[name], batch_size=4, on_progress=seen.append)

        assert report.identical, [row.describe() for table in report.tables for row in table.rows]
        assert report.position == await checkpoint(scenario.pool, name)
        assert all(
            table.live_rows == table.rebuilt_rows > 0
            for table in report.tables
            if table.table != "card_search"
        )
    assert {t.table for t in (await rebuild(scenario.dsn, SPECS["pipeline"])).tables} == {
        "pipeline_deals",
        "pipeline_notes",
        "pipeline_tasks",
    }
    assert seen and seen[-1].position <= seen[-1].target and seen[-1].rate > 0


async def test_a_broken_live_row_is_named_and_a_switch_replaces_it_atomically(scenario: Scenario) -> None:
    broken = scenario.deals[2]
    with psycopg.connect(scenario.dsn) as conn:
        conn.execute("UPDATE pipeline_deals SET amount = amount + 1 WHERE deal_id = %s", (broken,))
    before = await checkpoint(scenario.pool, "pipeline")

    report = await rebuild(scenario.dsn, SPECS["pipeline"])
    (deals,) = [table for table in report.tables if table.table == "pipeline_deals"]
    assert deals.differing == 1
    assert [row.describe() for row in deals.rows] == [f"pipeline_deals [deal_id={broken}]: changed (amount)"]

    switched = await rebuild(scenario.dsn, SPECS["pipeline"], switch=True)

    assert switched.switched and switched.retired_schema is not None
    assert await checkpoint(scenario.pool, "pipeline") == before == switched.position
    with psycopg.connect(scenario.dsn) as conn:
        live = conn.execute("SELECT amount FROM pipeline_deals WHERE deal_id = %s", (broken,)).fetchone()
        retired = conn.execute(
            psycopg.sql.SQL("SELECT amount FROM {} WHERE deal_id = %s").format(
                psycopg.sql.Identifier(switched.retired_schema, "pipeline_deals")
            ),
            (broken,),
        ).fetchone()
    assert live is not None and retired is not None and retired[0] == live[0] + 1
    assert (await rebuild(scenario.dsn, SPECS["pipeline"])).identical

    await scenario.command(f"/v1/deals/{broken}/stage", {"expected_version": 0, "stage_id": "offer"})
    await scenario.project_live()  # the live projection carries on in the switched-in tables
    assert (await rebuild(scenario.dsn, SPECS["pipeline"])).identical


class _Paused:
    """The pipeline projection, pausing at its first batch until ``go`` is set (``paused`` says it is)."""

    def __init__(self, paused: asyncio.Event, go: asyncio.Event) -> None:
        self.inner = PipelineProjection()
        self.name = self.inner.name
        self.paused, self.go = paused, go

    async def apply(self, conn: Conn, events: Sequence[RecordedEvent]) -> None:
        self.paused.set()
        await self.go.wait()
        await self.inner.apply(conn, events)


async def test_a_second_rebuild_of_a_projection_is_refused_while_one_runs_and_spares_its_shadow(
    scenario: Scenario,
) -> None:
    paused, go = asyncio.Event(), asyncio.Event()
    spec = replace(SPECS["pipeline"], make=lambda: _Paused(paused, go))
    first = asyncio.create_task(rebuild(scenario.dsn, spec, batch_size=4))
    await asyncio.wait_for(paused.wait(), timeout=60)  # the first holds its shadow, mid-rebuild

    with pytest.raises(RebuildRunning, match=r"rebuild of pipeline is already running .*backend \d+"):
        await rebuild(scenario.dsn, SPECS["pipeline"])
    cli = await asyncio.to_thread(
        CliRunner().invoke, app, ["replay", "rebuild", "pipeline"], env={"HUB_PG_DSN": scenario.dsn}
    )
    go.set()
    report = await asyncio.wait_for(first, timeout=120)

    assert cli.exit_code == 2 and "a rebuild of pipeline is already running" in cli.output, cli.output
    assert report.identical and report.events > 0, [r.describe() for t in report.tables for r in t.rows]
    assert (await rebuild(scenario.dsn, SPECS["pipeline"])).identical  # the lock went with the first


async def test_the_cli_reports_the_difference_and_exits_1(scenario: Scenario) -> None:
    with psycopg.connect(scenario.dsn) as conn:
        conn.execute("DELETE FROM pipeline_notes")

    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["replay", "rebuild", "pipeline"], env={"HUB_PG_DSN": scenario.dsn}
    )

    assert result.exit_code == 1, result.output
    assert "pipeline_notes: live 0 rows, rebuilt 1, differing 1" in result.output
    assert "pipeline_notes [note_id=" in result.output and "only in rebuild" in result.output
    assert "hash chains: intact" in result.output
