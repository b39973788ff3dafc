"""The identity rules file: parsing, defaults, blocked values (global and per kind, exact and regex)."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts import Identity, IdentityKind, normalise_identity
from contracts.identity_rules import (
    DEFAULT_PRIORITY,
    DEFAULT_RULES,
    ConfigError,
    default_identity_rules_file,
    group_of,
    group_of_key,
    load_identity_rules,
    parse_identity_rules,
)

pytestmark = pytest.mark.unit

SHIPPED = load_identity_rules(default_identity_rules_file())


def _identity(kind: IdentityKind, value: str, provider: str | None = None) -> Identity:
    return normalise_identity(kind, value, provider=provider)


BLOCKED_BY_SHIPPED_RULES = [
    pytest.param(IdentityKind.HANDLE, "null", "telegram", id="handle-null"),
    pytest.param(IdentityKind.HANDLE, "NULL", "telegram", id="handle-NULL-any-case"),
    pytest.param(IdentityKind.HANDLE, "none", "vk", id="handle-none"),
    pytest.param(IdentityKind.LOYALTY, "unknown", None, id="loyalty-unknown"),
    pytest.param(IdentityKind.LOYALTY, "N/A", None, id="loyalty-n/a"),
    pytest.param(IdentityKind.LOYALTY, "na", None, id="loyalty-na"),
    pytest.param(IdentityKind.LOYALTY, "-", None, id="loyalty-dash"),
    pytest.param(IdentityKind.LOYALTY, "undefined", None, id="loyalty-undefined"),
    pytest.param(IdentityKind.LOYALTY, "0000", None, id="loyalty-all-zeros"),
    pytest.param(IdentityKind.LOYALTY, "0", None, id="loyalty-zero"),
    pytest.param(IdentityKind.LOYALTY, "...", None, id="loyalty-punctuation-only"),
    pytest.param(IdentityKind.EXTERNAL, "000000", "crm", id="external-all-zeros"),
    pytest.param(IdentityKind.EXTERNAL, "test", "crm", id="external-test"),
    pytest.param(IdentityKind.HANDLE, "anonymous", "widget", id="handle-anonymous"),
    pytest.param(IdentityKind.PHONE, "0000000000", None, id="phone-zeros-in-default-region"),
    pytest.param(IdentityKind.PHONE, "+1 000 000 0000", None, id="phone-zeros-with-country-code"),
    pytest.param(IdentityKind.PHONE, "+44 0000000000", None, id="phone-zeros-other-country"),
    pytest.param(IdentityKind.PHONE, "+1 555 555 5555", None, id="phone-one-digit-repeated"),
    pytest.param(IdentityKind.EMAIL, "test@example.com", None, id="email-test-example"),
    pytest.param(IdentityKind.EMAIL, "Test@Example.com", None, id="email-test-example-any-case"),
    pytest.param(IdentityKind.EMAIL, "test@test.com", None, id="email-test-test"),
    pytest.param(IdentityKind.EMAIL, "email@example.com", None, id="email-email-example"),
    pytest.param(IdentityKind.EMAIL, "null@null.com", None, id="email-null-null"),
    pytest.param(IdentityKind.EMAIL, "noreply@shop.example", None, id="email-noreply"),
    pytest.param(IdentityKind.EMAIL, "no-reply@bank.example", None, id="email-no-reply"),
    pytest.param(IdentityKind.EMAIL, "donotreply@x.example", None, id="email-donotreply"),
    pytest.param(IdentityKind.EMAIL, "mailer-daemon@mx.example", None, id="email-mailer-daemon"),
    pytest.param(IdentityKind.EMAIL, "unknown@pos.example", None, id="email-unknown-at"),
    pytest.param(IdentityKind.EMAIL, "none@pos.example", None, id="email-none-at"),
    pytest.param(IdentityKind.EMAIL, "anyone@mailinator.com", None, id="email-public-inbox"),
]

NOT_BLOCKED = [
    pytest.param(IdentityKind.EMAIL, "ada@example.com", None, id="email"),
    pytest.param(IdentityKind.EMAIL, "reply@shop.example", None, id="email-reply-is-not-noreply"),
    pytest.param(IdentityKind.EMAIL, "nullable@shop.example", None, id="email-starting-with-null"),
    pytest.param(IdentityKind.PHONE, "+14155550000", None, id="phone-ending-in-zeros"),
    pytest.param(IdentityKind.PHONE, "+442071838750", None, id="phone-uk"),
    pytest.param(IdentityKind.LOYALTY, "card-0001", None, id="loyalty-with-zeros"),
    pytest.param(IdentityKind.LOYALTY, "1000", None, id="loyalty-ten-hundreds"),
    pytest.param(IdentityKind.HANDLE, "nullptr", "telegram", id="handle-containing-null"),
    pytest.param(IdentityKind.EXTERNAL, "4711", "shopify", id="external"),
]


@pytest.mark.parametrize(("kind", "value", "provider"), BLOCKED_BY_SHIPPED_RULES)
def test_the_shipped_rules_block_placeholder_and_shared_values(
    kind: IdentityKind, value: str, provider: str | None
) -> None:
    identity = _identity(kind, value, provider)
    assert SHIPPED.is_blocked(identity)
    assert not DEFAULT_RULES.is_blocked(identity), "without a rules file nothing is blocked"


@pytest.mark.parametrize(("kind", "value", "provider"), NOT_BLOCKED)
def test_the_shipped_rules_leave_real_looking_values_alone(
    kind: IdentityKind, value: str, provider: str | None
) -> None:
    assert not SHIPPED.is_blocked(_identity(kind, value, provider))


def test_a_value_blocked_for_one_kind_is_not_blocked_for_another() -> None:
    rules = parse_identity_rules('[kinds.loyalty]\nblocked.values = ["card-1"]\n')
    assert rules.is_blocked(_identity(IdentityKind.LOYALTY, "card-1"))
    assert not rules.is_blocked(_identity(IdentityKind.HANDLE, "card-1", "widget"))


def test_a_global_blocked_value_applies_to_every_kind() -> None:
    rules = parse_identity_rules('[blocked]\nvalues = ["Shared-Till"]\n')
    assert rules.is_blocked(_identity(IdentityKind.LOYALTY, "shared-till"))
    assert rules.is_blocked(_identity(IdentityKind.HANDLE, "SHARED-TILL", "widget"))


def test_a_pattern_must_match_the_whole_value() -> None:
    rules = parse_identity_rules("[kinds.loyalty]\nblocked.patterns = ['demo-\\d+']\n")
    assert rules.is_blocked(_identity(IdentityKind.LOYALTY, "demo-42"))
    assert not rules.is_blocked(_identity(IdentityKind.LOYALTY, "card-demo-42"))
    assert not rules.is_blocked(_identity(IdentityKind.LOYALTY, "demo-42x"))


def test_without_a_file_every_kind_merges_and_nothing_is_limited() -> None:
    for kind in IdentityKind:
        rules = DEFAULT_RULES.of(kind)
        assert rules.merge
        assert rules.priority == DEFAULT_PRIORITY[kind]
        assert rules.max_per_customer is None
        assert rules.max_customers_per_value is None
    assert not DEFAULT_RULES.limits_customers


def test_kinds_missing_from_the_file_get_the_defaults_and_priority_can_be_overridden() -> None:
    rules = parse_identity_rules("[kinds.phone]\nmerge = false\npriority = 99\n")
    assert not rules.of(IdentityKind.PHONE).merge
    assert rules.priority(IdentityKind.PHONE) == 99
    assert rules.of(IdentityKind.EMAIL).merge
    assert rules.priority(IdentityKind.EMAIL) == DEFAULT_PRIORITY[IdentityKind.EMAIL]


def test_a_provider_override_limits_one_provider_of_a_kind_only() -> None:
    rules = parse_identity_rules("[kinds.external.providers.shopify]\nmax_per_customer = 1\n")
    assert rules.max_per_customer((IdentityKind.EXTERNAL, "shopify")) == 1
    assert rules.max_per_customer((IdentityKind.EXTERNAL, "shopify_order")) is None
    assert rules.limits_customers


def test_limit_groups_count_handles_and_external_ids_per_provider() -> None:
    order = _identity(IdentityKind.EXTERNAL, "4711", "shopify_order")
    email = _identity(IdentityKind.EMAIL, "ada@example.com")
    assert group_of(order) == group_of_key(order.key) == (IdentityKind.EXTERNAL, "shopify_order")
    assert group_of(email) == group_of_key(email.key) == (IdentityKind.EMAIL, None)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("[kinds.fax]\nmerge = true\n", id="unknown-kind"),
        pytest.param("[kinds.phone]\nmerge = 'sometimes'\n", id="not-a-boolean"),
        pytest.param("[kinds.phone]\nmax_customers_per_value = 0\n", id="limit-below-one"),
        pytest.param("[blocked]\npatterns = ['(']\n", id="bad-regex"),
        pytest.param("[kinds.phone]\nmerg = false\n", id="typo-in-a-field"),
        pytest.param("version = 2\n", id="unknown-version"),
        pytest.param("[kinds.phone\n", id="not-toml"),
    ],
)
def test_a_bad_rules_file_is_refused_with_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_identity_rules(text)


def test_a_named_rules_file_that_is_missing_is_an_error_not_the_defaults(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_identity_rules(tmp_path / "missing.toml")


def test_a_named_rules_file_is_loaded(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text("[kinds.phone]\nmerge = false\n", encoding="utf-8")
    assert not load_identity_rules(path).of(IdentityKind.PHONE).merge
