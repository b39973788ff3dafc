"""Deterministic event ids: the replay defence and the exactly-once key of the whole hub."""

from __future__ import annotations

from uuid import UUID, uuid5

#: Namespace of every id the hub derives; never change it, or stored ids stop matching.
HUB_NAMESPACE = UUID("6f0c3c52-6a51-4d0e-9a52-3d2f1c1b7e10")


def event_id_for(provider: str, provider_message_id: str) -> UUID:
    """The id of the event made from one provider message: the same delivery gives the same id."""
    if not provider or not provider_message_id:
        raise ValueError("provider and provider_message_id are both required for an event id")
    return uuid5(HUB_NAMESPACE, f"{provider}\x1f{provider_message_id}")


def derived_event_id(cause: UUID, purpose: str) -> UUID:
    """The id of an event the hub derives from another one (e.g. an identity link it caused)."""
    return uuid5(cause, purpose)
