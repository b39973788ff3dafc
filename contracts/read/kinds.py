"""Kinds of personal values a read model carries, marked on its fields so masks can find every one.

A field is marked with ``typing.Annotated`` metadata: ``display_name: Annotated[str | None,
Personal(NAMES)]``; the mark may also sit inside a container (``list[Contact]``). The access layer
(:mod:`plumbing.access.kinds`) walks a response model with its document and removes every value of a
kind the caller's role masks, wherever in the document it sits: a new field carrying a contact only
needs its mark, never a new entry in a list of paths.

When a value's kind depends on another field of the same object (an attribute's value is a name, a
birthday or a preference depending on the attribute), :class:`PersonalBy` names that field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated


class PersonalKind(StrEnum):
    """What a role may be denied, by kind of value (payments are masked by the policy's views).

    ``contacts``: email addresses, phone numbers, handles, every identity value and identity key, and
    ids a provider copies them into (conversation and message ids). ``names``: the customer's names.
    ``profile``: birthday and children. ``messages``: what customers and staff wrote (message
    summaries, subjects, notes). ``documents``: files kept for the customer (names, titles, recordings).
    """

    CONTACTS = "contacts"
    NAMES = "names"
    PROFILE = "profile"
    MESSAGES = "messages"
    DOCUMENTS = "documents"


@dataclass(frozen=True, init=False)
class Personal:
    """``Annotated`` metadata: the value is personal data of ``kinds`` (masked when any one is)."""

    kinds: frozenset[PersonalKind]

    def __init__(self, *kinds: PersonalKind) -> None:
        if not kinds:
            raise ValueError("name at least one kind")
        object.__setattr__(self, "kinds", frozenset(kinds))


@dataclass(frozen=True)
class Inherited:
    """``Annotated`` metadata: inside a field marked with kinds, this is the part that carries them (an
    attribute change's ``value`` is a name in the name's history, a birthday in the birthday's). Only
    marked and inherited parts of a marked object are taken as personal values by the safety net, not its
    ids, providers or timestamps."""


@dataclass(frozen=True, eq=False)
class PersonalBy:
    """``Annotated`` metadata: the value's kinds are ``kinds[<value of the field `sibling`>]``, a field
    of the same object (no kind for a value not in the mapping; all of them when the sibling is missing)."""

    sibling: str
    kinds: Mapping[str, frozenset[PersonalKind]] = field(default_factory=dict)


K = PersonalKind
EVERY_KIND = frozenset(PersonalKind)
#: The kind of each profile attribute's value; attributes not named here are no one's personal detail
#: a role may be denied (preferences, language, consents, car: what segments are made of).
ATTRIBUTE_KINDS: Mapping[str, frozenset[PersonalKind]] = {
    "name": frozenset({K.NAMES}),
    "birthday": frozenset({K.PROFILE}),
    "children": frozenset({K.PROFILE, K.NAMES}),
}

Contact = Annotated[str, Personal(K.CONTACTS)]
"""An email address, phone number, handle, identity value or identity key (``email:ann@example.org``)."""
Name = Annotated[str, Personal(K.NAMES)]
Message = Annotated[str, Personal(K.MESSAGES)]
