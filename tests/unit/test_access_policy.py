"""The access policy: the shipped file, how roles combine, and what a bad file is refused for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from contracts.read.card_parts import Profile
from contracts.read.customer_card import CustomerCard
from contracts.read.kinds import PersonalKind
from plumbing.access.kinds import kinds_of_field
from plumbing.access.policy import (
    Permission,
    Policy,
    PolicyError,
    RowResource,
    ScopeKind,
    default_policy_file,
    load_policy,
)

pytestmark = pytest.mark.unit

P = Permission
CARD_FIELDS = set(CustomerCard.model_fields) | set(CustomerCard.model_computed_fields)


def _policy(**roles: dict[str, Any]) -> Policy:
    return Policy.model_validate(
        {
            "version": 1,
            "rate_limit": "10/minute",
            "views": {"customer_card": {"payment_fields": ["purchase_totals", "recent_purchases"]}},
            "roles": roles,
        }
    )


def _visible_card_fields(policy: Policy, role: str) -> set[str]:
    """Top-level card fields neither hidden by path nor of a kind the role masks."""
    grant = policy.grant([role], P.READ_CARD)
    assert grant is not None
    masked = {name for name in CARD_FIELDS if kinds_of_field(CustomerCard, name) & grant.masked}
    return CARD_FIELDS - grant.hidden["customer_card"] - masked


def test_the_shipped_policy_has_every_role_the_issue_names_and_only_real_card_fields() -> None:
    policy = load_policy(default_policy_file())

    policy.check_view("customer_card", CustomerCard)
    assert {
        "support_agent",
        "sales_rep",
        "sales_manager",
        "marketing_analyst",
        "auditor",
        "admin",
        "service_account",
    } <= set(policy.roles)


def test_what_each_role_sees_of_a_card_is_pinned_so_a_new_card_field_needs_a_decision() -> None:
    """Fails when the card gains a field (say, a birthday): decide who may see it, then update here."""
    policy = load_policy(default_policy_file())
    payments = {
        "purchase_totals",
        "recent_purchases",
        "refund_totals",
        "lifetime_value",
        "average_order",
        "payment_methods",
        "recent_refunds",
    }
    analyst_sees = {
        "refund_count",
        "refund_totals",
        "lifetime_value",
        "customer_id",
        "merged_into",
        "merged_from",
        "created_at",
        "updated_at",
        "channels",
        "interaction_count",
        "last_interaction_at",
        "purchase_count",
        "purchase_totals",
        "last_position",
        "merge_history",
        "purchase_counts",
        "first_purchase_at",
        "last_purchase_at",
        "average_order",
        "payment_methods",
        "recent_refunds",
        "profile",  # without name, birthday and children (checked below)
        "document_count",
    }

    assert _visible_card_fields(policy, "marketing_analyst") == analyst_sees
    assert _visible_card_fields(policy, "support_agent") == CARD_FIELDS - payments
    assert _visible_card_fields(policy, "service_account") == CARD_FIELDS - payments
    for role in ("sales_rep", "sales_manager", "admin"):
        assert _visible_card_fields(policy, role) == CARD_FIELDS
    assert CARD_FIELDS == analyst_sees | {
        "display_name",
        "identities",
        "emails",
        "phones",
        "recent_interactions",
        "recent_purchases",
        "attribute_history",
        "documents",
    }
    analyst = policy.grant(["marketing_analyst"], P.READ_CARD)
    assert analyst is not None
    assert {PersonalKind.CONTACTS, PersonalKind.NAMES} <= analyst.masked
    assert all(kinds_of_field(Profile, name) & analyst.masked for name in ("name", "birthday", "children"))
    assert not any(kinds_of_field(Profile, name) & analyst.masked for name in ("preferences", "car"))


def test_only_the_marketing_analyst_masks_kinds_and_it_masks_every_one() -> None:
    policy = load_policy(default_policy_file())

    masked = {name: role.mask for name, role in policy.roles.items() if role.mask}

    assert masked == {"marketing_analyst": frozenset(PersonalKind)}


def test_masked_kinds_of_two_roles_add_up_and_an_unknown_kind_is_refused() -> None:
    policy = _policy(
        a={"permissions": ["read_card"], "rows": {"customers": "all"}, "mask": ["contacts"]},
        b={"permissions": ["read_card"], "rows": {"customers": "all"}, "mask": ["names"]},
    )

    both = policy.grant(["a", "b"], P.READ_CARD)

    assert both is not None and both.masked == {PersonalKind.CONTACTS, PersonalKind.NAMES}
    with pytest.raises(ValueError, match="mask"):
        _policy(c={"permissions": ["read_card"], "rows": {"customers": "all"}, "mask": ["emails"]})


def test_rows_of_the_shipped_roles() -> None:
    policy = load_policy(default_policy_file())

    def rows(role: str, permission: Permission = P.READ_CARD) -> dict[RowResource, ScopeKind]:
        grant = policy.grant([role], permission)
        assert grant is not None
        return dict(grant.rows)

    assert rows("support_agent")[RowResource.CUSTOMERS] is ScopeKind.CHANNELS
    assert rows("sales_rep")[RowResource.DEALS] is ScopeKind.OWN_AND_TEAM
    assert rows("sales_manager")[RowResource.DEALS] is ScopeKind.ALL
    assert policy.grant(["auditor"], P.READ_CARD) is None
    assert policy.grant(["auditor"], P.AUDIT) is not None


def test_payment_fields_are_hidden_without_read_payments_even_when_a_key_scope_removes_it() -> None:
    policy = _policy(seller={"permissions": ["read_card", "read_payments"], "rows": {"customers": "all"}})

    full = policy.grant(["seller"], P.READ_CARD)
    narrowed = policy.grant(["seller"], P.READ_CARD, scopes=frozenset({P.READ_CARD}))

    assert full is not None and full.hidden["customer_card"] == frozenset()
    assert narrowed is not None
    assert narrowed.hidden["customer_card"] == {"purchase_totals", "recent_purchases"}


def test_a_key_scope_outside_the_roles_grants_nothing() -> None:
    policy = _policy(agent={"permissions": ["read_card"], "rows": {"customers": "all"}})

    assert policy.grant(["agent"], P.ADMIN, scopes=frozenset({P.ADMIN})) is None
    assert policy.grant(["agent"], P.READ_CARD, scopes=frozenset({P.ADMIN})) is None


def test_two_roles_never_give_more_than_the_widest_of_them_alone() -> None:
    policy = _policy(
        analyst={
            "permissions": ["read_card", "read_payments"],
            "rows": {"customers": "all"},
            "hide": {"customer_card": ["display_name", "emails"]},
        },
        agent={"permissions": ["read_card", "read_timeline"], "rows": {"customers": "channels"}},
    )

    card = policy.grant(["analyst", "agent"], P.READ_CARD)
    timeline = policy.grant(["analyst", "agent"], P.READ_TIMELINE)

    assert card is not None and card.rows[RowResource.CUSTOMERS] is ScopeKind.ALL
    # every row: so the analyst's mask and the agent's lack of payments both hold
    assert card.hidden["customer_card"] == {"display_name", "emails", "purchase_totals", "recent_purchases"}
    # only the agent reads timelines, so only its channels count there
    assert timeline is not None and timeline.rows[RowResource.CUSTOMERS] is ScopeKind.CHANNELS


def test_unknown_roles_grant_nothing() -> None:
    policy = _policy(agent={"permissions": ["read_card"], "rows": {"customers": "all"}})

    assert policy.grant(["root", "superuser"], P.READ_CARD) is None
    assert policy.unknown_roles(["agent", "root"]) == ["root"]


def test_the_most_generous_rate_limit_of_a_principals_roles_applies() -> None:
    policy = _policy(
        slow={"permissions": ["audit"], "rate_limit": "10/second"},
        fast={"permissions": ["audit"], "rate_limit": "1200/minute"},
        plain={"permissions": ["audit"]},
    )

    assert policy.rate_limit_for(["slow", "fast"]).amount == 1200
    assert policy.rate_limit_for(["plain"]).amount == 10
    assert policy.rate_limit_for([]).amount == 10


@pytest.mark.parametrize(
    ("role", "complaint"),
    [
        ({"permissions": ["read_card"]}, "must say which"),
        ({"permissions": ["read_card"], "rows": {"customers": "own_and_team"}}, "not a scope of customers"),
        ({"permissions": ["audit"], "rows": {"deals": "channels"}}, "not a scope of deals"),
        ({"permissions": ["read_everything"]}, "permissions"),
        ({"permissions": ["audit"], "rate_limit": "lots"}, "rate limit"),
        ({"permissions": ["audit"], "hide": {"invoices": ["total"]}}, "unknown views"),
        ({"permissions": ["audit"], "colour": "red"}, "colour"),
    ],
)
def test_an_inconsistent_role_is_refused(role: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        _policy(broken=role)


def test_a_misspelt_field_path_is_refused_instead_of_hiding_nothing() -> None:
    policy = _policy(
        analyst={
            "permissions": ["read_card"],
            "rows": {"customers": "all"},
            "hide": {"customer_card": ["email_adresses"]},
        }
    )

    with pytest.raises(PolicyError, match="email_adresses"):
        policy.check_view("customer_card", CustomerCard)


def test_the_policy_file_comes_from_hub_access_policy_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "policy.toml"
    path.write_text('version = 1\nrate_limit = "5/second"\n[roles.only]\npermissions = ["audit"]\n')
    monkeypatch.setenv("HUB_ACCESS_POLICY_FILE", str(path))

    assert set(load_policy().roles) == {"only"}


def test_a_broken_policy_file_stops_the_start(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text("version = [")

    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(path)
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "missing.toml")
