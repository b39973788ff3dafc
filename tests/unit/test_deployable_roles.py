"""Each deployable gets only its own runtime role's DSN, and configuration that would hand a deployable the
owner's credentials, or none, is refused before anything starts (tests/security/test_db_roles.py proves
what the roles may do)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hub import deployment
from hub.stack import StackSettings
from plumbing.db_roles import OWNER_ONLY, TABLES, Runtime, grant_statements

pytestmark = pytest.mark.unit

DSNS = {runtime: f"postgresql://{runtime.role}:pw@db/hub" for runtime in Runtime}
SHARED = {"HUB_PG_DSN": "postgresql://hub:owner@db/hub", "HUB_KAFKA_BOOTSTRAP": "k:9092"}


def test_every_deployable_but_the_ingress_gets_its_own_roles_dsn_and_no_other() -> None:
    dsns = deployment.deployable_dsns(DSNS)
    for name in deployment.DEPLOYABLES:
        env = deployment.deployable_env(name, SHARED, dsns)
        assert env["HUB_KAFKA_BOOTSTRAP"] == "k:9092"
        given = [value for value in env.values() if value.startswith("postgresql://")]
        if name == "ingress":
            assert given == []
        else:
            assert given == [DSNS[deployment.DATABASE_ROLES[name]]], name


def test_no_deployable_connects_as_the_owner_and_every_runtime_role_has_a_deployable() -> None:
    assert set(deployment.DATABASE_ROLES) == set(deployment.DEPLOYABLES) - {"ingress"}
    assert set(deployment.DATABASE_ROLES.values()) == set(Runtime)
    assert all(runtime.role.startswith("hub_") for runtime in Runtime)


def test_a_missing_runtime_dsn_is_named_before_anything_starts() -> None:
    partial: dict[Runtime, str] = {r: dsn for r, dsn in DSNS.items() if r is not Runtime.API}
    with pytest.raises(ValueError, match=r"hub_api.*HUB_PG_API_DSN"):
        deployment.deployable_dsns(partial)


def test_a_runtime_dsn_that_logs_in_as_another_role_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_PG_DSN", "postgresql://hub:owner@db/hub")
    monkeypatch.setenv("HUB_PG_WRITER_DSN", "postgresql://hub:owner@db/hub")  # the owner's, by mistake
    with pytest.raises(ValidationError, match="HUB_PG_WRITER_DSN must connect as hub_writer"):
        StackSettings()
    monkeypatch.setenv("HUB_PG_WRITER_DSN", DSNS[Runtime.WRITER])
    assert StackSettings().runtime_dsns() == {Runtime.WRITER: DSNS[Runtime.WRITER]}


def test_grants_revoke_everything_first_and_never_give_events_more_than_insert_and_select() -> None:
    statements = [statement.as_string(None) for statement in grant_statements("hub", "public", TABLES)]
    assert not TABLES.keys() & OWNER_ONLY
    revokes = [n for n, text in enumerate(statements) if text.startswith("REVOKE")]
    table_grants = [n for n, text in enumerate(statements) if text.startswith("GRANT") and "ON TABLE" in text]
    assert len(table_grants) == sum(len(roles) for roles in TABLES.values())
    assert max(revokes) < min(table_grants)
    on_events = [text for text in statements if '"public"."events"' in text]
    assert on_events and all(
        text.startswith("GRANT INSERT, SELECT ON") or "GRANT SELECT ON" in text for text in on_events
    )
    assert not any("GRANT OPTION" in text or "TRUNCATE" in text for text in statements)
