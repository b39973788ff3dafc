"""Bearer JWTs of the identity provider, checked against its JWKS with keys made in the test."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import jwt
import pytest
from pydantic import ValidationError

from plumbing.access.jwt import JwtVerifier, TokenRejected
from plumbing.access.principal import PrincipalKind
from plumbing.access.settings import AccessSettings
from tests.support.tokens import AUDIENCE, ISSUER, TestIdentityProvider

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def idp() -> TestIdentityProvider:
    return TestIdentityProvider()


@pytest.fixture
def verifier(idp: TestIdentityProvider, tmp_path: Path) -> JwtVerifier:
    return JwtVerifier(AccessSettings(**idp.settings(idp.write_jwks(tmp_path))))


def _tamper_payload(token: str, **changes: object) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = base64.urlsafe_b64encode(json.dumps({**claims, **changes}).encode()).decode().rstrip("=")
    return f"{header}.{forged}.{signature}"


async def test_a_valid_token_becomes_a_principal_with_the_roles_team_and_channels_of_its_claims(
    idp: TestIdentityProvider, verifier: JwtVerifier
) -> None:
    principal = await verifier.verify(idp.token(idp.claims("alice", roles=["support_agent", "auditor"])))

    assert principal.id == principal.token_subject == "alice"
    assert principal.roles == ("support_agent", "auditor")
    assert principal.team == "north" and principal.channels == ("chat",)
    assert principal.kind is PrincipalKind.STAFF and principal.key_id is None


async def test_ec_keys_work_and_service_accounts_are_services(
    idp: TestIdentityProvider, verifier: JwtVerifier
) -> None:
    token = idp.token(idp.claims("svc-billing", roles="service_account"), alg="ES256")

    principal = await verifier.verify(token)

    assert principal.roles == ("service_account",) and principal.kind is PrincipalKind.SERVICE


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"exp": -120}, "expired"),  # exp and nbf: seconds from when the test runs, not when it is collected
        ({"nbf": 600}, "not yet valid"),
        ({"aud": "some-other-api"}, "wrong audience"),
        ({"iss": "https://evil.example.com/"}, "wrong issuer"),
        ({"sub": None}, "no subject"),
        ({"exp": None}, "no expiry"),
        ({"aud": None}, "no audience"),
    ],
)
async def test_tokens_with_bad_claims_are_rejected(
    idp: TestIdentityProvider, verifier: JwtVerifier, claims: dict[str, object], why: str
) -> None:
    now = int(time.time())
    timed = {k: now + v for k, v in claims.items() if k in ("exp", "nbf") and isinstance(v, int)}
    with pytest.raises(TokenRejected):
        await verifier.verify(idp.token(idp.claims(**{**claims, **timed})))


async def test_a_tampered_token_is_rejected(idp: TestIdentityProvider, verifier: JwtVerifier) -> None:
    token = idp.token()
    head, payload, signature = token.split(".")

    with pytest.raises(TokenRejected):
        await verifier.verify(_tamper_payload(token, roles=["admin"]))
    with pytest.raises(TokenRejected):
        await verifier.verify(f"{head}.{payload}.{signature[:-4]}AAAA")


async def test_a_token_signed_by_a_key_the_provider_did_not_publish_is_rejected(
    verifier: JwtVerifier,
) -> None:
    stranger = TestIdentityProvider()  # same kid "rsa-1", different key

    with pytest.raises(TokenRejected):
        await verifier.verify(stranger.token())
    with pytest.raises(TokenRejected, match="no key"):
        await verifier.verify(stranger.token(kid="rsa-9"))


async def test_unsigned_and_symmetric_algorithm_confusion_tokens_are_rejected(
    idp: TestIdentityProvider, verifier: JwtVerifier, tmp_path: Path
) -> None:
    unsigned = jwt.encode(idp.claims(), key=None, algorithm="none", headers={"kid": "rsa-1"})
    public_pem = idp.rsa_key.public_key().public_bytes(
        encoding=__import__(
            "cryptography.hazmat.primitives.serialization", fromlist=["Encoding"]
        ).Encoding.PEM,
        format=__import__(
            "cryptography.hazmat.primitives.serialization", fromlist=["x"]
        ).PublicFormat.SubjectPublicKeyInfo,
    )
    confused = _hs256(idp.claims(), public_pem)

    for token in (unsigned, confused, "not-a-jwt", ""):
        with pytest.raises(TokenRejected):
            await verifier.verify(token)


def _hs256(claims: dict[str, object], secret: bytes) -> str:
    """HS256 keyed with the public key's bytes, built by hand (PyJWT refuses PEM keys for HMAC)."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    signing_input = (
        f"{b64(json.dumps({'alg': 'HS256', 'kid': 'rsa-1'}).encode())}.{b64(json.dumps(claims).encode())}"
    )
    return f"{signing_input}.{b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


@pytest.mark.parametrize(
    "settings",
    [
        {"jwt_issuer": ISSUER, "jwt_jwks_url": "https://idp.example.com/jwks"},
        {"jwt_issuer": ISSUER, "jwt_audience": AUDIENCE},
        {"jwt_issuer": ISSUER, "jwt_audience": AUDIENCE, "jwt_jwks_url": "x", "jwt_jwks_file": "y"},
        {"jwt_algorithms": "HS256"},
        {"jwt_algorithms": "RS256,none"},
    ],
)
def test_incomplete_or_unsafe_jwt_settings_are_refused(settings: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        AccessSettings(**settings)  # type: ignore[arg-type]
