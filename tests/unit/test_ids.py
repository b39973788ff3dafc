"""Ids and dedupe keys are keyed hashes: stable under one key, not recomputable from a guessed value."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid5

import pytest

from contracts.ids import (
    IdKeyNotConfigured,
    derived_event_id,
    event_id_for,
    forget_id_key,
    generate_id_key,
    keyed_digest,
    require_id_key,
)

pytestmark = pytest.mark.unit

PHONE = "15550123456"  # a WhatsApp sender: the wamid and the conversation id carry this number
#: The namespace of the unkeyed UUIDv5 ids stores made before HUB_ID_KEY.
LEGACY_NAMESPACE = UUID("6f0c3c52-6a51-4d0e-9a52-3d2f1c1b7e10")


def _under_other_key(compute: Callable[[], Any]) -> Any:
    """What ``compute`` derives under a fresh HUB_ID_KEY."""
    kept = os.environ["HUB_ID_KEY"]
    os.environ["HUB_ID_KEY"] = generate_id_key()
    forget_id_key()
    try:
        return compute()
    finally:
        os.environ["HUB_ID_KEY"] = kept
        forget_id_key()


def test_the_same_delivery_gets_the_same_id_and_another_key_gives_another() -> None:
    first = event_id_for("telegram", f"1:message:{PHONE}:7")
    assert first == event_id_for("telegram", f"1:message:{PHONE}:7")
    assert _under_other_key(lambda: event_id_for("telegram", f"1:message:{PHONE}:7")) != first


def test_an_event_id_is_not_the_uuid5_an_attacker_could_recompute_from_a_guessed_number() -> None:
    """The old ids were uuid5(namespace, provider + message id): from a dump, try every phone number."""
    guessed = uuid5(LEGACY_NAMESPACE, f"meta_whatsapp\x1f{PHONE}")
    assert event_id_for("meta_whatsapp", PHONE) != guessed


def test_derived_ids_and_digests_are_keyed_too() -> None:
    cause = event_id_for("widget", "m-1")
    link = derived_event_id(cause, f"link:phone:+{PHONE}")
    digest = keyed_digest(f"phone:+{PHONE}")
    assert link == derived_event_id(cause, f"link:phone:+{PHONE}") != uuid5(cause, f"link:phone:+{PHONE}")
    assert digest == keyed_digest(f"phone:+{PHONE}") and PHONE not in digest and len(digest) == 64
    assert _under_other_key(
        lambda: (derived_event_id(cause, f"link:phone:+{PHONE}"), keyed_digest(PHONE))
    ) != (
        link,
        digest,
    )


def test_every_id_is_a_valid_version_8_uuid() -> None:
    for made in (event_id_for("vk", "1"), derived_event_id(UUID(int=1), "customer")):
        assert made.version == 8 and made.variant == "specified in RFC 4122"


@pytest.mark.parametrize("value", [None, "not base64 at all!", "c2hvcnQ="])
def test_without_a_valid_id_key_nothing_is_derived(value: str | None) -> None:
    kept = os.environ.pop("HUB_ID_KEY")
    if value is not None:
        os.environ["HUB_ID_KEY"] = value
    forget_id_key()
    try:
        with pytest.raises(IdKeyNotConfigured, match="HUB_ID_KEY"):
            require_id_key()
        with pytest.raises(IdKeyNotConfigured):
            event_id_for("widget", "m-1")
    finally:
        os.environ["HUB_ID_KEY"] = kept
        forget_id_key()
