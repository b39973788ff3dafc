"""The value-based safety net behind masks by kind: known personal values scrubbed from any text.

Masks by kind remove marked fields; free text is not marked (a deal title a salesperson typed may name
the customer, a CSV cell repeats a contact). So for a role that masks a kind, the response is also
searched for the personal values of that kind of the customers it concerns, in the forms they are
commonly written in (an address in any case, a phone number in E.164, as digits only and as its national
number, an identity key and its value), and every occurrence is replaced by :data:`MARKER`. A value
is matched as a whole word (a name "Mark" leaves "Marketing" alone) and never in a map key (keys are
field names and codes).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import phonenumbers

from contracts import IdentityKind

MARKER = "[masked]"
#: Shorter values are not searched for: "Al" or "12" would blank half of any answer.
MIN_LENGTH = 4
_IDENTITY_KINDS = frozenset(kind.value for kind in IdentityKind)
_QUALIFIED = frozenset({IdentityKind.HANDLE.value, IdentityKind.EXTERNAL.value})
_E164 = re.compile(r"^\+\d{7,15}$")
_WORD = re.compile(r"\w+")


def variants(value: str) -> set[str]:
    """``value`` and the other forms it is commonly written in (identity keys also as their value)."""
    found = {value.strip()}
    kind, _, rest = value.partition(":")
    if kind in _IDENTITY_KINDS and rest:
        if kind in _QUALIFIED and ":" in rest:
            rest = rest.partition(":")[2]
        found.add(rest)
    for text in list(found):
        if _E164.match(text):
            found |= _phone_forms(text)
    return {text for text in found if len(text) >= MIN_LENGTH}


def _phone_forms(e164: str) -> set[str]:
    forms = {e164[1:]}
    try:
        parsed = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return forms
    forms.add(str(parsed.national_number))
    forms.add(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL))
    forms.add(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL))
    return forms


class Scrubber:
    """Replaces every occurrence of the given values (case-insensitively, as whole words) by
    :data:`MARKER`.

    Built for many values (an export names thousands of customers): the values are indexed by their
    first word, so the text is scanned once, word by word, whatever their number.
    """

    def __init__(self, values: Iterable[str]) -> None:
        self._by_first_word: dict[str, list[tuple[int, str]]] = {}
        for form in {form.lower() for value in values for form in variants(value)}:
            first = _WORD.search(form)
            if first is not None:
                self._by_first_word.setdefault(first.group(), []).append((first.start(), form))
        for candidates in self._by_first_word.values():
            candidates.sort(key=lambda candidate: len(candidate[1]), reverse=True)  # the longest first

    def __bool__(self) -> bool:
        return bool(self._by_first_word)

    def text(self, text: str) -> str:
        if not self._by_first_word:
            return text
        parts: list[str] = []
        done = 0
        for word in _WORD.finditer(text):
            found = self._match_at(text, word, done)
            if found is not None:
                parts += [text[done : found[0]], MARKER]
                done = found[1]
        return "".join(parts) + text[done:] if parts else text

    def _match_at(self, text: str, word: re.Match[str], done: int) -> tuple[int, int] | None:
        """(start, end) of the longest value whose first word is ``word``, as a whole word, if any."""
        for offset, form in self._by_first_word.get(word.group().lower(), ()):
            start, end = word.start() - offset, word.start() - offset + len(form)
            if start < done or text[start:end].lower() != form:
                continue
            if (start > 0 and _is_word(text[start - 1])) or (end < len(text) and _is_word(text[end])):
                continue
            return start, end
        return None

    def document(self, document: Any) -> Any:
        """A JSON document with the values scrubbed from every string (map keys stay)."""
        if not self._by_first_word:
            return document
        if isinstance(document, dict):
            return {key: self.document(value) for key, value in document.items()}
        if isinstance(document, list):
            return [self.document(item) for item in document]
        if isinstance(document, str):
            return self.text(document)
        return document


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"
