"""API keys: their format, what is stored of them, their life cycle, and durations."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from plumbing.access.api_keys import StoredKey, generate_key, key_digest, key_id_of, looks_like_key, matches
from plumbing.access.durations import parse_duration

pytestmark = pytest.mark.unit

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _stored(key: str, *, expires_in: timedelta = timedelta(days=1), revoked: bool = False) -> StoredKey:
    key_id = key_id_of(key)
    assert key_id is not None
    return StoredKey(
        key_id=key_id,
        principal_id="alice",
        principal_kind="staff",
        roles=("support_agent",),
        team=None,
        channels=("chat",),
        scopes=None,
        created_at=NOW,
        expires_at=NOW + expires_in,
        revoked_at=NOW if revoked else None,
        rotated_from=None,
        key_sha256=key_digest(key),
    )


def test_a_key_is_hub_then_a_public_id_then_256_random_bits() -> None:
    key_id, key = generate_key()

    prefix, kid, secret = key.split("_", 2)
    assert (prefix, kid) == ("hub", key_id)
    assert len(key_id) == 16 and int(key_id, 16) >= 0
    assert len(secret) == 43  # 32 bytes, base64url without padding
    assert key_id_of(key) == key_id
    assert looks_like_key(key)


def test_keys_are_never_repeated() -> None:
    assert len({generate_key()[1] for _ in range(1000)}) == 1000


def test_only_a_sha256_of_the_key_is_kept_and_compared() -> None:
    _, key = generate_key()
    stored = _stored(key)

    assert stored.key_sha256 == hashlib.sha256(key.encode()).digest()
    assert key not in repr(stored)  # the record never holds the key itself
    assert matches(stored, key)
    assert not matches(stored, key[:-1] + ("A" if key[-1] != "A" else "B"))


@pytest.mark.parametrize(
    "token",
    [
        "",
        "hub_",
        "hub_0123456789abcdef",
        "hub_0123456789ABCDEF_" + "a" * 43,
        "hub_0123456789abcdef_" + "a" * 42,
        "hub_0123456789abcdef_" + "a" * 43 + "=",
        "key_0123456789abcdef_" + "a" * 43,
        "eyJhbGciOiJSUzI1NiJ9.e30.sig",
    ],
)
def test_malformed_keys_have_no_key_id(token: str) -> None:
    assert key_id_of(token) is None


def test_a_key_is_usable_until_it_expires_or_is_revoked() -> None:
    _, key = generate_key()
    live, revoked = _stored(key), _stored(key, revoked=True)

    assert live.usable_at(NOW) and live.status(NOW) == "active"
    assert not live.usable_at(NOW + timedelta(days=1)) and live.status(NOW + timedelta(days=1)) == "expired"
    assert not revoked.usable_at(NOW) and revoked.status(NOW) == "revoked"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90d", timedelta(days=90)),
        ("24h", timedelta(hours=24)),
        ("30m", timedelta(minutes=30)),
        ("5s", timedelta(seconds=5)),
    ],
)
def test_durations_read_as_people_type_them(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "90", "d", "1w", "-1d", "1.5h", "forever"])
def test_anything_else_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)
