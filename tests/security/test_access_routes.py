"""No route without a policy: walk the OpenAPI document and the app's routes.

The matrix test (test_access_matrix.py) pins which permission each route needs; this one proves
that the guard is what enforces it, for every route there is and every route added later.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from starlette.routing import BaseRoute

from plumbing.access.fastapi import GuardedRoute, MissingAccessRule, guarded_router
from plumbing.access.policy import Permission
from services.api.app import build_app
from services.api.settings import ApiSettings
from services.ingress.app import build_app as build_ingress
from services.ingress.settings import IngressSettings
from tests.support.api_app import api_client

pytestmark = pytest.mark.security

#: /metrics: Prometheus scrapes without credentials; counts per route template, no customer data.
PUBLIC_OPERATIONS = {("GET", "/health"), ("GET", "/metrics")}
#: Guarded, but left out of the document it serves.
UNDOCUMENTED = {("GET", "/openapi.json")}


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            yield method.upper(), path, operation


def _routes(routes: list[BaseRoute]) -> Iterator[BaseRoute]:
    """Every route, including those of included routers (FastAPI keeps those nested)."""
    for route in routes:
        nested = getattr(route, "original_router", None)
        if nested is not None:
            yield from _routes(nested.routes)
        else:
            yield route


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    app = build_app(ApiSettings(pg_dsn="postgresql://unused@127.0.0.1:1/unused"))  # type: ignore[arg-type]
    document: dict[str, Any] = app.openapi()
    return document


@pytest.fixture(scope="module")
async def anonymous(module_database: str) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(module_database) as client:
        yield client


def test_every_operation_declares_an_enforced_policy_and_needs_a_bearer(spec: dict[str, Any]) -> None:
    problems = []
    for method, path, operation in _operations(spec):
        rule = operation.get("x-hub-access")
        if not rule or rule.get("enforced") is not True:
            problems.append(f"{method} {path}: no policy")
        elif (method, path) in PUBLIC_OPERATIONS:
            if "permission" in rule or "security" in operation:
                problems.append(f"{method} {path}: should be public")
        elif not rule.get("permission") or operation.get("security") != [{"HTTPBearer": []}]:
            problems.append(f"{method} {path}: no permission or no bearer security")
        elif not {"401", "403", "429"} <= set(operation["responses"]):
            problems.append(f"{method} {path}: 401/403/429 not documented")

    assert problems == []
    assert {
        (m, p) for m, p, o in _operations(spec) if "permission" not in o["x-hub-access"]
    } == PUBLIC_OPERATIONS


def test_every_route_of_the_app_is_guarded_and_the_api_description_too(spec: dict[str, Any]) -> None:
    app = build_app(ApiSettings(pg_dsn="postgresql://unused@127.0.0.1:1/unused"))  # type: ignore[arg-type]
    routes = list(_routes(app.routes))

    unguarded = [route for route in routes if not isinstance(route, GuardedRoute)]
    assert unguarded == []
    # the OpenAPI document names a path parameter without its converter ({key:path} is {key} there)
    guarded = {
        (m, re.sub(r"\{(\w+):\w+\}", r"{\1}", r.path))
        for r in routes
        if isinstance(r, GuardedRoute)
        for m in r.methods
    }
    assert guarded == {(m, p) for m, p, _ in _operations(spec)} | UNDOCUMENTED
    (description,) = [r for r in routes if isinstance(r, GuardedRoute) and r.path == "/openapi.json"]
    assert description.access_rule.permission is Permission.READ_API_DOCS


async def test_every_guarded_operation_refuses_an_anonymous_caller_before_reading_its_body(
    spec: dict[str, Any], anonymous: httpx.AsyncClient
) -> None:
    answers = {}
    for method, path, operation in _operations(spec):
        if (method, path) in PUBLIC_OPERATIONS:
            continue
        url = re.sub(r"\{[^}]+\}", "0123456789abcdef", path)
        garbage = b"{not json" if "requestBody" in operation else None
        answer = await anonymous.request(method, url, content=garbage)
        answers[method, path] = (answer.status_code, answer.json()["error"]["code"])

    assert set(answers.values()) == {(401, "unauthenticated")}, answers
    assert (await anonymous.get("/health")).status_code == 200


def test_a_route_without_an_access_rule_cannot_even_be_declared() -> None:
    router = guarded_router()

    with pytest.raises(MissingAccessRule):

        @router.get("/v1/forgotten")
        async def forgotten() -> dict[str, str]:
            return {}


def test_the_ingress_exposes_only_health_metrics_and_signature_checked_webhooks() -> None:
    app = build_ingress(IngressSettings())
    paths = set(app.openapi()["paths"])
    served = {getattr(route, "path", None) for route in app.routes}

    assert paths and all(p == "/health" or p.startswith("/webhooks/") for p in paths), paths
    # /metrics: counts by provider and error code only, no customer data (the ingress has none).
    assert served == paths | {"/metrics"}, "the ingress serves routes outside its webhooks (documentation?)"
