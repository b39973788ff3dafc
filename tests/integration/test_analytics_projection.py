"""The analytics projection over a real event store, and the analytics API over what it built.

One hand-computed scenario (days counted from BASE, 80 days ago; the report window is days 0..29):

* A: email on day -5 (before the window), chat on day 4 answered by alice 10 minutes later, buys SKU-1 +
  SKU-2 for 100 EUR on day 9; a task for A due day 7, done on day 6. E chatted on day 0 and was merged
  into A on day 20, so E's chat counts for A.
* B: chat day 1, WhatsApp day 2, buys SKU-1 for 50 EUR on day 3, refund of 20 EUR on day 18; a deal
  without a source opened on day 5 for alice, still in "lead" (stale after 7 days).
* C: Instagram on day 14; a deal from social/spring for bob opened day 15, won day 24 (300 EUR).
* D: buys SKU-3 for 30 EUR on day 10, nothing else.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from contracts import (
    ChatMessageReceived,
    CustomerAbsorbed,
    CustomerMergedInto,
    CustomerUnmerged,
    DealOpened,
    DealWon,
    Direction,
    EmailReceived,
    Envelope,
    IdentityKind,
    Money,
    PurchaseLine,
    PurchaseRecorded,
    RefundRecorded,
    Sender,
    SocialMessageReceived,
    customer_stream,
    deal_stream,
    normalise_identity,
)
from contracts.sales_tasks import Routing, TaskAssigned, TaskCompleted, TaskCreated, TaskKind, task_stream
from plumbing.eventstore import NewEvent
from plumbing.eventstore.postgres import Conn, PostgresEventStore
from plumbing.projection import apply_next_batch
from projections.analytics.store import AnalyticsProjection
from tests.support.access import issue_key_async
from tests.support.api_app import api_client, bearer, project

pytestmark = pytest.mark.integration

BASE = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=80)
TABLES = (
    "analytics_touches",
    "analytics_sales",
    "analytics_deals",
    "analytics_tasks",
    "analytics_threads",
    "analytics_responses",
    "analytics_aliases",
    "analytics_traits",
    "analytics_first_touches",
    "analytics_touch_days",
)


def day(n: float, minutes: int = 0) -> datetime:
    return BASE + timedelta(days=n, hours=12, minutes=minutes)


@dataclass
class Scenario:
    """The customers' ids and the events appended, in order, per stream."""

    ids: dict[str, uuid.UUID] = field(default_factory=lambda: {n: uuid.uuid4() for n in "ABCDE"})
    deals: dict[str, uuid.UUID] = field(default_factory=lambda: {"B": uuid.uuid4(), "C": uuid.uuid4()})
    appended: list[tuple[str, Envelope, dict[str, Any]]] = field(default_factory=list)

    def envelope(self, at: datetime) -> dict[str, Any]:
        return {"event_id": uuid.uuid4(), "occurred_at": at, "received_at": at, "correlation_id": "analytics"}

    def sender(self, who: str) -> Sender:
        email = normalise_identity(IdentityKind.EMAIL, f"{who.lower()}-{self.ids[who].hex[:8]}@example.com")
        return Sender(identities=(email,), display_name=f"Person {who}")

    def add(self, who: str, event: Envelope, **metadata: Any) -> None:
        self.appended.append((customer_stream(self.ids[who]), event, metadata))

    def message(
        self, who: str, at: datetime, kind: str = "chat", direction: Direction = Direction.INBOUND
    ) -> None:
        common = {**self.envelope(at), "sender": self.sender(who), "direction": direction}
        common |= {"provider": "widget", "provider_message_id": uuid.uuid4().hex}
        if kind == "chat":
            event: Envelope = ChatMessageReceived(**common, conversation_id=who)
        elif kind == "email":
            event = EmailReceived(**{**common, "provider": "mta"})
        else:
            event = SocialMessageReceived(**{**common, "provider": "meta"}, network=kind, conversation_id=who)
        self.add(who, event, **({"agent": "alice"} if direction is Direction.OUTBOUND else {}))

    def purchase(self, who: str, at: datetime, total: str, *skus: str) -> str:
        order = uuid.uuid4().hex[:10]
        each = Money(amount=Decimal(total) / len(skus), currency="EUR")
        lines = tuple(
            PurchaseLine(sku=sku, name=f"Item {sku}", quantity=Decimal(1), unit_price=each, total=each)
            for sku in skus
        )
        self.add(
            who,
            PurchaseRecorded(
                **self.envelope(at),
                provider="shopify",
                provider_message_id=order,
                sender=self.sender(who),
                order_id=order,
                lines=lines,
                total=Money(amount=Decimal(total), currency="EUR"),
            ),
        )
        return order

    def refund(self, who: str, at: datetime, order: str, amount: str) -> None:
        money = Money(amount=Decimal(amount), currency="EUR")
        common = {"provider": "shopify", "provider_message_id": f"r-{order}", "sender": self.sender(who)}
        self.add(
            who, RefundRecorded(**self.envelope(at), **common, order_id=order, refund_id="r1", amount=money)
        )

    def deal(self, who: str, at: datetime, owner: str, source: tuple[str, str] | None = None) -> None:
        deal_id = self.deals[who]
        opened = DealOpened(
            **self.envelope(at),
            actor=owner,
            deal_id=deal_id,
            customer_id=self.ids[who],
            title=f"Deal {who}",
            amount=Money(amount=Decimal(300), currency="EUR"),
            pipeline_id="retail",
            stage_id="lead",
            owner_id=owner,
            source_channel=source[0] if source else None,
            source_campaign=source[1] if source else None,
        )
        self.appended.append((deal_stream(deal_id), opened, {}))

    def win(self, who: str, at: datetime) -> None:
        won = DealWon(
            **self.envelope(at),
            actor="bob",
            deal_id=self.deals[who],
            from_stage="lead",
            stage_id="won",
            amount=Money(amount=Decimal(300), currency="EUR"),
        )
        self.appended.append((deal_stream(self.deals[who]), won, {}))

    def task(self, who: str, created: datetime, due: datetime, done: datetime) -> None:
        task_id = uuid.uuid4()
        events: list[Envelope] = [
            TaskCreated(
                **self.envelope(created),
                actor="alice",
                task_id=task_id,
                kind=TaskKind.CALL_BACK,
                title="Call",
                customer_id=self.ids[who],
                due_at=due,
            ),
            TaskAssigned(
                **self.envelope(created),
                actor="alice",
                task_id=task_id,
                assignee="alice",
                team="north",
                routing=Routing.EXPLICIT,
            ),
            TaskCompleted(**self.envelope(done), actor="alice", task_id=task_id),
        ]
        self.appended += [(task_stream(task_id), event, {}) for event in events]

    def merge(self, absorbed: str, survivor: str, at: datetime) -> None:
        evidence = {"rule": "staff", "evidence_event_id": uuid.uuid4(), "actor": "carol"}
        self.add(
            survivor,
            CustomerAbsorbed(
                **self.envelope(at),
                customer_id=self.ids[survivor],
                absorbed_id=self.ids[absorbed],
                **evidence,
            ),
        )
        self.add(
            absorbed,
            CustomerMergedInto(
                **self.envelope(at),
                customer_id=self.ids[absorbed],
                survivor_id=self.ids[survivor],
                **evidence,
            ),
        )


