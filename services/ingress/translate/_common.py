"""Helpers every translator shares: path-aware JSON access, identities, summaries, contract errors.

Errors raised here name the field by its JSON path (``entry[0].changes[0].value.messages[1].from``)
and never quote a value, because refused payloads end up in logs and dead-letter reasons.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple
from uuid import UUID

from pydantic import ValidationError

from contracts import Identity, IdentityKind, InvalidIdentity, event_id_for, normalise_identity
from services.ingress.errors import InvalidPayload

#: Length of every ``summary``: enough to recognise a message, short enough to never be the body.
SUMMARY_CHARS = 200

_WHITESPACE = re.compile(r"\s+")


def load_json(raw: bytes) -> Node:
    """Parse a JSON body; floats become :class:`~decimal.Decimal` so money is never rounded."""
    try:
        value = json.loads(raw, parse_float=Decimal, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: nested too deep
        raise InvalidPayload("body is not valid JSON") from None
    return Node(value, "")


def _reject_constant(name: str) -> object:
    raise ValueError("NaN and Infinity are not JSON")


@dataclass(frozen=True)
class Node:
    """A JSON value and the path that reached it, so every error can name its field."""

    value: object
    path: str

    def child(self, key: str) -> Node:
        """The member ``key`` (value ``None`` when absent); this node must be an object."""
        return Node(self._object().get(key), f"{self.path}.{key}" if self.path else key)

    def required(self, key: str) -> Node:
        """The member ``key``, which must be present and not null."""
        node = self.child(key)
        if node.value is None:
            raise InvalidPayload(f"field {node.path} is missing")
        return node

    def is_missing(self) -> bool:
        """True when the field was absent or null."""
        return self.value is None

    def items(self) -> list[Node]:
        """The elements of a list; an absent or null list is empty."""
        if self.value is None:
            return []
        if not isinstance(self.value, list):
            raise InvalidPayload(f"field {self._name()} must be a list")
        return [Node(item, f"{self.path}[{index}]") for index, item in enumerate(self.value)]

    def text(self) -> str:
        """A non-blank string (surrounding whitespace removed)."""
        if self.value is None:
            raise InvalidPayload(f"field {self._name()} is missing")
        if not isinstance(self.value, str):
            raise InvalidPayload(f"field {self._name()} must be a string")
        if not self.value.strip():
            raise InvalidPayload(f"field {self._name()} is empty")
        return self.value.strip()

    def optional_text(self) -> str | None:
        """A non-blank string, or ``None`` when absent, null or blank."""
        if self.value is None or (isinstance(self.value, str) and not self.value.strip()):
            return None
        return self.text()

    def ident(self) -> str:
        """An id that providers send as a number or a string, as text (JSON ints stay exact)."""
        if isinstance(self.value, int) and not isinstance(self.value, bool):
            return str(self.value)
        return self.text()

    def optional_ident(self) -> str | None:
        """Like :meth:`ident`, or ``None`` when absent or null."""
        return None if self.value is None else self.ident()

    def decimal(self) -> Decimal:
        """An exact finite number given as a JSON string or number (never via float)."""
        value = self.value
        if value is None:
            raise InvalidPayload(f"field {self._name()} is missing")
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            raise InvalidPayload(f"field {self._name()} must be a decimal number")
        try:
            number = Decimal(value.strip() if isinstance(value, str) else value)
        except InvalidOperation:
            raise InvalidPayload(f"field {self._name()} must be a decimal number") from None
        if not number.is_finite():
            raise InvalidPayload(f"field {self._name()} must be a finite number")
        return number

    def aware_datetime(self) -> datetime:
        """An ISO 8601 timestamp that carries its UTC offset."""
        try:
            moment = datetime.fromisoformat(self.text())
        except ValueError:
            raise InvalidPayload(f"field {self._name()} must be an ISO 8601 timestamp") from None
        if moment.utcoffset() is None:
            raise InvalidPayload(f"field {self._name()} must include a UTC offset")
        return moment

    def _object(self) -> dict[str, Any]:
        if not isinstance(self.value, dict):
            raise InvalidPayload(f"field {self._name()} must be an object")
        return self.value

    def _name(self) -> str:
        return self.path or "body"


class IdentityCandidate(NamedTuple):
    """An identity the payload offers, before normalisation; ``field`` names where it came from."""

    kind: IdentityKind
    value: str | None
    field: str
    provider: str | None = None


def sender_identities(candidates: Iterable[IdentityCandidate], default_region: str) -> tuple[Identity, ...]:
    """Normalise what the payload offers; drop what does not normalise, but never end with nothing.

    A bad email next to a good phone is the sender's typo, not a reason to lose the message; a
    message with no usable identity cannot be attributed to anyone, so it is refused.
    """
    found: dict[str, Identity] = {}
    rejected: list[str] = []
    for candidate in candidates:
        if candidate.value is None:
            continue
        try:
            identity = normalise_identity(
                candidate.kind, candidate.value, provider=candidate.provider, default_region=default_region
            )
        except InvalidIdentity:
            rejected.append(f"field {candidate.field} is not a valid {candidate.kind}")
            continue
        found.setdefault(identity.key, identity)
    if not found:
        reasons = "; ".join(rejected) or "no identity field present"
        raise InvalidPayload(f"no usable sender identity: {reasons}")
    return tuple(found.values())


def summarise(text: str) -> str:
    """Whitespace collapsed and cut to :data:`SUMMARY_CHARS`: a preview, never the whole body."""
    return _WHITESPACE.sub(" ", text).strip()[:SUMMARY_CHARS]


def message_summary(message: Node) -> str:
    """A message's ``text``; ``[<first attachment's type>]`` for photos, stickers, shares and the rest."""
    text = message.child("text").optional_text()
    if text is not None:
        return summarise(text)
    attachments = message.child("attachments").items()
    kind = attachments[0].child("type").optional_text() if attachments else None
    return f"[{(kind or 'message')[:60]}]"


def clip(text: str | None, limit: int) -> str | None:
    """Cut free text a provider controls to the contract's limit instead of refusing the message."""
    return None if text is None else text[:limit]


def event_id(provider: str, provider_message_id: str) -> UUID:
    """The deterministic event id; refuses an id the contract could not store."""
    if len(provider_message_id) > 500:
        raise InvalidPayload("provider message id is longer than 500 characters")
    try:
        return event_id_for(provider, provider_message_id)
    except UnicodeEncodeError:  # a lone surrogate ("\ud800" in JSON) has no UTF-8 form to hash
        raise InvalidPayload("provider message id is not valid Unicode") from None


@contextmanager
def contract_errors(what: str) -> Iterator[None]:
    """Turn a contract validation failure into :class:`InvalidPayload` naming fields, not values."""
    try:
        yield
    except ValidationError as exc:
        problems = "; ".join(_describe(error["loc"], error["msg"], what) for error in exc.errors())
        # ``from None``: the pydantic error quotes input values, which may be contact details.
        raise InvalidPayload(f"{what} does not fit the contract: {problems}") from None


def _describe(loc: tuple[int | str, ...], msg: str, what: str) -> str:
    return f"{'.'.join(str(part) for part in loc) or what}: {msg}"
