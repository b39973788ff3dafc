"""HMAC-SHA256 webhook signatures over the raw body bytes, with secret rotation.

Every provider we accept signs the exact bytes it sent, so verification runs before any parsing.
Each check tries every configured secret (current and previous) without stopping early, and the
error says only *what kind* of failure it was, never which secret came closest.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

from pydantic import SecretStr

from services.ingress.errors import InvalidSignature, StaleTimestamp

_DIGEST_SIZE = hashlib.sha256().digest_size


def verify_hex_signature(
    body: bytes, header_value: str | None, secrets: Sequence[SecretStr], *, prefix: str = "sha256="
) -> int:
    """Accept ``<prefix><hex HMAC-SHA256 of body>`` (Meta's ``X-Hub-Signature-256``) or raise.

    Returns the index of the secret that matched (0 is the current one). Raises
    :class:`InvalidSignature` when the header is missing, malformed or matches no secret.
    """
    value = _present(header_value)
    if not value.startswith(prefix):
        raise InvalidSignature("malformed signature header: wrong scheme prefix")
    try:
        claimed = bytes.fromhex(value[len(prefix) :])
    except ValueError:
        raise InvalidSignature("malformed signature header: not hexadecimal") from None
    return _check(body, claimed, secrets)


def verify_base64_signature(body: bytes, header_value: str | None, secrets: Sequence[SecretStr]) -> int:
    """Accept a base64 HMAC-SHA256 of body (Shopify's ``X-Shopify-Hmac-Sha256``) or raise.

    Returns the index of the secret that matched. Raises :class:`InvalidSignature` when the
    header is missing, malformed or matches no secret.
    """
    value = _present(header_value)
    try:
        claimed = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSignature("malformed signature header: not base64") from None
    return _check(body, claimed, secrets)


def sign_hex(body: bytes, secret: SecretStr | str) -> str:
    """The ``sha256=<hex>`` header value a provider would send for ``body``."""
    return "sha256=" + _digest(body, secret).hex()


def sign_base64(body: bytes, secret: SecretStr | str) -> str:
    """The base64 header value Shopify would send for ``body``."""
    return base64.b64encode(_digest(body, secret)).decode("ascii")


def _present(header_value: str | None) -> str:
    value = (header_value or "").strip()
    if not value:
        raise InvalidSignature("missing signature header")
    return value


def _check(body: bytes, claimed: bytes, secrets: Sequence[SecretStr]) -> int:
    if not secrets:
        # A configuration error, not a bad request: refusing every webhook silently would hide it.
        raise ValueError("at least one webhook secret must be configured")
    if len(claimed) != _DIGEST_SIZE:
        raise InvalidSignature("malformed signature header: wrong digest length")
    # Compare against every secret, so timing does not tell which one (if any) matched.
    return first_match([hmac.compare_digest(_digest(body, secret), claimed) for secret in secrets])


def first_match(matches: Sequence[bool], *, per_secret: int = 1) -> int:
    """The index of the secret behind the first ``True`` (``matches`` holds ``per_secret``
    consecutive checks per secret), or :class:`InvalidSignature` when none matched.

    Callers compute every comparison before calling this, so timing does not tell which matched.
    """
    for index, matched in enumerate(matches):
        if matched:
            return index // per_secret
    raise InvalidSignature("signature mismatch")


def _digest(body: bytes, secret: SecretStr | str) -> bytes:
    key = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    return hmac.new(key.encode("utf-8"), body, hashlib.sha256).digest()


# --- Square and Twilio: the URL the provider called is part of what is signed ------------------


def sign_square(url: str, body: bytes, secret: SecretStr | str) -> str:
    """Square's ``x-square-hmacsha256-signature``: base64 HMAC-SHA256 of notification URL + raw body."""
    return sign_base64(url.encode("utf-8") + body, secret)


def verify_square_signature(
    url: str, body: bytes, header_value: str | None, secrets: Sequence[SecretStr]
) -> int:
    """Accept Square's signature of ``url`` (the subscription's notification URL) + ``body`` or raise."""
    return verify_base64_signature(url.encode("utf-8") + body, header_value, secrets)


def sign_twilio(url: str, params: Sequence[tuple[str, str]], secret: SecretStr | str) -> str:
    """Twilio's ``X-Twilio-Signature``: base64 HMAC-SHA1 (auth token) of :func:`twilio_signed_text`."""
    return base64.b64encode(_sha1(twilio_signed_text(url, params), secret)).decode("ascii")


def twilio_signed_text(url: str, params: Sequence[tuple[str, str]]) -> bytes:
    """The full URL, then each POST parameter's name and value, sorted by name (then by value)."""
    pieces = [url]
    for name in sorted({name for name, _ in params}):
        pieces += [name + value for value in sorted({v for n, v in params if n == name})]
    return "".join(pieces).encode("utf-8")


def verify_twilio_signature(
    url: str, params: Sequence[tuple[str, str]], header_value: str | None, secrets: Sequence[SecretStr]
) -> int:
    """Accept Twilio's signature of ``url`` + sorted ``params`` with any auth token, or raise.

    As Twilio's own validators do, the URL is tried with and without its scheme's default port
    (proxies add or drop ``:443``); any other change to the URL is a mismatch.
    """
    value = _present(header_value)
    try:
        claimed = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSignature("malformed signature header: not base64") from None
    if not secrets:
        raise ValueError("at least one webhook secret must be configured")
    if len(claimed) != _SHA1_SIZE:
        raise InvalidSignature("malformed signature header: wrong digest length")
    texts = [twilio_signed_text(variant, params) for variant in _port_variants(url)]
    matches = [hmac.compare_digest(_sha1(text, secret), claimed) for secret in secrets for text in texts]
    return first_match(matches, per_secret=len(texts))


def _port_variants(url: str) -> list[str]:
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    if default is None or parts.hostname is None or parts.port not in (None, default):
        return [url]
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    auth = parts.netloc.rpartition("@")[0]
    prefix = f"{auth}@" if auth else ""
    bare = parts._replace(netloc=f"{prefix}{host}").geturl()
    with_port = parts._replace(netloc=f"{prefix}{host}:{default}").geturl()
    return [url, *(variant for variant in (bare, with_port) if variant != url)]


_SHA1_SIZE = 20


def _sha1(text: bytes, secret: SecretStr | str) -> bytes:
    # SHA-1 because Twilio signs with it; as an HMAC it is not open to SHA-1's collision attacks.
    key = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    return hmac.new(key.encode("utf-8"), text, hashlib.sha1).digest()


# --- Signed timestamps (Mailgun, Standard Webhooks) ------------------------------------------------


def check_timestamp(value: str | None, window_s: int, *, now: float | None = None) -> int:
    """The signed Unix-seconds ``value``, which must lie within ``window_s`` of now (either side).

    Call it after the signature matched: a replayed delivery then fails with
    :class:`StaleTimestamp`, and one from a clock far ahead (pre-signed for later) does too.
    Raises :class:`InvalidSignature` when the timestamp is missing or not an integer.
    """
    text = (value or "").strip()
    if not text:
        raise InvalidSignature("missing signed timestamp")
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise InvalidSignature("malformed signed timestamp: not integer seconds")
    moment = int(text)
    current = time.time() if now is None else now
    if abs(current - moment) > window_s:
        raise StaleTimestamp(f"signed timestamp is more than {window_s} s away from now")
    return moment


# --- Standard Webhooks (https://www.standardwebhooks.com/) ---------------------------------------

STANDARD_SECRET_PREFIX = "whsec_"  # noqa: S105 (the scheme's prefix, not a secret)


def sign_standard_webhook(webhook_id: str, timestamp: int | str, body: bytes, secret: SecretStr | str) -> str:
    """The ``webhook-signature`` value a Standard Webhooks sender puts on ``body``: ``v1,<base64>``."""
    content = _standard_content(webhook_id, str(timestamp), body)
    digest = hmac.new(standard_webhook_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def verify_standard_webhook(
    body: bytes,
    webhook_id: str | None,
    timestamp: str | None,
    signature_header: str | None,
    secrets: Sequence[SecretStr],
    *,
    window_s: int,
    now: float | None = None,
) -> int:
    """Accept a Standard Webhooks delivery or raise :class:`InvalidSignature` / :class:`StaleTimestamp`.

    The signed content is ``{webhook-id}.{webhook-timestamp}.{body}``; the key is the base64 after
    the ``whsec_`` prefix of each secret. ``webhook-signature`` is a space-separated list of
    ``<version>,<base64>`` entries: any ``v1`` entry matching any secret is enough (senders list
    several while they rotate), other versions are ignored.
    """
    if not secrets:
        raise ValueError("at least one webhook secret must be configured")
    message_id = (webhook_id or "").strip()
    if not message_id:
        raise InvalidSignature("missing webhook-id header")
    stamp = (timestamp or "").strip()
    if not stamp:
        raise InvalidSignature("missing webhook-timestamp header")
    claimed = _standard_signatures(_present(signature_header))
    content = _standard_content(message_id, stamp, body)
    keys = [standard_webhook_key(secret) for secret in secrets]
    expected = [hmac.new(key, content, hashlib.sha256).digest() for key in keys]
    matches = [hmac.compare_digest(mine, theirs) for mine in expected for theirs in claimed]
    index = first_match(matches, per_secret=len(claimed))
    check_timestamp(stamp, window_s, now=now)
    return index


def _standard_signatures(header_value: str) -> list[bytes]:
    claimed: list[bytes] = []
    for entry in header_value.split():
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue
        try:
            digest = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidSignature("malformed signature header: not base64") from None
        if len(digest) != _DIGEST_SIZE:
            raise InvalidSignature("malformed signature header: wrong digest length")
        claimed.append(digest)
    if not claimed:
        raise InvalidSignature("malformed signature header: no v1 signature")
    return claimed


def _standard_content(webhook_id: str, timestamp: str, body: bytes) -> bytes:
    return f"{webhook_id}.{timestamp}.".encode() + body


def standard_webhook_key(secret: SecretStr | str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret; a malformed one is a configuration error."""
    text = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    try:
        return base64.b64decode(text.removeprefix(STANDARD_SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a Standard Webhooks secret must be whsec_ followed by base64") from None
