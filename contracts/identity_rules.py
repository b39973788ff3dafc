"""Identity resolution rules as configuration: which kinds merge, blocked values, limits, priority.

They live in a TOML file shipped with the deployment (``deploy/identity-rules.toml``; the timeline
writer reads ``HUB_IDENTITY_RULES`` to take another) and are validated when the writer starts, so a
typo stops the start instead of gluing people together. Parsing is pure (text in, model out).

Without a file, :data:`DEFAULT_RULES` apply: every kind merges, nothing is blocked, nothing is
limited: exactly the exact-match resolution the hub had before rules existed.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from re import Pattern

from pydantic import Field, ValidationError, field_validator

from contracts.base import Contract
from contracts.identity import TRANSACTION_REFERENCES, Identity, IdentityKind

_CHECKOUT = Path(__file__).resolve().parents[1]

#: Priority of each kind when nothing configures it: stable ids outrank contact details people share.
DEFAULT_PRIORITY: dict[IdentityKind, int] = {
    IdentityKind.EXTERNAL: 50,
    IdentityKind.LOYALTY: 40,
    IdentityKind.EMAIL: 30,
    IdentityKind.HANDLE: 20,
    IdentityKind.PHONE: 10,
}

#: One limit group: a kind, and for qualified kinds (handle, external) the provider.
Group = tuple[IdentityKind, str | None]


class ConfigError(ValueError):
    """An identity rules file that is unreadable or inconsistent."""


class Blocked(Contract):
    """Values that never link and never match. ``values`` are compared case-insensitively with the
    normalised value; each of ``patterns`` must match the whole lower-cased value (``re.fullmatch``)."""

    values: frozenset[str] = frozenset()
    patterns: tuple[Pattern[str], ...] = ()

    @field_validator("values")
    @classmethod
    def _folded(cls, values: frozenset[str]) -> frozenset[str]:
        return frozenset(value.strip().casefold() for value in values)

    def blocks(self, value: str) -> bool:
        text = value.strip().casefold()
        return text in self.values or any(pattern.fullmatch(text) for pattern in self.patterns)


class ProviderRules(Contract):
    """Overrides for one provider of a qualified kind (``[kinds.external.providers.shopify]``)."""

    max_per_customer: int | None = Field(default=None, ge=1)


class KindRules(Contract):
    """What one identity kind may do.

    * ``merge``: an identity of this kind seen with another customer's identity in one event merges
      the two customers. When false it still identifies its customer, but two customers it ties
      together stay apart and it is attached to both (a family phone).
    * ``priority``: higher wins. The event goes to the customer of the highest-priority identity when
      its customers are not merged (merge refused, or tied by non-merging identities).
    * ``max_per_customer``: at most that many identities of this kind per customer, counted per
      provider for handles and external ids (``providers.<name>`` overrides it). A link past it is
      not made; a merge past it is refused.
    * ``max_customers_per_value``: once one value is attached to more than that many customers, it is
      too shared to mean anyone: it stops matching and linking.
    """

    merge: bool = True
    priority: int | None = None
    max_per_customer: int | None = Field(default=None, ge=1)
    max_customers_per_value: int | None = Field(default=None, ge=1)
    blocked: Blocked = Blocked()
    providers: dict[str, ProviderRules] = Field(default_factory=dict)


class IdentityRules(Contract):
    """The whole rule set; every kind is present after validation (missing ones get the defaults)."""

    version: int = Field(default=1, ge=1, le=1)
    blocked: Blocked = Blocked()
    kinds: dict[IdentityKind, KindRules] = Field(default_factory=dict, validate_default=True)

    @field_validator("kinds")
    @classmethod
    def _every_kind_with_a_priority(
        cls, kinds: dict[IdentityKind, KindRules]
    ) -> dict[IdentityKind, KindRules]:
        complete = {kind: kinds.get(kind, KindRules()) for kind in IdentityKind}
        return {
            kind: rules
            if rules.priority is not None
            else rules.model_copy(update={"priority": DEFAULT_PRIORITY[kind]})
            for kind, rules in complete.items()
        }

    def of(self, kind: IdentityKind) -> KindRules:
        return self.kinds[kind]

    def is_blocked(self, identity: Identity) -> bool:
        """A blocked value never links and never matches (global list first, then its kind's)."""
        return self.blocked.blocks(identity.value) or self.of(identity.kind).blocked.blocks(identity.value)

    def may_merge(self, identity: Identity) -> bool:
        return self.of(identity.kind).merge

    def priority(self, kind: IdentityKind) -> int:
        priority = self.of(kind).priority
        assert priority is not None  # settled by the validator
        return priority

    def max_per_customer(self, group: Group) -> int | None:
        """The limit of ``group``; never one for transaction references (an order id per purchase), which
        a customer gains with every order: a limit would refuse buyers, and counting them would make the
        writer read a customer's whole purchase history (``plumbing.identity_index.holdings``)."""
        kind, provider = group
        if kind is IdentityKind.EXTERNAL and provider in TRANSACTION_REFERENCES:
            return None
        rules = self.of(kind)
        override = rules.providers.get(provider) if provider is not None else None
        if override is not None and override.max_per_customer is not None:
            return override.max_per_customer
        return rules.max_per_customer

    def max_customers_per_value(self, kind: IdentityKind) -> int | None:
        return self.of(kind).max_customers_per_value

    @property
    def limits_customers(self) -> bool:
        """Whether any per-customer limit is set, i.e. whether a customer's identities must be read."""
        return any(
            rules.max_per_customer is not None or any(p.max_per_customer for p in rules.providers.values())
            for rules in self.kinds.values()
        )


def group_of(identity: Identity) -> Group:
    """The limit group of an identity: its kind, and its provider for qualified kinds."""
    return identity.kind, identity.provider


def group_of_key(key: str) -> Group:
    """:func:`group_of` from an identity key (``kind:value`` or ``kind:provider:value``).

    Providers are names without ``:`` (``shopify``, ``instagram``), so the second part is the provider.
    """
    kind_text, _, rest = key.partition(":")
    kind = IdentityKind(kind_text)
    if kind in (IdentityKind.HANDLE, IdentityKind.EXTERNAL):
        return kind, rest.partition(":")[0]
    return kind, None


DEFAULT_RULES = IdentityRules()


def parse_identity_rules(text: str) -> IdentityRules:
    """The rules of an ``identity-rules.toml`` text, or :class:`ConfigError`."""
    try:
        return IdentityRules.model_validate(tomllib.loads(text))
    except (tomllib.TOMLDecodeError, ValidationError, re.error) as exc:
        raise ConfigError(f"invalid identity rules: {exc}") from exc


def default_identity_rules_file() -> Path:
    """``deploy/identity-rules.toml`` of the checkout this package runs from."""
    return _CHECKOUT / "deploy" / "identity-rules.toml"


def load_identity_rules(path: Path | None = None) -> IdentityRules:
    """Rules from ``path``, else from the shipped file, else :data:`DEFAULT_RULES` (no file shipped).

    A named file that cannot be read is an error, never a silent fall-back to the defaults.
    """
    if path is None:
        path = default_identity_rules_file()
        if not path.is_file():
            return DEFAULT_RULES
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read identity rules {path}: {exc}") from exc
    return parse_identity_rules(text)
