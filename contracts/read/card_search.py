"""Search terms of a card, and a query in the same normal form, so prefix matching is plain ``LIKE``.

Names are folded (Unicode NFKD without accents, case-folded, spaces collapsed): "José  Álvarez" is
found by "jose", "alv" and "jose alv". Emails are matched from their start in lower case; phones by
their digits, international (``4930...``) or national (``030...`` is stored as ``30...``), so a query
typed either way finds them. A whole number typed the way people write it at home, trunk prefix and
all ("8 (916) 123-45-67" for +7 916 123-45-67), is read in the default region (``HUB_DEFAULT_REGION``)
and searched by its international digits; a partial one is matched by its digits as typed.
"""

from __future__ import annotations

import re
import unicodedata

import phonenumbers

from contracts.read.customer_card import CustomerCard

#: Longest term kept; a longer name still matches by its first 200 characters and by its words.
MAX_TERM = 200
_PHONE_QUERY = re.compile(r"^\+?[\d\s().-]+$")
_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    """Case-folded, accent-free, single-spaced text."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", bare.casefold()).strip()


def search_terms(card: CustomerCard) -> set[str]:
    """The terms a search finds ``card`` by; none for a card another customer speaks for."""
    if card.merged_into is not None:
        return set()
    terms: set[str] = set()
    for name in {card.display_name, card.profile.name} - {None}:
        folded = fold(name or "")
        if folded:
            terms.add(folded)
            terms.update(folded.split(" "))
    terms.update(email.lower() for email in card.emails)
    for phone in card.phones:
        terms.update(_phone_terms(phone))
    return {term[:MAX_TERM] for term in terms if term}


def _phone_terms(e164: str) -> set[str]:
    digits = re.sub(r"\D", "", e164)
    terms = {digits}
    try:
        national = phonenumbers.parse(e164).national_number
    except phonenumbers.NumberParseException:
        return terms
    terms.add(str(national))
    return terms


def query_term(query: str, default_region: str = "US") -> str:
    """The prefix a query ``q`` matches terms by: digits for a phone-like query (the international ones of
    a whole national number of ``default_region``), else folded text."""
    if _PHONE_QUERY.match(query) and sum(ch.isdigit() for ch in query) >= 3:
        return _whole_national_number(query, default_region) or re.sub(r"\D", "", query).lstrip("0")
    return fold(query)[:MAX_TERM]


def _whole_national_number(query: str, region: str) -> str | None:
    """The E.164 digits of a valid number written without ``+`` in ``region``'s national form (its trunk
    prefix, "8" in Russia, "0" in Germany, understood); None for a ``+`` number or one not whole yet."""
    if query.lstrip().startswith("+"):
        return None
    try:
        number = phonenumbers.parse(query, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164).removeprefix("+")
