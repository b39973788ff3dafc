"""The raw evidence behind an inbound interaction: what the provider sent and how it was proven.

The bytes themselves live in a content-addressed blob store (``sha256`` names them); the event
carries only the address, the headers that matter and the verification outcome, so events stay
small while an auditor can still fetch the delivery, recompute its hash and re-check its
signature, and a fixed translator can re-process history.
"""

from __future__ import annotations

from pydantic import AwareDatetime, Field

from contracts.base import Contract

SHA256_PATTERN = r"^[0-9a-f]{64}$"


class Verification(Contract):
    """How the ingress proved the delivery authentic (only authentic deliveries become events).

    ``scheme`` names the provider's method (``hmac-sha256-hex:x-hub-signature-256``,
    ``twilio-signature``...); ``key_index`` is the configured secret that matched: 0 is the
    current one, higher ones are older secrets still accepted during a rotation.
    """

    scheme: str = Field(min_length=1, max_length=100)
    key_index: int = Field(ge=0, le=100)
    verified_at: AwareDatetime


class BlobRef(Contract):
    """Bytes stored content-addressed: their SHA-256 (hex) and length."""

    sha256: str = Field(pattern=SHA256_PATTERN)
    size_bytes: int = Field(ge=0)


class Evidence(Contract):
    """The delivery an event was translated from.

    ``headers`` keeps only non-secret headers that identify or sign the delivery (content type,
    provider ids and topics, signatures, timestamps); ``url`` is the public URL the provider
    called, without a query string that could carry a secret.
    """

    body: BlobRef
    content_type: str | None = Field(default=None, max_length=300)
    endpoint: str = Field(min_length=1, max_length=300)
    url: str = Field(default="", max_length=2000)
    headers: dict[str, str] = Field(default_factory=dict, max_length=30)
    verification: Verification
