"""An identity provider of our own for tests: locally generated keys, a JWKS file, signed tokens."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ISSUER = "https://idp.example.com/"
AUDIENCE = "interaction-hub-api"


@dataclass
class TestIdentityProvider:
    """Signs tokens with an RSA key (kid ``rsa-1``) and an EC key (kid ``ec-1``) it publishes."""

    __test__ = False  # not a test class, despite the name

    rsa_key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    ec_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    def jwks(self) -> dict[str, Any]:
        rsa_jwk = json.loads(RSAAlgorithm.to_jwk(self.rsa_key.public_key()))
        ec_jwk = json.loads(ECAlgorithm.to_jwk(self.ec_key.public_key()))
        return {
            "keys": [
                {**rsa_jwk, "kid": "rsa-1", "use": "sig", "alg": "RS256"},
                {**ec_jwk, "kid": "ec-1", "use": "sig", "alg": "ES256"},
            ]
        }

    def write_jwks(self, folder: Path) -> Path:
        path = folder / "jwks.json"
        path.write_text(json.dumps(self.jwks()))
        return path

    def settings(self, jwks_file: Path) -> dict[str, Any]:
        """The ``HUB_JWT_*`` settings that trust this provider (as ApiSettings keyword arguments)."""
        return {"jwt_issuer": ISSUER, "jwt_audience": AUDIENCE, "jwt_jwks_file": jwks_file}

    def claims(self, subject: str = "alice", **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        base = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": subject,
            "iat": now,
            "nbf": now - 5,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
            "roles": ["support_agent"],
            "channels": ["chat"],
            "team": "north",
        }
        return {key: value for key, value in {**base, **overrides}.items() if value is not None}

    def token(
        self, claims: dict[str, Any] | None = None, *, alg: str = "RS256", kid: str | None = None
    ) -> str:
        claims = claims if claims is not None else self.claims()
        if alg.startswith("ES"):
            return jwt.encode(claims, self.ec_key, algorithm=alg, headers={"kid": kid or "ec-1"})
        return jwt.encode(claims, self.rsa_key, algorithm=alg, headers={"kid": kid or "rsa-1"})