def build() -> Scenario:
    s = Scenario()
    s.message("A", day(-5), "email")
    s.message("E", day(0))
    s.message("B", day(1))
    s.message("B", day(2), "whatsapp")
    b_order = s.purchase("B", day(3), "50", "SKU-1")
    s.message("A", day(4))
    s.message("A", day(4, 10), direction=Direction.OUTBOUND)
    s.task("A", day(4), day(7), day(6))
    s.deal("B", day(5), "alice")
    s.purchase("A", day(9), "100", "SKU-1", "SKU-2")
    s.purchase("D", day(10), "30", "SKU-3")
    s.message("C", day(14), "instagram")
    s.deal("C", day(15), "bob", ("social", "spring"))
    s.refund("B", day(18), b_order, "20")
    s.merge("E", "A", day(20))
    s.win("C", day(24))
    return s


async def append_all(pool: AsyncConnectionPool[Conn], scenario: Scenario) -> None:
    store = PostgresEventStore(pool)
    for stream, event, metadata in scenario.appended:
        await store.append(stream, [NewEvent(event, metadata)])


async def run_projection(pool: AsyncConnectionPool[Conn], batch_size: int) -> None:
    while await apply_next_batch(pool, AnalyticsProjection(), batch_size):
        pass


def dump(dsn: str) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(dsn) as conn:
        return {
            table: sorted(map(repr, conn.execute(f"SELECT * FROM {table}").fetchall())) for table in TABLES
        }  # type: ignore[misc]


