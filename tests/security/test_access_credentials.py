"""Credentials against the real API and database: keys (expiry, revocation, rotation, tampering,
scopes), identity-provider JWTs, and rate limits."""

from __future__ import annotations

import http.server
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from plumbing.access.policy import Permission, load_policy
from plumbing.access.principal import PrincipalKind
from tests.support.access import KeyIssuer
from tests.support.api_app import MovableClock, Seeded, api_client, bearer
from tests.support.tokens import AUDIENCE, ISSUER, TestIdentityProvider

pytestmark = pytest.mark.security


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def idp() -> TestIdentityProvider:
    return TestIdentityProvider()


@pytest.fixture
async def client(
    database: str, seeded: Seeded, clock: MovableClock, idp: TestIdentityProvider, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(database, clock=clock, **idp.settings(idp.write_jwks(tmp_path))) as opened:
        yield opened


def _card(client: httpx.AsyncClient, customer: uuid.UUID, key: str) -> object:
    return client.get(f"/v1/customers/{customer}", headers=bearer(key))


async def test_without_credentials_or_with_other_schemes_the_answer_is_401_with_a_challenge(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    url = f"/v1/customers/{seeded.chatter}"
    answers = [
        await client.get(url),
        await client.get(url, headers={"Authorization": "Basic YWRtaW46YWRtaW4="}),
        await client.get(url, headers={"Authorization": "Bearer"}),
        await client.get(url, headers={"Authorization": "Bearer not-a-key-nor-a-jwt"}),
    ]

    assert [a.status_code for a in answers] == [401, 401, 401, 401]
    assert all(a.json()["error"]["code"] == "unauthenticated" for a in answers)
    assert answers[0].headers["www-authenticate"] == 'Bearer realm="interaction-hub"'
    assert answers[3].headers["www-authenticate"] == 'Bearer realm="interaction-hub", error="invalid_token"'
    assert seeded.chatter_person.email not in "".join(a.text for a in answers)


async def test_expired_revoked_tampered_and_unknown_keys_are_rejected_alike(
    client: httpx.AsyncClient, api_keys: KeyIssuer, seeded: Seeded, clock: MovableClock
) -> None:
    admin = api_keys.issue(["admin"], "root", lifetime=timedelta(days=30))
    short = api_keys.issue(["sales_manager"], "shorty", lifetime=timedelta(hours=1))
    revoked = api_keys.issue(["sales_manager"], "gone")
    revoked_id = revoked.split("_")[1]
    _, key_id, secret = short.split("_", 2)
    tampered = f"hub_{key_id}_{secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}"
    unknown = f"hub_{uuid.uuid4().hex[:16]}_{secret}"

    assert (await _card(client, seeded.chatter, short)).status_code == 200
    assert (await _card(client, seeded.chatter, revoked)).status_code == 200
    assert (await client.delete(f"/v1/admin/keys/{revoked_id}", headers=bearer(admin))).status_code == 204
    clock.advance(timedelta(hours=1, seconds=1))
    answers = [await _card(client, seeded.chatter, key) for key in (short, revoked, tampered, unknown)]

    assert [a.status_code for a in answers] == [401, 401, 401, 401]
    assert len({(a.text, a.headers["www-authenticate"]) for a in answers}) == 1
    assert (await _card(client, seeded.chatter, admin)).status_code == 200


async def test_a_rotated_key_keeps_working_for_the_overlap_and_then_stops(
    client: httpx.AsyncClient, api_keys: KeyIssuer, seeded: Seeded, clock: MovableClock
) -> None:
    admin = api_keys.issue(["admin"], "root", lifetime=timedelta(days=30))
    old = api_keys.issue(
        ["service_account"], "svc-billing", kind=PrincipalKind.SERVICE, lifetime=timedelta(days=30)
    )
    old_id = old.split("_")[1]

    rotated = await client.post(
        f"/v1/admin/keys/{old_id}/rotate", json={"overlap": "1h"}, headers=bearer(admin)
    )
    assert rotated.status_code == 201, rotated.text
    new = rotated.json()
    assert new["principal_id"] == "svc-billing" and new["rotated_from"] == old_id
    assert (await _card(client, seeded.chatter, old)).status_code == 200
    assert (await _card(client, seeded.chatter, new["key"])).status_code == 200

    clock.advance(timedelta(minutes=59))
    assert (await _card(client, seeded.chatter, old)).status_code == 200

    clock.advance(timedelta(minutes=2))
    assert (await _card(client, seeded.chatter, old)).status_code == 401
    assert (await _card(client, seeded.chatter, new["key"])).status_code == 200
    assert (await client.post(f"/v1/admin/keys/{old_id}/rotate", headers=bearer(admin))).status_code == 404


async def test_a_key_scoped_to_reading_cards_gets_no_timeline_and_no_payments(
    client: httpx.AsyncClient, api_keys: KeyIssuer, seeded: Seeded
) -> None:
    narrow = api_keys.issue(["sales_manager"], "scripted", scopes=frozenset({Permission.READ_CARD}))

    card = await _card(client, seeded.chatter, narrow)
    timeline = await client.get(f"/v1/customers/{seeded.chatter}/timeline", headers=bearer(narrow))

    assert card.status_code == 200
    assert "purchase_totals" not in card.json() and "recent_purchases" not in card.json()
    assert card.json()["purchase_count"] == 1
    assert timeline.status_code == 403 and timeline.json()["error"]["code"] == "forbidden"


async def test_a_token_of_the_identity_provider_reads_with_the_roles_and_channels_of_its_claims(
    client: httpx.AsyncClient, idp: TestIdentityProvider, seeded: Seeded
) -> None:
    agent = idp.token(idp.claims("agent-7", roles=["support_agent"], channels=["chat"]))
    analyst = idp.token(idp.claims("analyst-2", roles=["marketing_analyst"]), alg="ES256")

    own = await _card(client, seeded.chatter, agent)
    other = await _card(client, seeded.emailer, agent)
    masked = await _card(client, seeded.chatter, analyst)

    assert own.status_code == 200 and "purchase_totals" not in own.json()
    assert other.status_code == 404
    assert masked.status_code == 200 and "emails" not in masked.json() and "display_name" not in masked.json()


async def test_expired_wrong_audience_wrong_issuer_tampered_and_foreign_tokens_get_401(
    client: httpx.AsyncClient, idp: TestIdentityProvider, seeded: Seeded
) -> None:
    good = idp.token(idp.claims(roles=["admin"]))
    head, payload, signature = good.split(".")
    tokens = {
        "expired": idp.token(idp.claims(roles=["admin"], exp=1_700_000_000, nbf=None, iat=1_699_999_000)),
        "wrong audience": idp.token(idp.claims(roles=["admin"], aud="another-api")),
        "wrong issuer": idp.token(idp.claims(roles=["admin"], iss="https://evil.example.com/")),
        "tampered": f"{head}.{payload}.{signature[::-1]}",
        "foreign": TestIdentityProvider().token(idp.claims(roles=["admin"])),
    }

    answers = {why: await _card(client, seeded.chatter, token) for why, token in tokens.items()}

    assert {why: a.status_code for why, a in answers.items()} == dict.fromkeys(tokens, 401)
    assert (await _card(client, seeded.chatter, good)).status_code == 200


async def test_a_token_with_no_role_we_know_is_authenticated_but_forbidden(
    client: httpx.AsyncClient, idp: TestIdentityProvider, seeded: Seeded
) -> None:
    nobody = idp.token(idp.claims("intern", roles=["root", "wheel"]))

    answer = await _card(client, seeded.chatter, nobody)

    assert answer.status_code == 403


async def test_over_its_rate_limit_a_principal_gets_429_with_retry_after_and_others_do_not(
    database: str, api_keys: KeyIssuer, seeded: Seeded, tmp_path: Path
) -> None:
    policy_file = tmp_path / "policy.toml"
    shipped = load_policy().model_dump(mode="json")
    shipped["roles"]["support_agent"]["rate_limit"] = "3/minute"
    policy_file.write_text(_toml(shipped))
    busy = api_keys.issue(["support_agent"], "busy", channels=["chat"])
    calm = api_keys.issue(["support_agent"], "calm", channels=["chat"])

    async with api_client(database, access_policy_file=policy_file) as client:
        answers = [await _card(client, seeded.chatter, busy) for _ in range(4)]
        other = await _card(client, seeded.chatter, calm)

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[3].json()["error"]["code"] == "rate_limited"
    assert 1 <= int(answers[3].headers["retry-after"]) <= 60
    assert other.status_code == 200


def _toml(document: dict[str, object]) -> str:
    """Just enough TOML for a policy document (tables of scalars, lists and inline tables)."""

    def value(item: object) -> str:
        if isinstance(item, str):
            return '"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(item, list):
            return "[" + ", ".join(value(v) for v in item) + "]"
        if isinstance(item, dict):
            return "{" + ", ".join(f"{k} = {value(v)}" for k, v in item.items()) + "}"
        return str(item).lower() if isinstance(item, bool) else str(item)

    lines = [f"{k} = {value(v)}" for k, v in document.items() if not isinstance(v, dict)]
    for section in ("views", "roles"):
        for name, table in document[section].items():  # type: ignore[attr-defined]
            lines.append(f"[{section}.{name}]")
            lines += [f"{k} = {value(v)}" for k, v in table.items() if v is not None]
    return "\n".join(lines) + "\n"


class _JwksHandler(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def jwks_server(idp: TestIdentityProvider, tmp_path: Path) -> Iterator[str]:
    handler = type("Handler", (_JwksHandler,), {"body": idp.write_jwks(tmp_path).read_bytes()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    server.shutdown()
    server.server_close()


async def test_the_jwks_can_be_fetched_from_the_identity_provider_and_its_outage_is_a_503(
    database: str, seeded: Seeded, idp: TestIdentityProvider, jwks_server: str
) -> None:
    settings = {"jwt_issuer": ISSUER, "jwt_audience": AUDIENCE}
    async with api_client(database, jwt_jwks_url=jwks_server, **settings) as client:
        fetched = await _card(client, seeded.chatter, idp.token(idp.claims(roles=["admin"])))
    async with api_client(database, jwt_jwks_url="http://127.0.0.1:9/jwks.json", **settings) as client:
        down = await _card(client, seeded.chatter, idp.token(idp.claims(roles=["admin"])))

    assert fetched.status_code == 200
    assert down.status_code == 503 and down.headers["retry-after"]
