"""The ids of the events an import row may append: keyed, derived from the row's key and a purpose, so
the same row always makes the same events (and the store's unique event id makes a repeat impossible)."""

from __future__ import annotations

from uuid import UUID

from contracts import AttributeName, Identity, derived_event_id


def link_id(key: UUID, identity: Identity) -> UUID:
    """The id of the link a row (by its key) makes for ``identity``."""
    return derived_event_id(key, f"link:{identity.key}")


def attribute_id(key: UUID, name: AttributeName) -> UUID:
    """The id of the value a row (by its key) sets for attribute ``name``."""
    return derived_event_id(key, f"attribute:{name.value}")


def merged_into_id(key: UUID, absorbed: UUID) -> UUID:
    return derived_event_id(key, f"merged_into:{absorbed}")


def absorbed_id(key: UUID, absorbed: UUID) -> UUID:
    return derived_event_id(key, f"absorbed:{absorbed}")
