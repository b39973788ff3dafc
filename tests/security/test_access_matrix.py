"""The authorisation matrix: every route of the read API x every role x (own row, other's row, unknown).

Expectations are written out here, from the issue, not read from the policy file: the test is the
specification the policy must meet. A route in the OpenAPI without a line in ROUTES fails the test,
so no route can be added without deciding who may call it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from hub import samples
from plumbing.eventstore.postgres import Conn
from tests.support.access import issue_key_async
from tests.support.api_app import api_client, bearer, project, seed_customer

pytestmark = pytest.mark.security

SALES = {"read_deals", "write_deals"}
MERGE = {"merge_customers"}
SEGMENTS = {"manage_segments"}
ALL = {"read_card", "read_timeline", "read_payments", "run_commands", "audit", "admin"}
ALL |= {*SALES, *MERGE, *SEGMENTS}
#: What the issue asks of each role.
PERMISSIONS: dict[str, set[str]] = {
    "support_agent": {"read_card", "read_timeline"},
    "sales_rep": {"read_card", "read_timeline", "read_payments", "run_commands", *SALES},
    "sales_manager": {"read_card", "read_timeline", "read_payments", "run_commands", *SALES, *MERGE},
    "marketing_analyst": {"read_card", "read_payments", *SEGMENTS},
    "auditor": {"audit"},
    "admin": ALL,
    "service_account": {"read_card", "read_timeline"},
}
#: Only the channel-scoped support agent is kept to the customers of its channels (here: chat).
SEES_OTHER_CUSTOMERS = {role: role != "support_agent" for role in PERMISSIONS}
PAYMENTS = {
    "purchase_totals",
    "recent_purchases",
    "refund_totals",
    "lifetime_value",
    "average_order",
    "payment_methods",
    "recent_refunds",
}
HIDDEN_CARD_FIELDS: dict[str, set[str]] = {
    "support_agent": PAYMENTS,
    "service_account": PAYMENTS,
    "marketing_analyst": {
        "display_name",
        "identities",
        "emails",
        "phones",
        "recent_interactions",
        "recent_purchases",
        "attribute_history",
        "documents",
    },
}
#: The card route adds its sales section for roles that may read deals.
SALES_SECTION = {"sales"}
CARD_FIELDS = {
    "merge_history",
    "purchase_counts",
    "first_purchase_at",
    "last_purchase_at",
    "average_order",
    "payment_methods",
    "recent_refunds",
    "profile",
    "attribute_history",
    "document_count",
    "documents",
    "customer_id",
    "merged_into",
    "merged_from",
    "display_name",
    "created_at",
    "updated_at",
    "identities",
    "channels",
    "interaction_count",
    "last_interaction_at",
    "recent_interactions",
    "purchase_count",
    "purchase_totals",
    "recent_purchases",
    "refund_count",
    "refund_totals",
    "lifetime_value",
    "last_position",
    "emails",
    "phones",
}
#: method + path -> the permission it must need. Every OpenAPI operation must be listed.
ROUTES: dict[tuple[str, str], str | None] = {
    ("GET", "/health"): None,
    ("GET", "/metrics"): None,  # Prometheus: counts and latencies per route template, no customer data
    ("GET", "/v1/customers"): "read_card",
    ("GET", "/v1/customers/{customer_id}"): "read_card",
    ("GET", "/v1/customers/{customer_id}/timeline"): "read_timeline",
    ("POST", "/v1/customers/{customer_id}/identities"): "run_commands",
    ("PUT", "/v1/customers/{customer_id}/attributes/{name}"): "run_commands",
    ("DELETE", "/v1/customers/{customer_id}/attributes/{name}"): "run_commands",
    ("GET", "/v1/customers/{customer_id}/attributes/{name}/history"): "read_card",
    ("POST", "/v1/customers/{customer_id}/documents"): "run_commands",
    ("DELETE", "/v1/customers/{customer_id}/identities/{identity_key}"): "run_commands",
    ("PUT", "/v1/customers/{customer_id}/identities/{identity_key}"): "run_commands",
    ("POST", "/v1/customers/{customer_id}/merges"): "merge_customers",
    ("POST", "/v1/customers/{customer_id}/merges/{absorbed_id}/undo"): "merge_customers",
    ("GET", "/v1/admin/roles"): "admin",
    ("POST", "/v1/customers/{customer_id}/forget"): "admin",
    ("GET", "/v1/admin/principals"): "admin",
    ("PUT", "/v1/admin/principals/{principal_id}"): "admin",
    ("GET", "/v1/admin/keys"): "admin",
    ("POST", "/v1/admin/keys"): "admin",
    ("DELETE", "/v1/admin/keys/{key_id}"): "admin",
    ("POST", "/v1/admin/keys/{key_id}/rotate"): "admin",
    ("GET", "/v1/audit/access-log"): "audit",
    ("GET", "/v1/audit/customers/{customer_id}/events"): "audit",
    ("GET", "/v1/audit/customers/{customer_id}/card"): "audit",
    ("GET", "/v1/audit/pipelines/{pipeline_id}"): "audit",
}
#: Auditors read a customer's raw events, personal data included (their reads are in the access log).
AUDIT_EVENTS = ("GET", "/v1/audit/customers/{customer_id}/events")
AUDIT_CARD = ("GET", "/v1/audit/customers/{customer_id}/card")
#: Sales routes (tests/security/test_sales_access.py checks their rows); every request here is one the
#: caller may make: a valid command, on an unknown deal for routes that name one.
DEAL_VERBS = ("stage", "amount", "owner", "expected-close", "win", "lose", "reopen")
SALES_ROUTES: dict[tuple[str, str], str] = {
    ("POST", "/v1/deals"): "write_deals",
    **{("POST", f"/v1/deals/{{deal_id}}/{verb}"): "write_deals" for verb in DEAL_VERBS},
    ("POST", "/v1/notes"): "write_deals",
    ("GET", "/v1/pipelines/{pipeline_id}"): "read_deals",
    ("GET", "/v1/deals"): "read_deals",
    ("GET", "/v1/deals/{deal_id}"): "read_deals",
    ("POST", "/v1/tasks"): "write_deals",
    **{
        ("POST", f"/v1/tasks/{{task_id}}/{verb}"): "write_deals"
        for verb in ("reassign", "complete", "cancel")
    },
    ("GET", "/v1/tasks"): "read_deals",
    ("GET", "/v1/staff/{staff_id}/tasks"): "read_deals",
    ("GET", "/v1/customers/{customer_id}/sales"): "read_deals",
}
ROUTES.update(SALES_ROUTES)
#: Analytics routes (tests/integration/test_analytics_projection.py checks their figures and masks): the
#: matrix's world has no analytics facts, so every allowed read answers 200 with nothing personal in it.
_RECOMMENDATIONS = ("GET", "/v1/analytics/customers/{customer_id}/recommendations")
_SAVE_SEGMENT = ("POST", "/v1/analytics/segments")
_DELETE_SEGMENT = ("DELETE", "/v1/analytics/segments/{segment_id}")
ANALYTICS_ROUTES: dict[tuple[str, str], str | None] = {
    ("GET", "/v1/analytics/channels"): "read_payments",
    ("GET", "/v1/analytics/staff"): "read_payments",
    ("GET", "/v1/analytics/rfm"): "read_payments",
    ("GET", "/v1/analytics/segments"): "read_payments",
    ("GET", "/v1/analytics/segments/{segment_id}/history"): "read_payments",
    ("GET", "/v1/analytics/segments/{segment_id}/members"): "read_card",
    ("GET", "/v1/analytics/segments/{segment_id}/export"): "read_card",
    _RECOMMENDATIONS: "read_card",
    ("GET", "/v1/analytics/reminders"): "read_deals",
    ("POST", "/v1/analytics/reminders/{reminder_id}/task"): "write_deals",
    ("GET", "/v1/analytics/pages/{report}"): "read_payments",
    ("GET", "/v1/analytics/static/{name}"): "read_payments",
    ("POST", "/v1/analytics/segments"): "manage_segments",
    ("DELETE", "/v1/analytics/segments/{segment_id}"): "manage_segments",
}
ROUTES.update(ANALYTICS_ROUTES)
#: Merge and identity-correction commands, called so that they never change the shared world: merging a
#: customer with itself (422), undoing a merge of the two customers that never happened (409; 404 for an
#: unknown customer), removing or correcting an identity the customer does not have (404).
_UNDO = "/v1/customers/{customer_id}/merges/{absorbed_id}/undo"
_IDENTITY = "/v1/customers/{customer_id}/identities/{identity_key}"
MERGE_EXPECTED: dict[tuple[str, str], dict[str, int]] = {
    ("POST", "/v1/customers/{customer_id}/merges"): {"own": 422, "other": 422, "unknown": 422},
    ("POST", _UNDO): {"own": 409, "other": 409, "unknown": 404},
    ("DELETE", _IDENTITY): {"own": 404, "other": 404, "unknown": 404},
    ("PUT", _IDENTITY): {"own": 404, "other": 404, "unknown": 404},
}
ROWS = ("own", "other", "unknown")
_HISTORY = ("GET", "/v1/customers/{customer_id}/attributes/{name}/history")
#: Roles whose field masks hide every attribute's history: refused whatever the customer.
HISTORY_HIDDEN = {"marketing_analyst"}
#: Roles that mask contacts may not look customers up by one: refused whatever the address.
LOOKUP_REFUSED = {"marketing_analyst"}
CUSTOMER_ROUTES = {
    _RECOMMENDATIONS,
    _HISTORY,
    ("GET", "/v1/customers"),
    ("GET", "/v1/customers/{customer_id}"),
    ("GET", "/v1/customers/{customer_id}/timeline"),
}


@dataclass(frozen=True)
class Customer:
    customer_id: str
    person: samples.SamplePerson
    tag: str  # in every message text of this customer
    bought: bool


@dataclass
class World:
    dsn: str
    own: Customer  # interacted on chat (the support agent's channel) and bought at the till
    other: Customer  # only ever emailed
    unknown_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    unknown_email: str = field(default_factory=lambda: f"nobody-{uuid.uuid4().hex[:8]}@example.com")
    keys: dict[str, str] = field(default_factory=dict)

    def principal(self, role: str) -> str:
        return f"matrix-{role.replace('_', '-')}"

    async def throwaway_key(self, principal_id: str, roles: list[str]) -> str:
        issued = await issue_key_async(self.dsn, principal_id, roles, channels=["chat"], team="north")
        return issued.key_id


def _two_people() -> tuple[str, samples.SamplePerson, samples.SamplePerson]:
    """A tag and two sample people with different names: the leak check tells them apart by name."""
    while True:
        tag = uuid.uuid4().hex[:10]
        own, other = samples.sample_person(f"own-{tag}"), samples.sample_person(f"other-{tag}")
        if own.name != other.name:
            return tag, own, other


@pytest.fixture(scope="module")
async def world(module_database: str) -> AsyncIterator[World]:
    async with AsyncConnectionPool[Conn](module_database, min_size=1, max_size=4) as pool:
        tag, own_person, other_person = _two_people()
        own = await seed_customer(pool, own_person, ["chat", "pos"], f"own-{tag}")
        other = await seed_customer(pool, other_person, ["email"], f"other-{tag}")
        await project(pool)
    built = World(
        module_database,
        Customer(str(own), own_person, f"own-{tag}", bought=True),
        Customer(str(other), other_person, f"other-{tag}", bought=False),
    )
    for role in PERMISSIONS:
        issued = await issue_key_async(
            module_database, built.principal(role), [role], channels=["chat"], team="north"
        )
        built.keys[role] = issued.key
    yield built


@pytest.fixture(scope="module")
async def client(world: World, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(world.dsn, blob_dir=tmp_path_factory.mktemp("blobs")) as opened:
        yield opened


@dataclass(frozen=True)
class Call:
    method: str
    url: str
    params: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    asked_id: str | None = None  # the customer id the caller put in the request


def _customer(world: World, row: str) -> tuple[str, str]:
    if row == "own":
        return world.own.customer_id, world.own.person.email
    if row == "other":
        return world.other.customer_id, world.other.person.email
    return world.unknown_id, world.unknown_email


async def _call(world: World, role: str, route: tuple[str, str], row: str) -> Call:
    """The request for ``route`` on ``row`` (for admin routes, rows are keys and principals)."""
    method, path = route
    customer_id, email = _customer(world, row)
    if route in SALES_ROUTES:
        return _sales_call(route, customer_id)
    if route in ANALYTICS_ROUTES:
        return _analytics_call(route, customer_id)
    me, bystander = world.principal(role), "matrix-bystander"
    target = {"own": me, "other": bystander, "unknown": f"matrix-new-{uuid.uuid4().hex[:8]}"}[row]
    if path == "/v1/customers":
        return Call(method, path, {"email": email}, asked_id=customer_id if row != "unknown" else None)
    if route in MERGE_EXPECTED:
        return _merge_call(world, route, row, customer_id)
    if route == _FORGET:  # free text is no reason code: refused before anything is forgotten
        return Call(method, path.replace("{customer_id}", customer_id), body={"reason": "not a code"})
    if path == "/v1/customers/{customer_id}/documents":  # a JSON body is a document like any other
        url = path.replace("{customer_id}", customer_id)
        return Call(method, url, body={"note": "matrix"}, asked_id=customer_id)
    if "{name}" in path:  # a non-personal attribute: its history names no one
        body = {"value": ["tea"]} if method == "PUT" else None
        url = path.replace("{customer_id}", customer_id).replace("{name}", "preferences")
        return Call(method, url, body=body, asked_id=customer_id)
    if path == "/v1/customers/{customer_id}/identities":  # a new handle each time: always a new link
        handle = {"kind": "handle", "value": uuid.uuid4().hex, "provider": "instagram"}
        return Call(method, path.replace("{customer_id}", customer_id), body=handle, asked_id=customer_id)
    if path.startswith("/v1/customers/{customer_id}"):
        return Call(method, path.replace("{customer_id}", customer_id), asked_id=customer_id)
    if path == "/v1/audit/access-log":
        return Call(method, path, {"customer_id": customer_id})
    if route == AUDIT_EVENTS:
        return Call(method, path.replace("{customer_id}", customer_id), asked_id=customer_id)
    if route == AUDIT_CARD:
        url = path.replace("{customer_id}", customer_id)
        return Call(method, url, {"as_of": str(2**62)}, asked_id=customer_id)
    if path == "/v1/audit/pipelines/{pipeline_id}":
        return Call(method, path.replace("{pipeline_id}", "retail"), {"as_of": "1"})
    if path == "/v1/admin/principals/{principal_id}":
        roles = [role] if row == "own" else ["auditor"]
        body = {"roles": roles, "channels": ["chat"], "team": "north"}
        return Call(method, path.replace("{principal_id}", target), body=body)
    if path == "/v1/admin/keys" and method == "GET":
        return Call(method, path, {"principal_id": target})
    if path == "/v1/admin/keys" and method == "POST":
        return Call(method, path, body={"principal_id": target, "expires_in": "1h"})
    if path.startswith("/v1/admin/keys/{key_id}"):
        if row == "unknown":
            key_id = uuid.uuid4().hex[:16]
        else:
            key_id = await world.throwaway_key(target, [role] if row == "own" else ["auditor"])
        body = {"overlap": "1h"} if method == "POST" else None
        return Call(method, path.replace("{key_id}", key_id), body=body)
    return Call(method, path)


def _merge_call(world: World, route: tuple[str, str], row: str, customer_id: str) -> Call:
    method, path = route
    partner = {"own": world.other.customer_id, "other": world.own.customer_id}.get(row, world.own.customer_id)
    handle = {"kind": "handle", "value": uuid.uuid4().hex, "provider": "instagram"}
    url = (
        path.replace("{customer_id}", customer_id)
        .replace("{absorbed_id}", partner)
        .replace("{identity_key}", f"handle:instagram:{uuid.uuid4().hex}")
    )
    bodies: dict[str, dict[str, Any] | None] = {
        "POST merges": {"absorbed_id": customer_id},
        "POST undo": {"reason": "matrix"},
        "DELETE": None,
        "PUT": handle,
    }
    body = bodies[method] if method in bodies else bodies[f"{method} {path.rsplit('/', 1)[1]}"]
    return Call(method, url, body=body, asked_id=customer_id)


def _analytics_call(route: tuple[str, str], customer_id: str) -> Call:
    method, path = route
    url = path.replace("{segment_id}", "recent_buyers").replace("{report}", "funnel")
    url = url.replace("{name}", "report.js").replace("{reminder_id}", str(uuid.uuid4()))
    if route == _RECOMMENDATIONS:
        return Call(method, url.replace("{customer_id}", customer_id), asked_id=customer_id)
    if route == _SAVE_SEGMENT:  # a new id each call: always created, nothing shared is replaced
        segment = {"id": f"matrix_{uuid.uuid4().hex[:8]}", "name": "Matrix", "filter": "purchase_count > 1"}
        return Call(method, url, body=segment)
    body = {"customer_id": customer_id, "assignee": "alice"} if method == "POST" else None
    return Call(method, url, body=body)


def _sales_call(route: tuple[str, str], customer_id: str) -> Call:
    method, path = route
    bodies: dict[str, dict[str, Any]] = {
        "/v1/deals": {"customer_id": customer_id, "title": "Sofa", "amount": "10", "currency": "EUR"}
        | {"pipeline_id": "retail", "owner_id": "alice"},
        "/v1/notes": {"customer_id": customer_id, "text": "Called back"},
        "stage": {"stage_id": "offer"},
        "amount": {"amount": "5", "currency": "EUR"},
        "owner": {"owner_id": "alice"},
        "expected-close": {"expected_close": None},
        "win": {},
        "lose": {"reason": "price"},
        "reopen": {},
        "/v1/tasks": {"customer_id": customer_id, "kind": "call_back", "title": "Call", "assignee": "alice"}
        | {"due_at": "2030-01-01T09:00:00Z"},
        "reassign": {"assignee": "alice"},
        "complete": {},
        "cancel": {},
    }
    ids = {"{deal_id}": str(uuid.uuid4()), "{task_id}": str(uuid.uuid4()), "{pipeline_id}": "retail"}
    url = path
    for placeholder, value in ids.items():
        url = url.replace(placeholder, value)
    url = url.replace("{staff_id}", "alice").replace("{customer_id}", customer_id)
    if method == "GET":
        return Call(method, url)
    if url != path:
        return Call(method, url, body={"expected_version": 0, **bodies[path.rsplit("/", 1)[1]]})
    return Call(method, path, body=bodies[path])


def _expected_sales_status(route: tuple[str, str], row: str) -> int:
    if "{deal_id}" in route[1] or "{task_id}" in route[1]:
        return 404  # no such deal or task, but the caller got past the guard
    if "{customer_id}" in route[1]:
        return 404 if row == "unknown" else 200
    if route[0] == "GET":
        return 200
    return 422 if row == "unknown" else 201  # no such customer


_FORGET = ("POST", "/v1/customers/{customer_id}/forget")


def _expected_status(world: World, role: str, route: tuple[str, str], row: str) -> int:
    permission = ROUTES[route]
    if permission is not None and permission not in PERMISSIONS[role]:
        return 403
    if route in SALES_ROUTES:
        return _expected_sales_status(route, row)
    if route == _RECOMMENDATIONS:
        return 200 if row == "own" or (row == "other" and SEES_OTHER_CUSTOMERS[role]) else 404
    if route == ("POST", "/v1/analytics/reminders/{reminder_id}/task"):
        return 404  # no such reminder is due, but the caller got past the guard
    if route == _SAVE_SEGMENT:
        return 201
    if route == _DELETE_SEGMENT:
        return 409  # recent_buyers is defined in deploy/analytics.toml: past the guard, nothing deleted
    if route == _FORGET:
        return 422  # a reason the route refuses (the shared world must not be forgotten): past the guard
    if route in MERGE_EXPECTED:
        return MERGE_EXPECTED[route][row]
    if route == _HISTORY and role in HISTORY_HIDDEN:
        return 403
    if route == ("GET", "/v1/customers") and role in LOOKUP_REFUSED:
        return 403
    path = route[1]
    if route in (AUDIT_EVENTS, AUDIT_CARD):
        return 404 if row == "unknown" else 200
    if path.startswith("/v1/customers/{customer_id}"):
        visible = row == "own" or (row == "other" and SEES_OTHER_CUSTOMERS[role])
        created = 201 if route[0] == "POST" else 200
        return created if visible else 404
    if route == ("POST", "/v1/admin/keys"):
        return 404 if row == "unknown" else 201
    if route == ("DELETE", "/v1/admin/keys/{key_id}"):
        return 404 if row == "unknown" else 204
    if route == ("POST", "/v1/admin/keys/{key_id}/rotate"):
        return 404 if row == "unknown" else 201
    return 200


def _expected_lookup_items(role: str, row: str) -> int:
    return 1 if row == "own" or (row == "other" and SEES_OTHER_CUSTOMERS[role]) else 0


def _secrets_of(customer: Customer) -> dict[str, set[str]]:
    """Strings that must not appear in a response unless the named card field is visible."""
    person = customer.person
    return {
        "display_name": {person.name},
        "emails": {person.email},
        "phones": {person.phone},
        "identities": {person.email, person.phone, person.visitor_id},
        "recent_interactions": {customer.tag},
        "purchase_totals": {"169.8"} if customer.bought else set(),
        "recent_purchases": {"169.8"} if customer.bought else set(),
        "lifetime_value": {"169.8"} if customer.bought else set(),
    }


def _allowed(
    role: str, route: tuple[str, str], call: Call, answer: httpx.Response, customer: Customer
) -> set[str]:
    """The personal strings of ``customer`` this answer may carry: those of fields served to ``role``."""
    served = customer.customer_id in answer.text or call.asked_id == customer.customer_id
    if answer.status_code != 200 or not served:
        return set()
    secrets = _secrets_of(customer)
    if route in {("GET", "/v1/customers"), ("GET", "/v1/customers/{customer_id}")}:
        visible = CARD_FIELDS - HIDDEN_CARD_FIELDS.get(role, set())
        return set().union(*(values for name, values in secrets.items() if name in visible))
    if route == ("GET", "/v1/customers/{customer_id}/timeline"):
        return secrets["recent_interactions"]
    if route in (AUDIT_EVENTS, AUDIT_CARD):
        return set().union(*secrets.values())
    return set()


def _leaks(world: World, role: str, route: tuple[str, str], call: Call, answer: httpx.Response) -> list[str]:
    """Personal data or customer ids in ``answer`` that this role must not get."""
    found = []
    for customer in (world.own, world.other):
        allowed = _allowed(role, route, call, answer, customer)
        personal = set().union(*_secrets_of(customer).values())
        found += [repr(value) for value in sorted(personal - allowed) if value in answer.text]
        served = answer.status_code == 200
        if route in CUSTOMER_ROUTES and not served and customer.customer_id in answer.text:
            if call.asked_id != customer.customer_id:
                found.append(f"customer id {customer.customer_id}")
    return found


def _cards_in(route: tuple[str, str], answer: httpx.Response) -> list[dict[str, Any]]:
    if answer.status_code != 200:
        return []
    if route == ("GET", "/v1/customers/{customer_id}"):
        return [answer.json()]
    if route == ("GET", "/v1/customers"):
        items: list[dict[str, Any]] = answer.json()["items"]
        return items
    return []


def _normalised(answer: httpx.Response, asked_id: str | None) -> tuple[int, str, dict[str, str]]:
    """Status, body and headers with the id the caller asked for blanked out: what may differ."""
    body = answer.text.replace(asked_id, "<id>") if asked_id else answer.text
    headers = {k: v for k, v in answer.headers.items() if k not in {"date", "content-length"}}
    return answer.status_code, body, headers


async def test_every_openapi_operation_is_in_the_matrix_with_the_permission_it_declares(
    client: httpx.AsyncClient, world: World
) -> None:
    spec = (await client.get("/openapi.json", headers=bearer(world.keys["auditor"]))).json()
    declared = {
        (method.upper(), path): operation.get("x-hub-access", {}).get("permission")
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
    }
    assert declared == ROUTES


@pytest.mark.parametrize("role", sorted(PERMISSIONS))
async def test_each_role_gets_exactly_its_routes_rows_and_fields(
    role: str, world: World, client: httpx.AsyncClient
) -> None:
    problems: list[str] = []
    answers: dict[tuple[tuple[str, str], str], tuple[Call, httpx.Response]] = {}
    for route in ROUTES:
        for row in ROWS:
            call = await _call(world, role, route, row)
            answer = await client.request(
                call.method, call.url, params=call.params, json=call.body, headers=bearer(world.keys[role])
            )
            answers[route, row] = (call, answer)
            where = f"{role} {route[0]} {route[1]} [{row}]"
            expected = _expected_status(world, role, route, row)
            if answer.status_code != expected:
                problems.append(f"{where}: {answer.status_code}, expected {expected}: {answer.text[:200]}")
            if route == ("GET", "/v1/customers") and answer.status_code == 200:
                if len(answer.json()["items"]) != _expected_lookup_items(role, row):
                    problems.append(f"{where}: {len(answer.json()['items'])} items")
            for card in _cards_in(route, answer):
                hidden = HIDDEN_CARD_FIELDS.get(role, set())
                sales = "read_deals" in PERMISSIONS[role] and route == ("GET", "/v1/customers/{customer_id}")
                expected_fields = (CARD_FIELDS - hidden) | (SALES_SECTION if sales else set())
                if set(card) != expected_fields:
                    shown, missing = set(card) - expected_fields, expected_fields - set(card)
                    problems.append(
                        f"{where}: masked fields present {shown}, visible fields absent {missing}"
                    )
            problems += [f"{where}: leaks {leak}" for leak in _leaks(world, role, route, call, answer)]
    for route in ROUTES:  # refusals never depend on the row: hidden and unknown look the same
        if route in CUSTOMER_ROUTES and _expected_status(world, role, route, "other") != 200:
            (other_call, other), (unknown_call, unknown) = answers[route, "other"], answers[route, "unknown"]
            if route == ("GET", "/v1/customers"):
                other_call = unknown_call = Call("GET", "", asked_id=None)
            if _normalised(other, other_call.asked_id) != _normalised(unknown, unknown_call.asked_id):
                problems.append(f"{role} {route}: a hidden customer answers unlike an unknown one")
        if ROUTES[route] is not None and ROUTES[route] not in PERMISSIONS[role]:
            if len({answers[route, row][1].text for row in ROWS}) != 1:
                problems.append(f"{role} {route}: 403 answers differ by row")
    assert problems == [], "\n".join(problems)
    assert _access_log_outcomes(world, role) == EXPECTED_LOG[role]


#: Every card, lookup, timeline and sales-section request of a role leaves exactly one access-log row.
EXPECTED_LOG: dict[str, dict[str, int]] = {
    "support_agent": {"ok": 4, "hidden": 4, "not_found": 4, "forbidden": 3},
    "marketing_analyst": {"ok": 2, "not_found": 1, "forbidden": 12},  # lookups by email: forbidden
    "auditor": {"forbidden": 15},
    **{role: {"ok": 10, "not_found": 5} for role in ("sales_rep", "sales_manager", "admin")},
    "service_account": {"ok": 8, "not_found": 4, "forbidden": 3},
}


def _access_log_outcomes(world: World, role: str) -> dict[str, int]:
    with psycopg.connect(world.dsn) as conn:
        rows = conn.execute(
            "SELECT outcome, count(*) FROM access_log"
            " WHERE principal_id = %s AND route LIKE %s GROUP BY outcome",
            (world.principal(role), "GET /v1/customers%"),
        ).fetchall()
    return {outcome: count for outcome, count in rows}
