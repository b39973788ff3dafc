"""Deterministic ids, keyed: the replay defence and the exactly-once key of the whole hub.

Every id the hub derives from something it was given (a provider's message id, a cause and a purpose)
and every stored dedupe key is an HMAC-SHA256 under ``HUB_ID_KEY``, never a plain hash or a UUIDv5: a
provider message id carries a Telegram chat id or a WhatsApp number, and an unkeyed id of it can be
recomputed for every candidate number from a dump until one matches. The key is not a customer's key,
because ids must stay stable (and deduplicate) after a customer is forgotten; it only has to stay
secret. The same key gives the same ids, so a redelivered webhook is the same event on every instance.

``HUB_ID_KEY`` is read once per process from the environment (like ``HUB_MASTER_KEY``): every
deployable that derives ids (ingress, timeline writer, pipeline, media, API) and the ``hub`` tool must
be given the same value. Without it, deriving an id raises :class:`IdKeyNotConfigured`; deployables call
:func:`require_id_key` at start so a missing key fails the start, not a message.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import secrets
from typing import Final
from uuid import UUID

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

_KEY_BYTES: Final = 32
#: Domain separation: one key, three derivations that can never produce each other's inputs.
_EVENT, _DERIVED, _DIGEST = b"event\x1f", b"derived\x1f", b"digest\x1f"


class IdKeyNotConfigured(RuntimeError):
    """``HUB_ID_KEY`` is missing or malformed: ids could only be derived unkeyed, so none are."""


class IdKeySettings(BaseSettings):
    """``HUB_ID_KEY``: 32 random bytes, URL-safe base64 (``hub`` makes one in the state dir)."""

    model_config = SettingsConfigDict(env_prefix="HUB_", extra="ignore", hide_input_in_errors=True)

    id_key: SecretStr | None = None


def generate_id_key() -> str:
    """A fresh key in the form ``HUB_ID_KEY`` takes."""
    return base64.urlsafe_b64encode(secrets.token_bytes(_KEY_BYTES)).decode("ascii")


@functools.cache
def _id_key() -> bytes:
    configured = IdKeySettings().id_key
    if configured is None:
        raise IdKeyNotConfigured("HUB_ID_KEY is not set: event ids and dedupe keys cannot be derived")
    try:
        raw = base64.urlsafe_b64decode(configured.get_secret_value().encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise IdKeyNotConfigured("HUB_ID_KEY is not URL-safe base64") from exc
    if len(raw) != _KEY_BYTES:
        raise IdKeyNotConfigured(f"HUB_ID_KEY must be {_KEY_BYTES} bytes, base64-encoded")
    return raw


def require_id_key() -> None:
    """Raise :class:`IdKeyNotConfigured` now, at a deployable's start, rather than at its first message."""
    _id_key()


def forget_id_key() -> None:
    """Read ``HUB_ID_KEY`` again on next use (tests that change it)."""
    _id_key.cache_clear()


def _mac(domain: bytes, message: bytes) -> bytes:
    return hmac.digest(_id_key(), domain + message, hashlib.sha256)  # one-shot: faster than hmac.new


def _as_uuid(digest: bytes) -> UUID:
    """The first 128 bits as an RFC 9562 version 8 ("custom") UUID: version and variant bits set."""
    value = int.from_bytes(digest[:16], "big")
    value &= ~(0xF000 << 64) & ~(0xC000 << 48)
    value |= (0x8000 << 64) | (0x8000 << 48)
    return UUID(int=value)


def event_id_for(provider: str, provider_message_id: str) -> UUID:
    """The id of the event made from one provider message: the same delivery gives the same id."""
    if not provider or not provider_message_id:
        raise ValueError("provider and provider_message_id are both required for an event id")
    return _as_uuid(_mac(_EVENT, f"{provider}\x1f{provider_message_id}".encode()))


def derived_event_id(cause: UUID, purpose: str) -> UUID:
    """The id of an event the hub derives from another one (e.g. an identity link it caused).

    Keyed too: a purpose may name an identity (``link:email:...``), and the cause's id is public.
    """
    return _as_uuid(_mac(_DERIVED, cause.bytes + purpose.encode()))


def keyed_digest(text: str) -> str:
    """A stable, keyed stand-in for a value that must be matched but not stored (hex, 64 characters)."""
    return _mac(_DIGEST, text.encode()).hex()