def wipe(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        for table in TABLES:
            conn.execute(f"DELETE FROM {table}")  # type: ignore[arg-type]
        conn.execute("UPDATE projection_checkpoints SET position = 0 WHERE name = 'analytics'")


async def test_projection_in_small_batches_equals_a_rebuild_in_one(
    database: str, pool: AsyncConnectionPool[Conn]
) -> None:
    await append_all(pool, build())
    await run_projection(pool, batch_size=2)
    live = dump(database)
    assert len(live["analytics_touches"]) == 11 and len(live["analytics_sales"]) == 4
    wipe(database)
    await run_projection(pool, batch_size=1000)
    assert dump(database) == live
    await run_projection(pool, batch_size=1000)  # nothing new: nothing changes
    assert dump(database) == live


async def test_merge_moves_the_absorbed_customers_facts_and_closes_their_traits(
    database: str, pool: AsyncConnectionPool[Conn]
) -> None:
    scenario = build()
    await append_all(pool, scenario)
    await run_projection(pool, batch_size=3)
    a, e = scenario.ids["A"], scenario.ids["E"]
    with psycopg.connect(database) as conn:
        owners = conn.execute(
            "SELECT DISTINCT customer_id FROM analytics_touches WHERE origin_id = %s", (e,)
        ).fetchall()
        open_e = conn.execute(
            "SELECT count(*) FROM analytics_traits WHERE customer_id = %s AND valid_to IS NULL", (e,)
        ).fetchone()
        traits = conn.execute(
            "SELECT traits FROM analytics_traits WHERE customer_id = %s AND valid_to IS NULL", (a,)
        ).fetchone()
        reply = conn.execute("SELECT agent, seconds, first_response FROM analytics_responses").fetchall()
    assert owners == [(a,)] and open_e == (0,)
    assert traits is not None
    assert traits[0]["inbound_by_channel"] == {"chat": 2, "email": 1}  # E's chat is A's now
    assert traits[0]["preferred_channel"] == "chat" and traits[0]["first_seen_at"].startswith(
        str(day(-5).date())
    )
    assert reply == [("alice", 600.0, True)]


async def test_unmerge_gives_the_restored_customer_back_its_facts(
    database: str, pool: AsyncConnectionPool[Conn]
) -> None:
    scenario = build()
    merge_event = next(e for _, e, _ in scenario.appended if isinstance(e, CustomerAbsorbed))
    a, e = scenario.ids["A"], scenario.ids["E"]
    unmerged = CustomerUnmerged(
        **scenario.envelope(day(26)),
        customer_id=a,
        restored_id=e,
        merge_event_id=merge_event.event_id,
        actor="carol",
    )
    scenario.add("A", unmerged)
    await append_all(pool, scenario)
    await run_projection(pool, batch_size=4)
    with psycopg.connect(database) as conn:
        owner = conn.execute(
            "SELECT customer_id FROM analytics_touches WHERE origin_id = %s", (e,)
        ).fetchall()
        traits = dict(
            conn.execute(
                "SELECT customer_id, traits -> 'inbound_by_channel' FROM analytics_traits"
                " WHERE customer_id = ANY(%s) AND valid_to IS NULL",
                ([a, e],),
            ).fetchall()
        )
        alias = conn.execute("SELECT count(*) FROM analytics_aliases WHERE customer_id = %s", (e,)).fetchone()
    assert owner == [(e,)] and alias == (0,)
    assert traits == {a: {"chat": 1, "email": 1}, e: {"chat": 1}}


@pytest.fixture
async def api(database: str, pool: AsyncConnectionPool[Conn]) -> Any:
    scenario = build()
    await append_all(pool, scenario)
    await run_projection(pool, batch_size=500)
    await project(pool)  # the cards: row scopes and contact fields come from them
    keys = {}
    for role in ("sales_manager", "marketing_analyst", "support_agent"):
        issued = await issue_key_async(
            database, f"an-{role.replace('_', '-')}", [role], team="north", channels=["chat"]
        )
        keys[role] = issued.key
    async with api_client(database) as client:
        yield client, keys, scenario


WINDOW = {"from": str(BASE.date()), "to": str((BASE + timedelta(days=29)).date())}


async def test_channel_report_over_http_matches_the_scenario(api: Any) -> None:
    client, keys, scenario = api
    answer = await client.get(
        "/v1/analytics/channels", params=WINDOW, headers=bearer(keys["marketing_analyst"])
    )
    assert answer.status_code == 200, answer.text
    rows = {row["channel"]: row for row in answer.json()["items"]}
    assert set(rows) == {"chat", "email", "pos", "social"}
    chat, email, pos, social = rows["chat"], rows["email"], rows["pos"], rows["social"]
    assert [r["interactions"] for r in (chat, email, pos, social)] == [4, 0, 4, 2]
    assert [r["customers_reached"] for r in (chat, pos, social)] == [2, 3, 2]
    assert [r["new_customers"] for r in (chat, email, pos, social)] == [1, 0, 1, 1]
    assert (chat["revenue_first_touch"], chat["revenue_last_touch"]) == ({"EUR": "30"}, {"EUR": "100"})
    assert email["revenue_first_touch"] == {"EUR": "100"} and social["revenue_last_touch"] == {"EUR": "50"}
    assert (pos["revenue_first_touch"], pos["revenue_last_touch"]) == ({"EUR": "30"}, {"EUR": "10"})
    assert (pos["deals_opened"], social["deals_opened"], social["deals_won_last_touch"]) == (1, 1, 1)
    assert (chat["purchase_conversion"], social["purchase_conversion"], social["deal_win_rate"]) == (
        1.0,
        0.5,
        1.0,
    )
    segment = await client.get(
        "/v1/analytics/channels",
        params={**WINDOW, "segment": "recent_buyers"},
        headers=bearer(keys["marketing_analyst"]),
    )
    assert {r["channel"]: r["interactions"] for r in segment.json()["items"]}[
        "social"
    ] == 1  # B's; C bought nothing
    one = await client.get(
        "/v1/analytics/channels",
        params={**WINDOW, "customer_id": str(scenario.ids["D"])},
        headers=bearer(keys["marketing_analyst"]),
    )
    assert [(r["channel"], r["interactions"], r["revenue_last_touch"]) for r in one.json()["items"]] == [
        ("pos", 1, {"EUR": "30"})
    ]
    unknown = await client.get(
        "/v1/analytics/channels",
        params={**WINDOW, "customer_id": str(uuid.uuid4())},
        headers=bearer(keys["marketing_analyst"]),
    )
    assert unknown.status_code == 404
    csv = await client.get(
        "/v1/analytics/channels",
        params={**WINDOW, "format": "csv"},
        headers=bearer(keys["marketing_analyst"]),
    )
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    header, *lines = csv.text.splitlines()
    assert "revenue_last_touch.EUR" in header.split(",") and len(lines) == 4


async def test_staff_report_over_http(api: Any) -> None:
    client, keys, _ = api
    answer = await client.get("/v1/analytics/staff", params=WINDOW, headers=bearer(keys["sales_manager"]))
    assert answer.status_code == 200, answer.text
    rows = {(r["staff_id"], r["team"]): r for r in answer.json()["items"]}
    alice, bob = rows["alice", "north"], rows["bob", "north"]
    assert (alice["interactions_handled"], alice["replies"], alice["first_response_median_s"]) == (
        1,
        1,
        600.0,
    )
    assert (alice["tasks_done_on_time"], alice["tasks_done_late"]) == (1, 0)
    assert (bob["deals_won"], bob["revenue"], bob["avg_stage_seconds"]) == (
        1,
        {"EUR": "300"},
        {"lead": 9 * 86400.0},
    )


async def test_segments_sizes_history_and_members_masked_for_analysts(api: Any) -> None:
    client, keys, scenario = api
    analyst, manager = bearer(keys["marketing_analyst"]), bearer(keys["sales_manager"])
    sizes = {
        s["segment_id"]: s["members"]
        for s in (await client.get("/v1/analytics/segments", headers=analyst)).json()["items"]
    }
    assert (sizes["recent_buyers"], sizes["chat_people"], sizes["big_spenders"]) == (3, 2, 0)
    history = await client.get(
        "/v1/analytics/segments/recent_buyers/history",
        params={"from": WINDOW["from"], "to": str((BASE + timedelta(days=11)).date())},
        headers=analyst,
    )
    assert [p["members"] for p in history.json()["items"]] == [0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 3, 3]
    first = await client.get(
        "/v1/analytics/segments/recent_buyers/members", params={"limit": 2}, headers=analyst
    )
    page = first.json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = await client.get(
        "/v1/analytics/segments/recent_buyers/members",
        params={"limit": 2, "cursor": page["next_cursor"]},
        headers=analyst,
    )
    members = page["items"] + rest.json()["items"]
    buyers = {scenario.ids[n] for n in "ABD"}
    assert {uuid.UUID(m["customer_id"]) for m in members} == buyers and rest.json()["next_cursor"] is None
    assert all(set(m) == {"customer_id", "traits"} for m in members)  # no name, no contacts
    assert "@example.com" not in first.text + rest.text
    full = (await client.get("/v1/analytics/segments/recent_buyers/members", headers=manager)).json()["items"]
    assert all(m["display_name"].startswith("Person ") and "emails" in m for m in full)
    export = await client.get("/v1/analytics/segments/recent_buyers/export", headers=analyst)
    assert export.status_code == 200 and len(export.text.splitlines()) == 4 and "@" not in export.text
    assert (await client.get("/v1/analytics/segments/nope/members", headers=analyst)).status_code == 404


async def test_recommendations_with_evidence_and_refusals(api: Any) -> None:
    client, keys, scenario = api
    answer = await client.get(
        f"/v1/analytics/customers/{scenario.ids['B']}/recommendations",
        headers=bearer(keys["marketing_analyst"]),
    )
    assert answer.status_code == 200, answer.text
    (item,) = answer.json()["items"]
    assert (item["item"], item["name"], item["support"], item["lift"]) == ("SKU-2", "Item SKU-2", 1, 2.0)
    assert item["evidence"][0]["because_of"] == "SKU-1"
    unknown = await client.get(
        f"/v1/analytics/customers/{uuid.uuid4()}/recommendations", headers=bearer(keys["marketing_analyst"])
    )
    assert unknown.status_code == 404
    # the support agent sees chat customers only: D never chatted
    hidden = await client.get(
        f"/v1/analytics/customers/{scenario.ids['D']}/recommendations", headers=bearer(keys["support_agent"])
    )
    assert hidden.status_code == 404


async def test_reminders_name_their_events_and_become_one_task(api: Any, database: str) -> None:
    client, keys, scenario = api
    manager = bearer(keys["sales_manager"])
    found = (await client.get("/v1/analytics/reminders", headers=manager)).json()["items"]
    kinds = sorted(
        (r["kind"], next(k for k, v in scenario.ids.items() if str(v) == r["customer_id"])) for r in found
    )
    assert kinds == [
        ("silent_after_purchase", "A"),
        ("silent_after_purchase", "B"),
        ("silent_after_purchase", "D"),
        ("stale_deal", "B"),
    ]
    stale = next(r for r in found if r["kind"] == "stale_deal")
    assert stale["owner_id"] == "alice" and stale["triggers"][0]["event_type"] == "sales.deal.opened"
    silent_a = next(
        r
        for r in found
        if r["kind"] == "silent_after_purchase" and r["customer_id"] == str(scenario.ids["A"])
    )
    url = f"/v1/analytics/reminders/{silent_a['reminder_id']}/task"
    no_owner = await client.post(url, json={"customer_id": str(scenario.ids["A"])}, headers=manager)
    assert no_owner.status_code == 422 and no_owner.json()["error"]["code"] == "no_owner"
    body = {"customer_id": str(scenario.ids["A"]), "assignee": "bob"}
    created = await client.post(url, json=body, headers=manager)
    assert created.status_code == 201, created.text
    again = await client.post(url, json=body, headers=manager)
    assert (
        again.json()["task_id"] == created.json()["task_id"]
        and again.headers.get("Idempotent-Replayed") == "true"
    )
    with psycopg.connect(database) as conn:
        count = conn.execute("SELECT count(*) FROM events WHERE event_type = 'sales.task.created'").fetchone()
    assert count == (2,)  # the scenario's task and this one
    missing = await client.post(f"/v1/analytics/reminders/{uuid.uuid4()}/task", json=body, headers=manager)
    assert missing.status_code == 404
    analyst = await client.get("/v1/analytics/reminders", headers=bearer(keys["marketing_analyst"]))
    assert analyst.status_code == 403


async def test_bad_requests_answer_422_with_a_reason(api: Any) -> None:
    client, keys, _ = api
    analyst = bearer(keys["marketing_analyst"])
    backwards = await client.get(
        "/v1/analytics/channels", params={"from": "2026-03-10", "to": "2026-03-01"}, headers=analyst
    )
    assert backwards.status_code == 422 and backwards.json()["error"]["code"] == "invalid_period"
    cursor = await client.get(
        "/v1/analytics/segments/recent_buyers/members", params={"cursor": "nope"}, headers=analyst
    )
    assert cursor.status_code == 422 and cursor.json()["error"]["code"] == "invalid_cursor"
    fmt = await client.get("/v1/analytics/staff", params={"format": "xml"}, headers=analyst)
    assert fmt.status_code == 422
